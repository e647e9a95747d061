"""Linked time-series figures shared by the portfolio and walk-forward reports: rows on one
categorical x axis (one category per drawn point, so nights and weekends take no room), lines
downsampled to each bucket's last value and drawdowns to each bucket's deepest one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from algotrader.plotting.charts import SYNTHETIC_NOTE
from algotrader.reports.downsample import Buckets

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#17becf", "#bcbd22", "#8c564b")
DOWN = "#ef5350"


def timeline(heights: list[int], buckets: Buckets, title: str, *,
             synthetic: bool = False) -> go.Figure:
    """Empty linked rows of ``heights`` pixels, styled like the backtest report's chart."""
    fig = make_subplots(rows=len(heights), cols=1, shared_xaxes=True, vertical_spacing=0.02,
                        row_heights=[h / sum(heights) for h in heights])
    style_timeline(fig, title, buckets, sum(heights), len(heights), synthetic)
    return fig


def style_timeline(fig: go.Figure, title: str, buckets: Buckets, height: int, rows: int,
                   synthetic: bool, unit: str = "point") -> None:
    """Layout, the shared categorical x axis and the synthetic-data watermark."""
    note = f" (1 {unit} = {buckets.size} bars)" if buckets.size > 1 else ""
    fig.update_layout(
        title={"text": title + note, "x": 0.01, "font": {"size": 16}},
        height=height + 90, template="plotly_white", hovermode="closest", dragmode="zoom",
        margin={"l": 70, "r": 20, "t": 80, "b": 40},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0.0, "font": {"size": 11}},
        uirevision="report",
    )
    fig.update_xaxes(
        type="category", categoryorder="array", categoryarray=buckets.labels, nticks=10,
        showspikes=True, spikemode="across", spikethickness=1, spikecolor="#999",
        rangeslider_visible=False, showgrid=True, gridcolor="#eee",
    )
    fig.update_xaxes(title_text="UTC", row=rows, col=1)
    if synthetic:
        fig.add_annotation(
            text=SYNTHETIC_NOTE, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
            textangle=-20, font={"size": 44, "color": "rgba(128,128,128,0.18)"},
        )


def line(buckets: Buckets, values: pd.Series | np.ndarray, name: str, color: str, *,
         width: float = 1.3, fmt: str = ",.4g", **extra: Any) -> go.Scatter:
    """A line of each bucket's last value."""
    return go.Scatter(
        x=buckets.labels, y=buckets.last(np.asarray(values, np.float64)), name=name,
        mode="lines", line={"color": color, "width": width},
        hovertemplate=f"{name}: %{{y:{fmt}}}<extra></extra>", **extra,
    )


def drawdown_trace(buckets: Buckets, equity: pd.Series) -> go.Scatter:
    """Drawdown in percent, each bucket's deepest value (no trough disappears)."""
    values = equity.to_numpy(np.float64)
    deepest = buckets.low(values / np.maximum.accumulate(values) - 1.0) * 100
    return go.Scatter(x=buckets.labels, y=deepest, name="drawdown", mode="lines",
                      fill="tozeroy", line={"color": DOWN, "width": 1},
                      fillcolor="rgba(239,83,80,0.3)", showlegend=False,
                      hovertemplate="drawdown: %{y:.2f}%<extra></extra>")


def shade(fig: go.Figure, buckets: Buckets, start: pd.Timestamp, end: pd.Timestamp, *,
          color: str, label: str = "", opacity: float = 0.10) -> None:
    """Shade the bars from ``start`` up to ``end`` (exclusive) on every row, labelled on top."""
    index = buckets.index
    first = int(index.searchsorted(pd.Timestamp(start)))
    last = int(index.searchsorted(pd.Timestamp(end))) - 1
    if last < first:
        return
    lo, hi = first // buckets.size, last // buckets.size
    fig.add_vrect(x0=lo - 0.5, x1=hi + 0.5, fillcolor=color, opacity=opacity, line_width=0,
                  layer="below")
    if label:
        fig.add_annotation(x=lo - 0.5, y=1.0, xref="x", yref="paper", text=label,
                           showarrow=False, xanchor="left", yanchor="top",
                           font={"size": 10, "color": "#444"}, align="left")
