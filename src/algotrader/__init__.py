"""algotrader: IBKR ingestion, a SQL bar store, indicators, backtests and paper orders.

``from algotrader import Backtest, Strategy`` is the Python API; both are imported on first use so
``import algotrader`` stays cheap (no numpy/pandas/numba until needed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from algotrader.api import Backtest
    from algotrader.strategies.base import Strategy

__version__ = "0.1.0"
__all__ = ["Backtest", "Strategy", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Backtest":
        from algotrader.api import Backtest

        return Backtest
    if name == "Strategy":
        from algotrader.strategies.base import Strategy

        return Strategy
    raise AttributeError(f"module 'algotrader' has no attribute {name!r}")
