"""PNG charts of research results: the objective heatmap of a study and the walk-forward equity
with its folds shaded. Built on ``matplotlib.figure.Figure`` (no pyplot state, no display)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from algotrader.research.study import HeatmapAgg, Study
from algotrader.research.walkforward import WalkForwardResult


def heatmap_png(
    study: Study, path: Path | str, x: str, y: str, *, agg: HeatmapAgg = "max",
    title: str | None = None,
) -> Path:
    """Save the objective over ``x`` and ``y`` (aggregated over the other parameters)."""
    grid = study.heatmap(x, y, agg)
    values = grid.to_numpy(dtype=np.float64)
    fig = Figure(figsize=(1.2 + 0.62 * max(4, grid.shape[1]), 1.4 + 0.45 * max(4, grid.shape[0])),
                 dpi=110)
    ax = fig.add_subplot()
    cmap = "viridis" if study.objective.direction == "maximize" else "viridis_r"
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto", origin="lower")
    ax.set_xticks(range(grid.shape[1]), [str(v) for v in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [str(v) for v in grid.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    best = study.best.params
    if grid.shape[0] * grid.shape[1] <= 400:
        for (i, j), v in np.ndenumerate(values):
            if math.isfinite(v):
                bold = grid.index[i] == best.get(y) and grid.columns[j] == best.get(x)
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="white", fontweight="bold" if bold else "normal")
    metric = study.objective.metric
    fig.colorbar(image, ax=ax, label=f"{metric} ({agg} over other parameters)"
                 if len(study.config.space.names) > 2 else metric)
    symbols = ", ".join(study.symbols)
    ax.set_title(title or f"{study.config.to_dict()['strategy']} on {symbols}: {metric} "
                 f"({study.n_trials} trials; best {best})", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def walk_forward_png(result: WalkForwardResult, path: Path | str, *, title: str | None = None
                     ) -> Path:
    """Save the stitched out-of-sample equity (and buy & hold) with the test folds shaded."""
    fig = Figure(figsize=(12, 6), dpi=110)
    ax = fig.add_subplot()
    x = pd.DatetimeIndex(result.equity.index).tz_convert("UTC").tz_localize(None)
    ax.plot(x, result.equity.to_numpy(), color="#1f3b73", linewidth=1.3, label="out-of-sample")
    ax.plot(x, result.buy_hold.to_numpy(), color="#9c9c9c", linewidth=1.0,
            label="buy & hold (same windows)")
    for fold in result.folds:
        w = fold.window
        start = _num(w.test_start)
        end = _num(w.test_end)
        ax.axvspan(start, end, color="#f28e2b" if w.number % 2 else "#59a14f", alpha=0.10)
        label = ", ".join(f"{k}={v}" for k, v in fold.params.items()
                          if k in result.config.space.names)
        ax.text(start, 1.0, f"{w.number}\n{label}", transform=ax.get_xaxis_transform(),
                fontsize=6.5, va="top", ha="left", color="#444444")
    oos = result.out_of_sample
    eff = "n/a" if result.efficiency is None else f"{result.efficiency:.2f}"
    ax.set_title(title or (
        f"walk-forward {'anchored' if result.anchored else 'rolling'} train {result.train} / "
        f"test {result.test}: OOS sharpe {oos['sharpe']:.2f}, total {oos['total_return']:.1%}, "
        f"WFE {eff}"), fontsize=10)
    ax.set_ylabel("equity")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    return _save(fig, path)


def _num(ts: pd.Timestamp) -> float:
    return float(mdates.date2num(pd.Timestamp(ts).tz_convert("UTC").tz_localize(None)))


def _save(fig: Figure, path: Path | str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
