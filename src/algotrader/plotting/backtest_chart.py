"""Backtest charts: price with MA20/MA50 and fill markers; the full version adds the strategy
equity against buy and hold, the drawdown and a table of metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from algotrader.plotting.charts import SYNTHETIC_NOTE, mark_synthetic, style_time_axis

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


def _fmt(value: float, kind: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if kind == "pct":
        return f"{value * 100:.2f}%"
    if kind == "int":
        return f"{int(value)}"
    return f"{value:.2f}"


def _naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_convert("UTC").tz_localize(None)


def _price_panel(ax: Axes, frame: pd.DataFrame, result: Result) -> None:
    x = _naive(pd.DatetimeIndex(frame.index))
    ax.plot(x, frame["close"], color="#1f3b73", linewidth=1.1, label="close")
    for column, color in (("ma20", "#f28e2b"), ("ma50", "#59a14f")):
        if column in frame:
            ax.plot(x, frame[column], color=color, linewidth=0.9, label=column.upper())
    fills = result.fills
    if len(fills):
        ts = _naive(pd.DatetimeIndex(fills["ts"]))
        price = fills["price"].to_numpy()
        for action, marker, color in (("BUY", "^", "#2ca02c"), ("SELL", "v", "#d62728")):
            rows = (fills["action"] == action).to_numpy()
            ax.scatter(
                ts[rows],
                price[rows],
                marker=marker,
                s=70,
                color=color,
                edgecolor="black",
                linewidth=0.5,
                zorder=5,
                label=action.lower(),
            )
    ax.set_ylabel("price")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncol=5)
    style_time_axis(ax)


def backtest_chart(
    frame: pd.DataFrame,
    result: Result,
    symbol: str,
    path: Path,
    *,
    full: bool = False,
    synthetic: bool = False,
) -> Path:
    """Draw the backtest of ``result`` over ``frame`` to ``path`` (PNG) and return the path."""
    title = f"{symbol} @ {result.resolution}: {result.strategy}"
    if result.params:
        title += " (" + ", ".join(f"{k}={v}" for k, v in result.params.items()) + ")"
    if synthetic:
        title += f"  [{SYNTHETIC_NOTE}]"
    if not full:
        fig = Figure(figsize=(13, 6.5), dpi=110)
        _price_panel(fig.add_subplot(), frame, result)
    else:
        fig = Figure(figsize=(14, 11), dpi=110)
        grid = fig.add_gridspec(
            3, 2, width_ratios=(4.2, 1), height_ratios=(2.2, 1.6, 1), hspace=0.28, wspace=0.05
        )
        price = fig.add_subplot(grid[0, 0])
        _price_panel(price, frame, result)
        equity = fig.add_subplot(grid[1, 0], sharex=price)
        x = _naive(pd.DatetimeIndex(result.equity.index))
        equity.plot(x, result.equity.to_numpy(), color="#1f77b4", linewidth=1.2, label="strategy")
        equity.plot(
            x, result.buy_hold.to_numpy(), color="#7f7f7f", linewidth=1.0, label="buy & hold"
        )
        equity.set_ylabel("equity")
        equity.grid(alpha=0.3)
        equity.legend(loc="upper left", fontsize=8)
        style_time_axis(equity)
        dd = fig.add_subplot(grid[2, 0], sharex=price)
        values = result.equity.to_numpy(dtype=np.float64)
        drawdown = values / np.maximum.accumulate(values) - 1.0
        dd.fill_between(x, drawdown * 100, 0, color="#d62728", alpha=0.35, linewidth=0)
        dd.set_ylabel("drawdown %")
        dd.grid(alpha=0.3)
        style_time_axis(dd)
        table_ax = fig.add_subplot(grid[:, 1])
        table_ax.axis("off")
        rows = [
            [label, _fmt(result.metrics.get(key, math.nan), kind)]
            for label, key, kind in _TABLE_ROWS
        ]
        table = table_ax.table(
            cellText=rows, colLabels=["metric", "value"], loc="upper center", colWidths=[0.62, 0.38]
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1, 1.5)
    fig.suptitle(title, fontsize=12)
    if synthetic:
        mark_synthetic(fig)
    if not full:
        fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
