"""Trading without an account: the internal paper broker and a bar source that replays a
stored or synthetic series (accelerated), both behind the ports of
:mod:`algotrader.ports.trading`. ``algotrader trade --broker paper`` runs on them."""

from __future__ import annotations

from algotrader.paper.broker import PAPER_ACCOUNT, PaperBroker
from algotrader.paper.replay import Market, ReplayBarSource

__all__ = ["PAPER_ACCOUNT", "Market", "PaperBroker", "ReplayBarSource"]
