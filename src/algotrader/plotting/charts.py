"""Price charts. Figures are built with ``matplotlib.figure.Figure`` (no pyplot global state),
so charts can be drawn from any thread and never need a display."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

SYNTHETIC_NOTE = "SYNTHETIC DATA - not market prices"


def plot_path(plots_dir: Path, symbol: str, resolution: str, suffix: str = "") -> Path:
    """``data/plots/SYMBOL_RES_YYYYmmdd_HHMMSS[_suffix].png`` (UTC time of creation)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    plots_dir.mkdir(parents=True, exist_ok=True)
    name = f"{symbol}_{resolution}_{stamp}{'_' + suffix if suffix else ''}.png"
    return plots_dir / name


def style_time_axis(ax: Axes) -> None:
    """Readable dates on the x axis whatever the span."""
    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def mark_synthetic(fig: Figure) -> None:
    fig.text(
        0.5,
        0.5,
        SYNTHETIC_NOTE,
        ha="center",
        va="center",
        fontsize=22,
        color="grey",
        alpha=0.18,
        rotation=20,
    )


def price_chart(
    frame: pd.DataFrame, symbol: str, resolution: str, path: Path, *, synthetic: bool = False
) -> Path:
    """Close with MA20 and MA50 (the seeds' chart). Returns ``path``."""
    fig = Figure(figsize=(12, 6), dpi=110)
    ax = fig.add_subplot()
    x = pd.DatetimeIndex(frame.index).tz_convert("UTC").tz_localize(None)
    ax.plot(x, frame["close"], color="#1f3b73", linewidth=1.2, label="close")
    for column, color in (("ma20", "#f28e2b"), ("ma50", "#59a14f")):
        if column in frame:
            ax.plot(x, frame[column], color=color, linewidth=1.0, label=column.upper())
    title = f"{symbol} @ {resolution}: close, MA20, MA50"
    if synthetic:
        title += f"  [{SYNTHETIC_NOTE}]"
        mark_synthetic(fig)
    ax.set_title(title)
    ax.set_ylabel("price")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    style_time_axis(ax)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
