"""The Plotly figures of a backtest report.

The main figure stacks price (candles, the strategy's lines, trade entries and exits), volume,
the strategy's panels, equity against buy & hold (and a benchmark), drawdown and rolling Sharpe
on one shared x axis, so pan and zoom move every panel together. The x axis is categorical (one
category per drawn candle), so nights, weekends and holidays take no room.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from algotrader.plotting.spec import Band, Histogram, Line, Panel, PlotSpec, Trend
from algotrader.reports._timeline import style_timeline
from algotrader.reports.downsample import MAX_POINTS, Buckets, buckets_for

if TYPE_CHECKING:
    from algotrader.backtest.result import Result

UP, DOWN, NEUTRAL = "#26a69a", "#ef5350", "#7f7f7f"
PALETTE = ("#f28e2b", "#b07aa1", "#17becf", "#59a14f", "#edc948", "#ff9da7", "#9c755f")
MAX_TRADE_MARKERS = 1_500
"""Above this many trades, markers are merged per drawn candle (hover gives counts and P&L) and
start hidden (click "entries" / "exits" in the legend): they would cover every candle."""

_ROW_PX = {"price": 380, "volume": 90, "panel": 150, "equity": 260, "drawdown": 140, "sharpe": 140}


@dataclass(frozen=True)
class ChartInput:
    """What the main figure draws.

    ``bars`` is the frame the backtest ran on, prepared by the strategy (None: no price rows);
    ``benchmark`` an equity curve on the result's index (a benchmark bought with the same cash).
    """

    result: Result
    bars: pd.DataFrame | None
    spec: PlotSpec
    title: str
    benchmark: pd.Series | None = None
    benchmark_name: str = ""
    synthetic: bool = False


def rolling_sharpe(equity: pd.Series, periods_per_year: float, risk_free_rate: float) -> tuple[
    pd.Series, int
]:
    """Annualised Sharpe over a trailing window of about half a year of bars (and its length)."""
    n = len(equity)
    window = max(10, min(round(periods_per_year / 2), max(n // 3, 10)))
    returns = equity.pct_change()
    rf = (1.0 + risk_free_rate) ** (1.0 / periods_per_year) - 1.0 if periods_per_year > 0 else 0.0
    roll = returns.rolling(window, min_periods=window)
    sharpe = (roll.mean() - rf) / roll.std() * math.sqrt(max(periods_per_year, 0.0))
    return sharpe.replace([np.inf, -np.inf], np.nan), window


def drawdown(equity: np.ndarray) -> np.ndarray:
    """equity / running peak - 1 at every bar."""
    values = np.asarray(equity, np.float64)
    return values / np.maximum.accumulate(values) - 1.0


def _rows(data: ChartInput) -> list[tuple[str, Panel | None]]:
    rows: list[tuple[str, Panel | None]] = []
    if data.bars is not None:
        rows += [("price", None)]
        if "volume" in data.bars.columns:
            rows += [("volume", None)]
        rows += [("panel", panel) for panel in data.spec.panels]
    return [*rows, ("equity", None), ("drawdown", None), ("sharpe", None)]


def backtest_figure(data: ChartInput, max_points: int = MAX_POINTS) -> go.Figure:
    """The main, linked figure of one backtest (see the module docs)."""
    rows = _rows(data)
    heights = [_ROW_PX[kind] for kind, _ in rows]
    fig = make_subplots(
        rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.012,
        row_heights=[h / sum(heights) for h in heights],
    )
    buckets = buckets_for(pd.DatetimeIndex(data.result.equity.index), max_points)
    for row, (kind, panel) in enumerate(rows, start=1):
        if kind == "price":
            _price_row(fig, row, data, buckets)
        elif kind == "volume":
            _volume_row(fig, row, data, buckets)
        elif kind == "panel" and panel is not None:
            _panel_row(fig, row, data, panel, buckets)
        elif kind == "equity":
            _equity_row(fig, row, data, buckets)
        elif kind == "drawdown":
            _drawdown_row(fig, row, data, buckets)
        else:
            _sharpe_row(fig, row, data, buckets)
    _layout(fig, data, buckets, sum(heights), len(rows))
    return fig


def _layout(fig: go.Figure, data: ChartInput, buckets: Buckets, height: int, rows: int) -> None:
    style_timeline(fig, data.title, buckets, height, rows, data.synthetic, unit="candle")


def _two_colours(up: np.ndarray) -> dict[str, Any]:
    """Marker colours UP where ``up`` else DOWN, as numbers on a two-colour scale (Plotly checks
    a list of colour strings item by item, which costs more than the whole chart)."""
    return {"color": up.astype(np.float64), "colorscale": [[0.0, DOWN], [1.0, UP]], "cmin": 0.0,
            "cmax": 1.0, "line_width": 0}


def _line(x: np.ndarray, y: np.ndarray, name: str, color: str, **extra: Any) -> go.Scatter:
    return go.Scatter(
        x=x, y=y, name=name, mode="lines", line={"color": color, "width": 1.3},
        hovertemplate=f"{name}: %{{y:,.4g}}<extra></extra>", **extra,
    )


def _item_traces(item: Any, bars: pd.DataFrame, buckets: Buckets, color: str) -> list[Any]:
    x = buckets.labels
    if isinstance(item, Line):
        dash = {"dash": "dash"} if item.dash else {}
        trace = _line(x, buckets.last(bars[item.column].to_numpy(np.float64)), item.name,
                      item.color or color)
        trace.line.update(dash)
        return [trace]
    if isinstance(item, Band):
        shade = item.color or "#8c8c8c"
        upper = buckets.last(bars[item.upper].to_numpy(np.float64))
        lower = buckets.last(bars[item.lower].to_numpy(np.float64))
        style = {"color": shade, "width": 0.8}
        return [
            go.Scatter(x=x, y=upper, name=item.name, mode="lines", line=style,
                       legendgroup=item.name, hovertemplate="upper: %{y:,.4g}<extra></extra>"),
            go.Scatter(x=x, y=lower, name=item.name, mode="lines", line=style, fill="tonexty",
                       fillcolor="rgba(140,140,140,0.12)", legendgroup=item.name,
                       showlegend=False, hovertemplate="lower: %{y:,.4g}<extra></extra>"),
        ]
    if isinstance(item, Trend):
        values = buckets.last(bars[item.column].to_numpy(np.float64))
        direction = buckets.last(bars[item.direction].to_numpy(np.float64))
        return [
            _line(x, np.where(direction > 0, values, np.nan), f"{item.name} up", UP),
            _line(x, np.where(direction < 0, values, np.nan), f"{item.name} down", DOWN),
        ]
    if isinstance(item, Histogram):
        values = buckets.last(item.values(bars))
        marker = _two_colours(np.nan_to_num(values) >= 0)
        return [go.Bar(x=x, y=values, name=item.name, marker=marker, opacity=0.5,
                       hovertemplate=f"{item.name}: %{{y:,.4g}}<extra></extra>")]
    raise TypeError(f"unknown plot item {item!r}")


def _price_row(fig: go.Figure, row: int, data: ChartInput, buckets: Buckets) -> None:
    bars = data.bars
    assert bars is not None
    label = data.title.split(":", 1)[0]
    fig.add_trace(
        go.Candlestick(
            x=buckets.labels,
            open=buckets.first(bars["open"].to_numpy(np.float64)),
            high=buckets.high(bars["high"].to_numpy(np.float64)),
            low=buckets.low(bars["low"].to_numpy(np.float64)),
            close=buckets.last(bars["close"].to_numpy(np.float64)),
            name=label, increasing_line_color=UP, decreasing_line_color=DOWN,
            line={"width": 1},
        ),
        row=row, col=1,
    )
    for k, item in enumerate(data.spec.price):
        for trace in _item_traces(item, bars, buckets, PALETTE[k % len(PALETTE)]):
            fig.add_trace(trace, row=row, col=1)
    for trace in trade_traces(data.result.trades, buckets):
        fig.add_trace(trace, row=row, col=1)
    fig.update_yaxes(title_text="price", row=row, col=1)


def _volume_row(fig: go.Figure, row: int, data: ChartInput, buckets: Buckets) -> None:
    bars = data.bars
    assert bars is not None
    opens = buckets.first(bars["open"].to_numpy(np.float64))
    closes = buckets.last(bars["close"].to_numpy(np.float64))
    fig.add_trace(
        go.Bar(x=buckets.labels, y=buckets.total(bars["volume"].to_numpy(np.float64)),
               name="volume", marker=_two_colours(closes >= opens),
               opacity=0.6, showlegend=False, hovertemplate="volume: %{y:,.0f}<extra></extra>"),
        row=row, col=1,
    )
    fig.update_yaxes(title_text="volume", row=row, col=1)


def _panel_row(fig: go.Figure, row: int, data: ChartInput, panel: Panel,
               buckets: Buckets) -> None:
    bars = data.bars
    assert bars is not None
    for k, item in enumerate(panel.items):
        for trace in _item_traces(item, bars, buckets, PALETTE[(k + 1) % len(PALETTE)]):
            fig.add_trace(trace, row=row, col=1)
    for level in panel.levels:
        fig.add_hline(y=level, line={"color": "#999", "width": 1, "dash": "dot"}, row=row, col=1)
    fig.update_yaxes(title_text=panel.title, row=row, col=1)
    if panel.range is not None:
        fig.update_yaxes(range=list(panel.range), row=row, col=1)


def _equity_row(fig: go.Figure, row: int, data: ChartInput, buckets: Buckets) -> None:
    result = data.result
    x = buckets.labels
    strategy = _line(x, buckets.last(result.equity.to_numpy(np.float64)), "strategy", "#1f4e9c")
    strategy.line.width = 2
    fig.add_trace(strategy, row=row, col=1)
    fig.add_trace(_line(x, buckets.last(result.buy_hold.to_numpy(np.float64)), "buy & hold",
                        NEUTRAL), row=row, col=1)
    if data.benchmark is not None:
        name = data.benchmark_name or "benchmark"
        fig.add_trace(_line(x, buckets.last(data.benchmark.to_numpy(np.float64)), name,
                            "#9c755f"), row=row, col=1)
    fig.update_yaxes(title_text="equity", row=row, col=1)


def _drawdown_row(fig: go.Figure, row: int, data: ChartInput, buckets: Buckets) -> None:
    deepest = buckets.low(drawdown(data.result.equity.to_numpy(np.float64))) * 100
    fig.add_trace(
        go.Scatter(x=buckets.labels, y=deepest, name="drawdown", mode="lines", fill="tozeroy",
                   line={"color": DOWN, "width": 1}, fillcolor="rgba(239,83,80,0.3)",
                   showlegend=False, hovertemplate="drawdown: %{y:.2f}%<extra></extra>"),
        row=row, col=1,
    )
    fig.update_yaxes(title_text="drawdown %", row=row, col=1)


def _sharpe_row(fig: go.Figure, row: int, data: ChartInput, buckets: Buckets) -> None:
    result = data.result
    periods = float(result.metrics.get("periods_per_year") or 252.0)
    sharpe, window = rolling_sharpe(result.equity.astype(np.float64), periods,
                                    result.config.risk_free_rate)
    fig.add_trace(
        go.Scatter(x=buckets.labels, y=buckets.last(sharpe.to_numpy(np.float64)),
                   name="rolling Sharpe", mode="lines", line={"color": "#4e79a7", "width": 1.2},
                   showlegend=False, hovertemplate="rolling Sharpe: %{y:.2f}<extra></extra>"),
        row=row, col=1,
    )
    fig.add_hline(y=0, line={"color": "#999", "width": 1, "dash": "dot"}, row=row, col=1)
    fig.update_yaxes(title_text=f"Sharpe ({window} bars)", row=row, col=1)


# --------------------------------------------------------------------------- trades


def _money(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{value:,.2f}"


def trade_traces(trades: pd.DataFrame, buckets: Buckets) -> list[Any]:
    """Entry and exit markers with hover details, and a dotted line per trade (win/loss
    coloured); merged per candle above :data:`MAX_TRADE_MARKERS` trades."""
    if trades.empty:
        return []
    if len(trades) > MAX_TRADE_MARKERS:
        return _merged_trade_traces(trades, buckets)
    entries = buckets.of(pd.DatetimeIndex(trades["entry_time"]))
    closed = trades[~trades["open"].astype(bool)]
    exits = buckets.of(pd.DatetimeIndex(closed["exit_time"]))
    labels = buckets.labels
    entry_text = [
        f"{side} entry #{k + 1}<br>{t:%Y-%m-%d %H:%M} UTC<br>price {_money(p)}<br>qty {q:,.4g}"
        for k, (side, t, p, q) in enumerate(zip(
            trades["side"], pd.DatetimeIndex(trades["entry_time"]), trades["entry_price"],
            trades["quantity"], strict=True))
    ]
    exit_text = [
        f"exit #{k + 1}<br>{t:%Y-%m-%d %H:%M} UTC<br>price {_money(p)}<br>"
        f"P&L {_money(pnl)} ({r:+.2f}%)"
        for k, t, p, pnl, r in zip(
            np.flatnonzero(~trades["open"].astype(bool).to_numpy()),
            pd.DatetimeIndex(closed["exit_time"]), closed["exit_price"], closed["pnl"],
            closed["return_pct"], strict=True)
    ]
    long_entry = (trades["side"] == "long").to_numpy()
    out: list[Any] = [
        go.Scatter(
            x=labels[entries], y=trades["entry_price"].to_numpy(np.float64), mode="markers",
            name="entry", hovertext=entry_text, hoverinfo="text",
            marker={"symbol": np.where(long_entry, "triangle-up", "triangle-down").astype(object),
                    "size": 11, **_two_colours(long_entry), "line": {"width": 1, "color": "#333"}},
        ),
        go.Scatter(
            x=labels[exits], y=closed["exit_price"].to_numpy(np.float64), mode="markers",
            name="exit", hovertext=exit_text, hoverinfo="text",
            marker={"symbol": "x", "size": 9, "color": "#333"},
        ),
    ]
    return out + _trade_lines(closed, labels, buckets)


def _trade_lines(closed: pd.DataFrame, labels: np.ndarray, buckets: Buckets) -> list[Any]:
    out = []
    entries = buckets.of(pd.DatetimeIndex(closed["entry_time"]))
    exits = buckets.of(pd.DatetimeIndex(closed["exit_time"]))
    won = (closed["pnl"] > 0).to_numpy()
    for mask, color, name in ((won, UP, "winning trades"), (~won, DOWN, "losing trades")):
        k = int(mask.sum())
        if not k:
            continue
        xs = np.empty(3 * k, dtype=object)
        ys = np.full(3 * k, np.nan)
        xs[0::3], xs[1::3], xs[2::3] = labels[entries[mask]], labels[exits[mask]], None
        ys[0::3] = closed["entry_price"].to_numpy(np.float64)[mask]
        ys[1::3] = closed["exit_price"].to_numpy(np.float64)[mask]
        out.append(go.Scatter(x=xs, y=ys, mode="lines", name=name, hoverinfo="skip",
                              line={"color": color, "width": 1.2, "dash": "dot"},
                              connectgaps=False))
    return out


def _merged_trade_traces(trades: pd.DataFrame, buckets: Buckets) -> list[Any]:
    labels = buckets.labels
    frame = pd.DataFrame({
        "bucket": buckets.of(pd.DatetimeIndex(trades["entry_time"])),
        "price": trades["entry_price"].to_numpy(np.float64),
    })
    grouped = frame.groupby("bucket")["price"].agg(["count", "mean"])
    closed = trades[~trades["open"].astype(bool)]
    exits = pd.DataFrame({
        "bucket": buckets.of(pd.DatetimeIndex(closed["exit_time"])),
        "price": closed["exit_price"].to_numpy(np.float64),
        "pnl": closed["pnl"].to_numpy(np.float64),
    }).groupby("bucket").agg(count=("price", "count"), mean=("price", "mean"),
                             pnl=("pnl", "sum"))
    return [
        go.Scatter(
            x=labels[grouped.index.to_numpy()], y=grouped["mean"], mode="markers",
            name="entries", hoverinfo="text",
            hovertext=[f"{c} entries, mean price {_money(m)}" for c, m in
                       zip(grouped["count"], grouped["mean"], strict=True)],
            marker={"symbol": "triangle-up", "size": 7, "color": UP}, visible="legendonly",
        ),
        go.Scatter(
            x=labels[exits.index.to_numpy()], y=exits["mean"], mode="markers", name="exits",
            hoverinfo="text",
            hovertext=[f"{c} exits, mean price {_money(m)}, P&L {_money(p)}" for c, m, p in
                       zip(exits["count"], exits["mean"], exits["pnl"], strict=True)],
            marker={"symbol": "x", "size": 6, "color": "#333"}, visible="legendonly",
        ),
    ]


# --------------------------------------------------------------------------- other figures

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_returns(equity: pd.Series, start_value: float) -> pd.DataFrame:
    """Returns per calendar month (UTC) as a years x (Jan..Dec, Year) table of fractions.

    Each month compounds from the previous month's last equity (the starting cash for the
    first); a month without bars is NaN.
    """
    naive = pd.DatetimeIndex(equity.index).tz_convert("UTC").tz_localize(None)
    series = pd.Series(equity.to_numpy(np.float64), index=naive)
    month_end = series.resample("ME").last()
    prev = month_end.ffill().shift(1)
    prev.iloc[0] = start_value
    monthly = month_end / prev - 1.0
    year_end = series.resample("YE").last()
    prev_year = year_end.ffill().shift(1)
    prev_year.iloc[0] = start_value
    yearly = year_end / prev_year - 1.0
    months = pd.DatetimeIndex(monthly.index)
    years = pd.DatetimeIndex(yearly.index)
    table = pd.DataFrame(np.nan, index=sorted(set(months.year)), columns=[*MONTHS, "Year"])
    for year, month, value in zip(months.year, months.month, monthly.to_numpy(), strict=True):
        table.loc[year, MONTHS[month - 1]] = value
    for year, value in zip(years.year, yearly.to_numpy(), strict=True):
        table.loc[year, "Year"] = value
    table.index.name = "year"
    return table


def heatmap_figure(table: pd.DataFrame, *, title: str = "", percent: bool = True,
                   colorscale: str = "RdYlGn", zmid: float | None = 0.0) -> go.Figure:
    """A labelled heatmap of ``table`` (rows on y, columns on x), values written in the cells."""
    values = table.to_numpy(np.float64) * (100.0 if percent else 1.0)
    text = [["" if not np.isfinite(v) else (f"{v:.1f}%" if percent else f"{v:.3g}") for v in row]
            for row in values]
    fig = go.Figure(go.Heatmap(
        z=values, x=[str(c) for c in table.columns], y=[str(i) for i in table.index],
        text=text, texttemplate="%{text}", colorscale=colorscale, zmid=zmid,
        hovertemplate="%{y} %{x}: %{text}<extra></extra>", showscale=False, xgap=2, ygap=2,
    ))
    fig.update_layout(
        title={"text": title, "x": 0.01}, template="plotly_white",
        height=120 + 30 * max(len(table), 1), margin={"l": 70, "r": 20, "t": 50, "b": 30},
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="top")
    return fig


def lines_figure(series: dict[str, pd.Series], *, title: str = "", y_title: str = "",
                 percent: bool = False, stacked: bool = False) -> go.Figure:
    """Time series on a date axis (comparisons, walk-forward folds, portfolio weights)."""
    fig = go.Figure()
    fmt = ".2%" if percent else ",.4g"
    for k, (name, values) in enumerate(series.items()):
        index = pd.DatetimeIndex(values.index).tz_convert("UTC").tz_localize(None)
        buckets = buckets_for(pd.DatetimeIndex(values.index), MAX_POINTS)
        fig.add_trace(go.Scatter(
            x=index[buckets.ends], y=buckets.last(values.to_numpy(np.float64)), name=name,
            mode="lines", line={"color": PALETTE[k % len(PALETTE)], "width": 1.4},
            stackgroup="one" if stacked else None,
            hovertemplate=f"{name}: %{{y:{fmt}}}<extra></extra>",
        ))
    fig.update_layout(
        title={"text": title, "x": 0.01}, template="plotly_white", height=420,
        hovermode="x unified", margin={"l": 70, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    fig.update_yaxes(title_text=y_title, tickformat=".0%" if percent else None)
    fig.update_xaxes(title_text="UTC")
    return fig
