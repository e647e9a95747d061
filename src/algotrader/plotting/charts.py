"""Price charts. Figures are built with ``matplotlib.figure.Figure`` (no pyplot global state),
so charts can be drawn from any thread and never need a display.

Intraday bars are drawn against their bar number with date labels, so nights, weekends and
holidays take no room (no long straight lines across the gaps); daily and weekly bars keep a
date axis.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

SYNTHETIC_NOTE = "SYNTHETIC DATA - not market prices"

# Day separators are drawn on intraday charts that span at most this many sessions.
_MAX_SEPARATED_DAYS = 40


def plot_path(plots_dir: Path, symbol: str, resolution: str, suffix: str = "") -> Path:
    """``data/plots/SYMBOL_RES_YYYYmmdd_HHMMSS[_suffix].png`` (UTC time of creation)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    plots_dir.mkdir(parents=True, exist_ok=True)
    name = f"{symbol}_{resolution}_{stamp}{'_' + suffix if suffix else ''}.png"
    return plots_dir / name


def is_intraday(index: pd.DatetimeIndex, resolution: str | None = None) -> bool:
    """True for bars shorter than a day (from ``resolution``, else from the index spacing)."""
    if resolution:
        from algotrader.timeframes import parse_resolution

        return parse_resolution(resolution).is_intraday
    if len(index) < 2:
        return False
    step = np.median(np.diff(index[: 10_001].as_unit("s").asi8))
    return bool(step < 86_400)


class TimeAxis:
    """The x coordinates of a bar frame's rows: bar numbers for intraday bars, dates otherwise."""

    def __init__(self, index: pd.DatetimeIndex, intraday: bool) -> None:
        self.index = pd.DatetimeIndex(index).tz_convert("UTC")
        self.intraday = intraday

    def x(self, stamps: pd.DatetimeIndex | None = None) -> np.ndarray:
        """Coordinates of ``stamps`` (default: every bar); a stamp between bars maps to the bar
        at or before it."""
        stamps = self.index if stamps is None else pd.DatetimeIndex(stamps).tz_convert("UTC")
        if self.intraday:
            pos = self.index.searchsorted(stamps, side="right") - 1
            return np.clip(pos, 0, max(len(self.index) - 1, 0)).astype(np.float64)
        return np.asarray(stamps.tz_localize(None).to_pydatetime())

    def style(self, ax: Axes, *, separators: bool = True) -> None:
        """Readable dates on ``ax`` whatever the span."""
        if not self.intraday:
            locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            return
        index = self.index
        long_span = len(index) > 1 and (index[-1] - index[0]) > pd.Timedelta(days=60)
        fmt = "%Y-%m-%d" if long_span else "%m-%d\n%H:%M"

        def label(value: float, _pos: int) -> str:
            i = round(value)
            return index[i].strftime(fmt) if 0 <= i < len(index) else ""

        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(label))
        ax.set_xlabel("UTC (bar number scale: gaps between sessions removed)", fontsize=8)
        if separators and len(index):
            days = index.normalize()
            starts = np.flatnonzero(days[1:] != days[:-1]) + 1
            if len(starts) <= _MAX_SEPARATED_DAYS:
                for start in starts:
                    ax.axvline(start - 0.5, color="grey", linewidth=0.5, alpha=0.35)


def style_time_axis(ax: Axes) -> None:
    """Readable dates on a date x axis whatever the span."""
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
    index = pd.DatetimeIndex(frame.index)
    axis = TimeAxis(index, is_intraday(index, resolution))
    x = axis.x()
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
    axis.style(ax)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
