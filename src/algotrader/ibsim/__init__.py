"""``algotrader.ibsim``: a TWS-protocol simulator that the unmodified ``ib_async`` client drives.

See :mod:`algotrader.ibsim.server` for how to run it (in-process, in a thread, standalone).
"""

from algotrader.ibsim.history import BarProvider
from algotrader.ibsim.instruments import DEFAULT_INSTRUMENTS, Instrument, stock
from algotrader.ibsim.server import (
    Faults,
    IBSimulator,
    SimConfig,
    SimulatorError,
    SimulatorThread,
    serve,
    serve_async,
    start_in_thread,
)

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "BarProvider",
    "Faults",
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
