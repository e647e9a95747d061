"""Portfolio backtests: many symbols, one cash account, rebalanced to target weights.

>>> from algotrader.portfolio import Portfolio                          # doctest: +SKIP
>>> result = Portfolio(bars_by_symbol, allocator="equal", rebalance="monthly").run()

See :class:`Portfolio` (the entry point), :class:`PortfolioStrategy` (write your own allocation),
:mod:`~algotrader.portfolio.allocators` (the built-ins), :mod:`~algotrader.portfolio.schedules`
(which bar each schedule fires on) and :class:`PortfolioResult` (what comes back).
"""

from __future__ import annotations

from algotrader.portfolio.allocators import (
    ALLOCATORS,
    Allocator,
    EqualWeight,
    InverseVolatility,
    MinimumVariance,
    Momentum,
    RiskParity,
    Signals,
)
from algotrader.portfolio.api import Portfolio, rerun
from algotrader.portfolio.config import SCHEDULES, PortfolioConfig
from algotrader.portfolio.engine import run_portfolio
from algotrader.portfolio.panel import Panel, build_panel
from algotrader.portfolio.registry import allocator_names, get_allocator
from algotrader.portfolio.result import PortfolioResult
from algotrader.portfolio.strategy import PanelView, PortfolioState, PortfolioStrategy

__all__ = [
    "ALLOCATORS",
    "SCHEDULES",
    "Allocator",
    "EqualWeight",
    "InverseVolatility",
    "MinimumVariance",
    "Momentum",
    "Panel",
    "PanelView",
    "Portfolio",
    "PortfolioConfig",
    "PortfolioResult",
    "PortfolioState",
    "PortfolioStrategy",
    "RiskParity",
    "Signals",
    "allocator_names",
    "build_panel",
    "get_allocator",
    "rerun",
    "run_portfolio",
]
