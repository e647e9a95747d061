"""Live-trading domain rules that need no broker and no database: the pre-trade risk layer
(:mod:`algotrader.trading.risk`) and the session's running P&L."""

from __future__ import annotations

from algotrader.trading.risk import Ledger, RiskGate, RiskLimits

__all__ = ["Ledger", "RiskGate", "RiskLimits"]
