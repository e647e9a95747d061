"""A thin adapter over ``ib_async``: connecting with clear errors, and account facts."""

from algotrader.ibkr.connection import connect_ib, is_live_port, is_paper_account

__all__ = ["connect_ib", "is_live_port", "is_paper_account"]
