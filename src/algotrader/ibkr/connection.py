"""Connecting to TWS / IB Gateway (or ``algotrader ib-sim``) through ``ib_async``.

Everything that can go wrong at connect time becomes one :class:`GatewayUnavailableError` line:
which host and port were tried and the ways out. :class:`IbConnection` keeps one connection
open for many requests and reconnects after a drop.

The simulator identifies itself with one extra account value, tag :data:`SIMULATOR_ACCOUNT_TAG`
(``algotrader.ibsim``), sent with the account updates every connection receives at start-up.
TWS's account-value tags are CamelCase words (``NetLiquidation``, ``Cushion``,
``TotalCashValue-S``) and never contain a dot, so TWS cannot send it: :func:`is_simulator` is
true only for ``algotrader ib-sim``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final

from ib_async import IB

from algotrader.config import Settings
from algotrader.errors import GatewayUnavailableError
from algotrader.observability import metrics

log = logging.getLogger(__name__)

LIVE_PORTS = frozenset({7496, 4001})
PAPER_PORTS = frozenset({7497, 4002})

SIMULATOR_ACCOUNT_TAG: Final = "algotrader.ibsim"
"""The account-value tag only ``algotrader ib-sim`` sends (see the module docstring)."""

# Informational codes IB also sends with a request id; they never decide a request's fate.
WARNING_CODES = frozenset({165, 2174}) | frozenset(range(2100, 2200))


def is_live_port(port: int) -> bool:
    """TWS live (7496) and IB Gateway live (4001) by IB's convention."""
    return port in LIVE_PORTS


def is_paper_account(account: str) -> bool:
    """IB paper accounts start with ``DU`` (individual) or ``DF`` (advisor paper)."""
    return account.upper().startswith(("DU", "DF"))


def is_simulator(ib: IB) -> bool:
    """True when ``ib`` is connected to ``algotrader ib-sim`` (its bars are synthetic)."""
    return any(value.tag == SIMULATOR_ACCOUNT_TAG for value in ib.accountValues())


def _ways_out(settings: Settings) -> str:
    return (
        "start TWS or IB Gateway with the API enabled, or run `algotrader ib-sim --port "
        f"{settings.ib_port}` in another terminal, or use --source synthetic|csv"
    )


def _connect_error(
    exc: BaseException, settings: Settings, client_id: int, timeout: float
) -> GatewayUnavailableError:
    """The one line for a failed connect (order matters: these are all OSErrors)."""
    where = f"{settings.ib_host}:{settings.ib_port}"
    if isinstance(exc, TimeoutError):
        return GatewayUnavailableError(
            f"TWS/IB Gateway at {where} did not complete the API handshake (clientId "
            f"{client_id} may be in use, or the API is disabled)",
            f"set another ALGOTRADER_IB_CLIENT_ID, or {_ways_out(settings)}",
        )
    if isinstance(exc, ConnectionError) and exc.args and isinstance(exc.args[0], list):
        # raiseSyncErrors: a start-up request (open orders, executions...) got no answer.
        return GatewayUnavailableError(
            f"TWS/IB Gateway at {where} did not answer its start-up requests within "
            f"{timeout:g} s ({'; '.join(str(e) for e in exc.args[0])})",
            "check that TWS/IB Gateway is responsive (restart it if needed) and run the "
            "same command again",
        )
    if isinstance(exc, ConnectionError) and not isinstance(exc, ConnectionRefusedError):
        return GatewayUnavailableError(
            f"TWS/IB Gateway at {where} closed the connection ({exc})", _ways_out(settings)
        )
    reason = (exc.strerror if isinstance(exc, OSError) else None) or type(exc).__name__
    return GatewayUnavailableError(
        f"no TWS/IB Gateway answers at {where} ({reason})", _ways_out(settings)
    )


@asynccontextmanager
async def connect_ib(
    settings: Settings,
    *,
    client_id: int | None = None,
    readonly: bool = True,
    timeout: float | None = None,
    require_sync: bool = False,
) -> AsyncIterator[IB]:
    """An ``IB`` connected to ``settings.ib_host:ib_port``; disconnected on exit.

    ``readonly`` skips the order sync at connect (data-only sessions). ``require_sync`` makes a
    start-up request that goes unanswered (open or completed orders, executions, account
    updates) a failure rather than a log line: order sessions rely on what it brings. Raises
    :class:`GatewayUnavailableError` when nothing answers, the handshake times out (a clientId
    already in use looks like that), or the API refuses the connection.
    """
    ib = IB()
    cid = settings.ib_client_id if client_id is None else client_id
    bound = timeout or settings.ib_timeout
    try:
        await ib.connectAsync(
            settings.ib_host,
            settings.ib_port,
            clientId=cid,
            timeout=bound,
            readonly=readonly,
            account=settings.ib_account,
            raiseSyncErrors=require_sync,
        )
    except OSError as exc:  # TimeoutError and ConnectionError are OSErrors too
        ib.disconnect()
        raise _connect_error(exc, settings, cid, bound) from None
    try:
        yield ib
    finally:
        ib.disconnect()


class IbConnection:
    """One ``ib_async`` connection shared by many requests, (re)connected on demand.

    Lives on one event loop. Errors IB sends for a request id are collected (see
    :meth:`take_error`) so that a failed request can be told apart: 162 pacing, 162 no data,
    200 unknown contract, or anything else. ``simulator`` says whether the gateway is
    ``algotrader ib-sim`` (known once connected).

    ``require_sync`` (order sessions) makes an unanswered start-up sync a failed connect (see
    :func:`connect_ib`). Callables in :attr:`on_connect` run with each new ``IB`` right after
    every (re)connect, before :meth:`ensure` returns it: long-lived users (a live bar
    subscription, a broker) hook their event handlers there and resynchronise.
    """

    def __init__(
        self,
        settings: Settings,
        client_id: int | None = None,
        *,
        readonly: bool = True,
        require_sync: bool = False,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.readonly = readonly
        self.require_sync = require_sync
        self.on_connect: list[Callable[[IB], None]] = []
        self.ib: IB | None = None
        self.errors: dict[int, list[tuple[int, str]]] = {}
        self.generation = 0  # connections made so far
        self.reconnects = 0
        self.simulator = False
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def where(self) -> str:
        return f"{self.settings.ib_host}:{self.settings.ib_port}"

    def _on_error(self, req_id: int, code: int, text: str, contract: object = None) -> None:
        if code not in WARNING_CODES:
            metrics.record_ib_error(code)
        if req_id >= 0 and code not in WARNING_CODES:
            self.errors.setdefault(req_id, []).append((code, text))

    async def ensure(self) -> IB:
        """The connected ``IB``: connects on first use and after a dropped connection."""
        if self.ib is not None and self.ib.isConnected():
            return self.ib
        if self._lock is None:
            self._lock = asyncio.Lock()
        generation = self.generation
        async with self._lock:
            if self.generation != generation and self.ib is not None and self.ib.isConnected():
                return self.ib  # another task reconnected while this one waited
            await self.close()
            stack = contextlib.AsyncExitStack()
            ib = await stack.enter_async_context(
                connect_ib(
                    self.settings,
                    client_id=self.client_id,
                    readonly=self.readonly,
                    require_sync=self.require_sync,
                )
            )
            ib.errorEvent += self._on_error
            if self.generation:
                self.reconnects += 1
                metrics.record_ib_reconnect()
                log.info("reconnected to IBKR at %s", self.where)
            self.simulator = is_simulator(ib)
            self.ib, self._stack = ib, stack
            self.generation += 1
            for hook in list(self.on_connect):
                hook(ib)
            return ib

    async def close(self) -> None:
        """Disconnect (a later :meth:`ensure` connects again)."""
        stack, self._stack, self.ib = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def take_error(self, req_id: int) -> tuple[int, str] | None:
        """The last error IB sent for ``req_id`` (forgetting it), or None."""
        found = self.errors.pop(req_id, None)
        return found[-1] if found else None

    def take_errors_since(self, known: set[int]) -> list[tuple[int, str]]:
        """Errors for request ids not in ``known`` (for requests whose id ib_async keeps)."""
        return [self.errors.pop(k)[-1] for k in set(self.errors) - known]
