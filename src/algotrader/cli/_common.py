"""Helpers shared by command modules: the console, settings, symbol lists, rendering.

Command modules import the application layer inside their command functions, so that
``algotrader --help`` starts without numpy, pandas, numba, SQLAlchemy or ib_async.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from algotrader.symbols import parse_symbols, shorten

if TYPE_CHECKING:
    from algotrader.config import Settings

__all__ = ["console", "fmt_metric", "parse_symbols", "settings_from", "shorten"]

# Piped output (tests, logs) gets a fixed, wide width instead of rich's 80 columns; markup is off
# so text such as "[synthetic data]" prints as it is.
console = Console(
    highlight=False, soft_wrap=True, markup=False, width=None if sys.stdout.isatty() else 140
)

PERCENT_METRICS = frozenset(
    {
        "total_return",
        "buy_hold_return",
        "alpha",
        "cagr",
        "volatility",
        "max_drawdown",
        "win_rate",
        "exposure",
    }
)


def settings_from(ctx: typer.Context, **overrides: object) -> Settings:
    """Settings from env/.env, then the root flags, then the command's own flags; sets up
    logging."""
    from algotrader.config import load_settings
    from algotrader.log import setup_logging

    root = ctx.find_root().obj or {}
    settings = load_settings(**{**root, **overrides})
    setup_logging(settings.log_dir, settings.log_level)
    return settings


def fmt_metric(key: str, value: Any) -> str:
    """A metric for a table: percentages for returns, ``inf`` spelled out, ``n/a`` for none."""
    if value is None:
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if key in PERCENT_METRICS:
        return f"{value * 100:.2f}%"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
