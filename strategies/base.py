"""Seed-compatible import path: ``from strategies.base import Strategy``."""

from algotrader.strategies.base import Strategy

__all__ = ["Strategy"]
