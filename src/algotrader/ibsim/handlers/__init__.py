"""The simulator's request handlers, one module per kind of request.

Each module has a class built with the :class:`~algotrader.ibsim.server.IBSimulator` whose
``routes()`` maps incoming message ids to ``async handler(session, fields)`` methods.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from algotrader.ibsim.session import ClientSession

Handler = Callable[[ClientSession, list[str]], Awaitable[None]]

__all__ = ["Handler"]
