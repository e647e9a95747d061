"""Portfolio backtest chart (PNG): equity vs benchmark, drawdown, and weights as a stacked area."""

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
    from algotrader.portfolio.result import PortfolioResult

_OTHER_COLOR = "#bbbbbb"
_CASH_COLOR = "#f2f2f2"


def portfolio_chart(
    result: PortfolioResult,
    path: Path,
    *,
    title: str | None = None,
    top: int = 10,
    synthetic: bool = False,
) -> Path:
    """Draw ``result`` to ``path`` (PNG) and return the path.

    The weights panel stacks the ``top`` symbols with the largest average weight, then the rest
    as "other", then cash (what is not invested; borrowed cash is not drawn).
    """
    fig = Figure(figsize=(13, 10.5), dpi=110)
    grid = fig.add_gridspec(3, 1, height_ratios=(2.2, 1, 1.8), hspace=0.32, bottom=0.1, top=0.93)
    x = _naive(pd.DatetimeIndex(result.equity.index))
    equity = fig.add_subplot(grid[0])
    equity.plot(x, result.equity.to_numpy(), color="#1f77b4", linewidth=1.3, label="portfolio")
    bench = result.config.benchmark or "equal-weight buy & hold"
    equity.plot(x, result.benchmark.to_numpy(), color="#7f7f7f", linewidth=1.0,
                label=f"benchmark: {bench}")
    equity.set_ylabel("equity")
    equity.legend(loc="upper left", fontsize=8)
    equity.text(0.99, 0.03, _metrics_line(result), transform=equity.transAxes, ha="right",
                va="bottom", fontsize=8, family="monospace")
    drawdown = fig.add_subplot(grid[1], sharex=equity)
    drawdown.fill_between(x, result.drawdown.to_numpy() * 100, 0, color="#d62728", alpha=0.35,
                          linewidth=0)
    drawdown.set_ylabel("drawdown %")
    weights = fig.add_subplot(grid[2], sharex=equity)
    _weights_panel(weights, x, result.weights, top)
    for ax in (equity, drawdown, weights):
        ax.grid(alpha=0.3)
        style_time_axis(ax)
    heading = title or (
        f"{result.allocator} portfolio of {len(result.symbols)} symbols @ {result.resolution}, "
        f"{result.config.rebalance} rebalance"
    )
    if synthetic:
        heading += f"  [{SYNTHETIC_NOTE}]"
        mark_synthetic(fig)
    fig.suptitle(heading, fontsize=12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index


def _weights_panel(ax: Axes, x: pd.DatetimeIndex, weights: pd.DataFrame, top: int) -> None:
    values = np.nan_to_num(weights.to_numpy(np.float64))
    order = np.argsort(-np.abs(values).mean(axis=0), kind="stable")
    shown = order[:top]
    layers = [np.clip(values[:, j], 0, None) for j in shown]
    labels = [str(weights.columns[j]) for j in shown]
    colors = [f"C{k % 10}" for k in range(len(shown))]
    if order.size > top:
        layers.append(np.clip(values[:, order[top:]], 0, None).sum(axis=1))
        labels.append(f"other ({order.size - top})")
        colors.append(_OTHER_COLOR)
    layers.append(np.clip(1.0 - values.sum(axis=1), 0, None))
    labels.append("cash")
    colors.append(_CASH_COLOR)
    ax.stackplot(x, np.vstack(layers), labels=labels, colors=colors, linewidth=0)
    ax.set_ylabel("weight")
    ax.set_ylim(0, max(1.0, float(values.clip(0, None).sum(axis=1).max(initial=0))))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=7,
              ncol=min(8, len(labels)), frameon=False)


def _metrics_line(result: PortfolioResult) -> str:
    m = result.metrics

    def pct(key: str) -> str:
        value = m.get(key, math.nan)
        return "n/a" if not math.isfinite(value) else f"{value * 100:.1f}%"

    sharpe = m.get("sharpe", math.nan)
    return (
        f"return {pct('total_return')}  benchmark {pct('buy_hold_return')}  "
        f"CAGR {pct('cagr')}  max DD {pct('max_drawdown')}  "
        f"Sharpe {'n/a' if not math.isfinite(sharpe) else f'{sharpe:.2f}'}  "
        f"turnover {m.get('turnover', math.nan):.2f}"
    )
