"""Backtesting: the engine, metrics, results and the :class:`Backtest` facade."""

from __future__ import annotations

from algotrader.backtest.api import Backtest
from algotrader.backtest.engine import Portfolio, run_backtest
from algotrader.backtest.metrics import compute_metrics, periods_per_year
from algotrader.backtest.result import BacktestConfig, Result

__all__ = [
    "Backtest",
    "BacktestConfig",
    "Portfolio",
    "Result",
    "compute_metrics",
    "periods_per_year",
    "run_backtest",
]
