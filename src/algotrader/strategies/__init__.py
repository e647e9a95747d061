"""Strategies: the :class:`Strategy` base class, the registry and the built-ins.

>>> from algotrader.strategies import get_strategy
>>> get_strategy("ma_cross", fast="10").fast
10
"""

from __future__ import annotations

from algotrader.strategies.base import BUY, SELL, Signal, Strategy
from algotrader.strategies.registry import (
    StrategyInfo,
    get_strategy,
    list_strategies,
    register,
    strategy_class,
)

__all__ = [
    "BUY",
    "SELL",
    "Signal",
    "Strategy",
    "StrategyInfo",
    "get_strategy",
    "list_strategies",
    "register",
    "strategy_class",
]
