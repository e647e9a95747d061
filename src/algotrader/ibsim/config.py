"""What one simulator instance is: :class:`SimConfig`, and the failures it injects,
:class:`Faults`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from algotrader.errors import InvalidInputError
from algotrader.ibsim.feed import FeedConfig
from algotrader.ibsim.instruments import DEFAULT_INSTRUMENTS, Instrument


@dataclass(frozen=True, slots=True)
class Faults:
    """Failure modes to inject; all off by default. Replace the whole object to change them.

    Deterministic: historical requests are numbered 1, 2, 3... in the order the simulator
    receives them (``IBSimulator.historical_requests`` counts them, over every connection), and
    the faults name numbers, never times.

    - ``pacing_violations``: these historical requests are answered with 162 "Historical data
      request pacing violation".
    - ``drop_on_historical_request``: this historical request gets half a reply and then the
      connection is aborted (a drop after N - 1 answers).
    - ``silent_historical_requests``: these historical requests are never answered.
    - ``silent_messages``: requests with these message ids (``protocol.In``, e.g.
      ``In.REQ_ALL_OPEN_ORDERS``, ``In.REQ_EXECUTIONS``) are never answered.
    - ``no_data_symbols``: historical requests for these get 162 "HMDS query returned no data".
    - ``client_ids_in_use``: clientIds refused with 326 and a closed socket, as if another
      application held them.
    - ``latency``: seconds added before answering every request (and the handshake).
    - ``pacing_limit``: IB's own rule, on the wall clock, for interactive use: after this many
      historical requests served within ``pacing_window`` seconds, further ones get 162 pacing
      violation (refused requests do not count, so a client that backs off recovers). Tests use
      ``pacing_violations`` instead: a slow machine never trips a wall-clock window.
    - ``drop_after_advances``: right after the N-th feed advance has been written to the
      sockets, every client connection is closed (a gateway restart). The feed keeps going;
      clients that reconnect backfill with ordinary history requests (pacing faults apply).
    - ``reject_orders``: the N-th ``placeOrder`` received (1-based, every connection, what-if
      and modifications included; ``IBSimulator.orders.received`` counts them) is rejected
      with 201 "Order rejected - reason: ..." and ends ``Inactive`` (ib_async: ``Cancelled``).
    """

    pacing_violations: frozenset[int] = frozenset()
    drop_on_historical_request: int | None = None
    silent_historical_requests: frozenset[int] = frozenset()
    silent_messages: frozenset[int] = frozenset()
    no_data_symbols: frozenset[str] = frozenset()
    client_ids_in_use: frozenset[int] = frozenset()
    latency: float = 0.0
    pacing_limit: int | None = None
    pacing_window: float = 600.0
    drop_after_advances: int | None = None
    reject_orders: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything about one simulator instance.

    ``strict`` (the default, meant for tests) closes the connection on anything unhandled and
    makes :meth:`IBSimulator.stop` raise :class:`SimulatorError`; non-strict only logs.
    ``clock`` replaces "now" (UTC-aware) for deterministic tests; with a ``feed`` the feed is
    the clock (the forming bar's start) and the market of its symbols (see
    :mod:`algotrader.ibsim.feed`). ``max_fill_size``: orders larger than this fill in several
    executions of at most this many shares, all at the same price at once (``Submitted`` with
    ``filled``/``remaining`` after each but the last). Commissions are per order (IB's minimum
    applies once per order), split across its executions.
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
    feed: FeedConfig | None = None
    max_fill_size: float | None = None

    def __post_init__(self) -> None:
        if self.max_fill_size is not None and not self.max_fill_size > 0:
            raise InvalidInputError(
                f"invalid max_fill_size {self.max_fill_size}", "pass a size above 0 (or None)"
            )


class SimulatorError(RuntimeError):
    """The simulator saw something it does not handle (strict mode turns it into a failure)."""
