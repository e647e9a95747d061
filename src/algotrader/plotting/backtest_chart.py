"""Backtest charts (PNG): the price with what the strategy trades on (its :class:`PlotSpec`) and
the fills, one panel per oscillator; the full version adds the strategy equity against buy and
hold, the drawdown and a table of metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from algotrader.plotting.charts import SYNTHETIC_NOTE, TimeAxis, is_intraday, mark_synthetic
from algotrader.plotting.spec import (
    Band,
    Histogram,
    Line,
    Panel,
    PlotSpec,
    Trend,
    plot_spec_for,
    prepared,
    resolve_strategy,
)

if TYPE_CHECKING:
    from algotrader.backtest.result import Result

_TABLE_ROWS = (
    ("Total return", "total_return", "pct"),
    ("Buy & hold", "buy_hold_return", "pct"),
    ("Alpha", "alpha", "pct"),
    ("CAGR", "cagr", "pct"),
    ("Sharpe", "sharpe", "num"),
    ("Sortino", "sortino", "num"),
    ("Max drawdown", "max_drawdown", "pct"),
    ("Calmar", "calmar", "num"),
    ("Trades", "num_trades", "int"),
    ("Win rate", "win_rate", "pct"),
    ("Profit factor", "profit_factor", "num"),
    ("Exposure", "exposure", "pct"),
)
_PALETTE = ("#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f")
_UP, _DOWN = "#2ca02c", "#d62728"


def _fmt(value: float, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "pct":
        return f"{value * 100:.2f}%"
    if kind == "int":
        return f"{int(value)}"
    return f"{value:.2f}"


def _draw_item(ax: Axes, x: np.ndarray, frame: pd.DataFrame, item: Any, color: str) -> None:
    if isinstance(item, Line):
        ax.plot(
            x, frame[item.column].to_numpy(np.float64), color=item.color or color,
            linewidth=0.9, linestyle="--" if item.dash else "-", label=item.name,
        )
    elif isinstance(item, Band):
        upper = frame[item.upper].to_numpy(np.float64)
        lower = frame[item.lower].to_numpy(np.float64)
        shade = item.color or "#7f7f7f"
        ax.fill_between(x, lower, upper, color=shade, alpha=0.12, linewidth=0, label=item.name)
        ax.plot(x, upper, color=shade, linewidth=0.6, alpha=0.7)
        ax.plot(x, lower, color=shade, linewidth=0.6, alpha=0.7)
    elif isinstance(item, Trend):
        values = frame[item.column].to_numpy(np.float64)
        direction = frame[item.direction].to_numpy(np.float64)
        ax.plot(x, np.where(direction > 0, values, np.nan), color=_UP, linewidth=1.0,
                label=f"{item.name} up")
        ax.plot(x, np.where(direction < 0, values, np.nan), color=_DOWN, linewidth=1.0,
                label=f"{item.name} down")
    elif isinstance(item, Histogram):
        values = np.nan_to_num(item.values(frame), nan=0.0)
        ax.fill_between(x, 0, values, where=values >= 0, color=_UP, alpha=0.35, linewidth=0,
                        step="mid", label=item.name)
        ax.fill_between(x, 0, values, where=values < 0, color=_DOWN, alpha=0.35, linewidth=0,
                        step="mid")


def _price_panel(
    ax: Axes, axis: TimeAxis, frame: pd.DataFrame, result: Result, spec: PlotSpec
) -> None:
    x = axis.x()
    ax.plot(x, frame["close"].to_numpy(np.float64), color="#1f3b73", linewidth=1.1, label="close")
    for k, item in enumerate(spec.price):
        _draw_item(ax, x, frame, item, _PALETTE[k % len(_PALETTE)])
    fills = result.fills
    if len(fills):
        fx = axis.x(pd.DatetimeIndex(fills["ts"]))
        price = fills["price"].to_numpy(np.float64)
        for action, marker, color in (("BUY", "^", _UP), ("SELL", "v", _DOWN)):
            rows = (fills["action"] == action).to_numpy()
            ax.scatter(
                fx[rows], price[rows], marker=marker, s=70, color=color, edgecolor="black",
                linewidth=0.5, zorder=5, label=action.lower(),
            )
    ax.set_ylabel("price")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncol=6)
    axis.style(ax)


def _indicator_panel(ax: Axes, axis: TimeAxis, frame: pd.DataFrame, panel: Panel) -> None:
    x = axis.x()
    for k, item in enumerate(panel.items):
        _draw_item(ax, x, frame, item, _PALETTE[k % len(_PALETTE)])
    for level in panel.levels:
        ax.axhline(level, color="grey", linewidth=0.7, linestyle="--")
    if panel.range is not None:
        ax.set_ylim(*panel.range)
    ax.set_ylabel(panel.title, fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, ncol=4)
    axis.style(ax, separators=False)


def _equity_panels(eq_ax: Axes, dd_ax: Axes, axis: TimeAxis, result: Result) -> None:
    x = axis.x(pd.DatetimeIndex(result.equity.index))
    eq_ax.plot(x, result.equity.to_numpy(), color="#1f77b4", linewidth=1.2, label="strategy")
    eq_ax.plot(x, result.buy_hold.to_numpy(), color="#7f7f7f", linewidth=1.0, label="buy & hold")
    eq_ax.set_ylabel("equity")
    eq_ax.grid(alpha=0.3)
    eq_ax.legend(loc="upper left", fontsize=8)
    axis.style(eq_ax, separators=False)
    values = result.equity.to_numpy(dtype=np.float64)
    drawdown = values / np.maximum.accumulate(values) - 1.0
    dd_ax.fill_between(x, drawdown * 100, 0, color=_DOWN, alpha=0.35, linewidth=0)
    dd_ax.set_ylabel("drawdown %")
    dd_ax.grid(alpha=0.3)
    axis.style(dd_ax, separators=False)


def _metrics_table(ax: Axes, result: Result) -> None:
    ax.axis("off")
    rows = [[label, _fmt(result.metrics.get(key, math.nan), kind)] for label, key, kind in
            _TABLE_ROWS]
    table = ax.table(
        cellText=rows, colLabels=["metric", "value"], loc="upper center", colWidths=[0.62, 0.38]
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.5)


def _title(symbol: str, result: Result, synthetic: bool) -> str:
    title = f"{symbol} @ {result.resolution}: {result.strategy}"
    if result.params:
        title += " (" + ", ".join(f"{k}={v}" for k, v in result.params.items()) + ")"
    if synthetic:
        title += f"  [{SYNTHETIC_NOTE}]"
    return title


def backtest_png_figure(
    frame: pd.DataFrame,
    result: Result,
    symbol: str,
    *,
    full: bool = False,
    synthetic: bool = False,
    strategy: object | None = None,
) -> Figure:
    """The matplotlib figure :func:`backtest_chart` saves (see there)."""
    instance = resolve_strategy(strategy, result.strategy, result.params)
    bars = prepared(instance, frame)
    spec = plot_spec_for(instance, bars)
    index = pd.DatetimeIndex(bars.index)
    axis = TimeAxis(index, is_intraday(index, result.resolution))
    panels = spec.panels
    heights = [2.2 if full else 3.0, *([0.8] * len(panels))] + ([1.6, 1.0] if full else [])
    fig = Figure(
        figsize=(14 if full else 13, 4.5 + 1.6 * len(panels) + (4.5 if full else 2.0)), dpi=110,
        layout="constrained",
    )
    grid = fig.add_gridspec(
        len(heights), 2 if full else 1, height_ratios=heights,
        **({"width_ratios": (4.2, 1)} if full else {}),
    )
    price_ax = fig.add_subplot(grid[0, 0])
    _price_panel(price_ax, axis, bars, result, spec)
    for k, panel in enumerate(panels, start=1):
        _indicator_panel(fig.add_subplot(grid[k, 0], sharex=price_ax), axis, bars, panel)
    if full:
        equity_ax = fig.add_subplot(grid[len(heights) - 2, 0], sharex=price_ax)
        dd_ax = fig.add_subplot(grid[len(heights) - 1, 0], sharex=price_ax)
        _equity_panels(equity_ax, dd_ax, axis, result)
        _metrics_table(fig.add_subplot(grid[:, 1]), result)
    axes = [ax for ax in fig.axes if ax.get_shared_x_axes().joined(ax, price_ax)]
    for ax in axes[:-1]:  # shared x: dates only under the bottom panel
        ax.tick_params(labelbottom=False)
        ax.set_xlabel("")
    fig.suptitle(_title(symbol, result, synthetic), fontsize=12)
    if synthetic:
        mark_synthetic(fig)
    return fig


def backtest_chart(
    frame: pd.DataFrame,
    result: Result,
    symbol: str,
    path: Path,
    *,
    full: bool = False,
    synthetic: bool = False,
    strategy: object | None = None,
) -> Path:
    """Draw the backtest of ``result`` over ``frame`` to ``path`` (PNG) and return the path.

    The price panel shows what the strategy trades on and its fills; oscillators get panels of
    their own. ``strategy`` (an instance, name or class) decides those lines and panels (see
    :mod:`algotrader.plotting.spec`); by default the strategy named in ``result`` with its
    parameters. Intraday bars are drawn against their bar number (no gaps at nights and
    weekends). ``full`` adds equity vs buy & hold, drawdown and a metrics table.
    """
    fig = backtest_png_figure(frame, result, symbol, full=full, synthetic=synthetic,
                          strategy=strategy)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
