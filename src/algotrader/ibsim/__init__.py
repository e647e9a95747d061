"""``algotrader.ibsim``: a TWS-protocol simulator that the unmodified ``ib_async`` client drives.

- :mod:`~algotrader.ibsim.server`: connection handling (sessions, framing, handshake, dispatch).
- :mod:`~algotrader.ibsim.handlers`: request handlers (contracts, history, account, orders).
- :mod:`~algotrader.ibsim.matching`: the matching engine (order book, prices, fills).
- :mod:`~algotrader.ibsim.feed`, :mod:`~algotrader.ibsim.replay`: the replay feed (bars played
  forward in steps or at a speed) that streams live bars, real-time bars and ticks.
- :mod:`~algotrader.ibsim.runner`: running it in a thread or in the foreground.
- :mod:`~algotrader.ibsim.protocol`, :mod:`~algotrader.ibsim.history`: the wire format and how
  TWS reads historical requests.
"""

from algotrader.ibsim.config import Faults, SimConfig, SimulatorError
from algotrader.ibsim.feed import FeedConfig
from algotrader.ibsim.history import BarProvider
from algotrader.ibsim.instruments import DEFAULT_INSTRUMENTS, Instrument, stock
from algotrader.ibsim.runner import SimulatorThread, serve, serve_async, start_in_thread
from algotrader.ibsim.server import IBSimulator

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "BarProvider",
    "Faults",
    "FeedConfig",
    "IBSimulator",
    "Instrument",
    "SimConfig",
    "SimulatorError",
    "SimulatorThread",
    "serve",
    "serve_async",
    "start_in_thread",
    "stock",
]
