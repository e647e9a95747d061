"""What one simulator instance is: :class:`SimConfig`, and the failures it injects,
:class:`Faults`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from algotrader.ibsim.instruments import DEFAULT_INSTRUMENTS, Instrument


@dataclass(frozen=True, slots=True)
class Faults:
    """Failure modes to inject; all off by default. Replace the whole object to change them.

    - ``pacing_limit``: after this many historical requests served within ``pacing_window``
      seconds, further ones get 162 "Historical data request pacing violation" (refused requests
      do not count, so a client that backs off recovers).
    - ``drop_on_historical_request``: the N-th historical request (1-based, counted per server)
      gets half a reply and then the connection is aborted.
    - ``latency``: seconds added before answering every request (and the handshake).
    - ``client_ids_in_use``: clientIds refused with 326 and a closed socket, as if another
      application held them.
    - ``no_data_symbols``: historical requests for these get 162 "HMDS query returned no data".
    """

    pacing_limit: int | None = None
    pacing_window: float = 600.0
    drop_on_historical_request: int | None = None
    latency: float = 0.0
    client_ids_in_use: frozenset[int] = frozenset()
    no_data_symbols: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything about one simulator instance.

    ``strict`` (the default, meant for tests) closes the connection on anything unhandled and
    makes :meth:`IBSimulator.stop` raise :class:`SimulatorError`; non-strict only logs.
    ``clock`` replaces "now" (UTC-aware) for deterministic tests.
    """

    host: str = "127.0.0.1"
    port: int = 0
    account: str = "DU1234567"
    first_order_id: int = 1
    strict: bool = True
    tick_interval: float = 0.05
    initial_cash: float = 1_000_000.0
    commission_per_share: float = 0.005
    min_commission: float = 1.0
    login_tz: str = "US/Eastern"
    instruments: Mapping[str, Instrument] = field(
        default_factory=lambda: dict(DEFAULT_INSTRUMENTS)
    )
    faults: Faults = Faults()
    clock: Callable[[], datetime] | None = None


class SimulatorError(RuntimeError):
    """The simulator saw something it does not handle (strict mode turns it into a failure)."""
