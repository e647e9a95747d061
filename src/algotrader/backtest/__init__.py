"""Backtesting: the engine, metrics, results and the :class:`Backtest` facade."""

from __future__ import annotations

from algotrader.backtest._errors import StrategyError
from algotrader.backtest._on_bar import Portfolio
from algotrader.backtest.api import Backtest
from algotrader.backtest.config import BacktestConfig
from algotrader.backtest.engine import run_backtest
from algotrader.backtest.metrics import compute_metrics, periods_per_year
from algotrader.backtest.result import Result

__all__ = [
    "Backtest",
    "BacktestConfig",
    "Portfolio",
    "Result",
    "StrategyError",
    "compute_metrics",
    "periods_per_year",
    "run_backtest",
]
