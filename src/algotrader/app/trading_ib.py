"""``--broker ib``: the Interactive Brokers venue of a trading session (bars and broker).

:func:`open_ib_venue` is the :class:`~algotrader.ports.trading.VenueFactory` the trading use
case (:mod:`algotrader.app.trading`) calls for ``--broker ib``. It opens, on the gateway of
``settings`` (TWS, IB Gateway, or ``algotrader ibsim --feed ...``), one connection as
``ALGOTRADER_IB_CLIENT_ID`` shared by:

- an :class:`~algotrader.ibkr.live_bars.IbLiveBarSource`: completed bars from ``keepUpToDate``
  history, reconnecting with back-off and backfilling what it missed (flagged, never traded);
- an :class:`~algotrader.ibkr.broker.IbBroker`: the orders through the existing order code,
  idempotent by client reference (an order the gateway already knows is adopted, not resent).

Safety first: a live port (7496/4001) is refused before connecting, and a non-paper account
after, unless ``live`` (the user's ``--live``; :func:`algotrader.app.risk.refuse_live_port`,
:func:`algotrader.app.risk.check_trading_mode`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from algotrader.app import risk
from algotrader.config import Settings
from algotrader.errors import InvalidInputError
from algotrader.ibkr.broker import IbBroker
from algotrader.ibkr.connection import IbConnection
from algotrader.ibkr.history import HistoricalPacer, RetryPolicy
from algotrader.ibkr.live_bars import IbLiveBarSource, LiveBarsConfig
from algotrader.ports.trading import TradingVenue
from algotrader.timeframes import parse_resolution

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IbVenueOptions:
    """Tuning of the IB venue (the defaults suit TWS; tests and benchmarks shorten the waits).

    ``retry``: back-off for reconnecting and for every request (bars and orders);
    ``use_rth``: regular-hours bars only; ``history_bars``: history asked with each live
    request; ``pacer``: the historical-request gate (None: the process-wide one).
    """

    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(attempts=10, base_delay=1.0, max_delay=30.0)
    )
    use_rth: bool = True
    history_bars: int = 30
    pacer: HistoricalPacer | None = None


@asynccontextmanager
async def open_ib_venue(
    settings: Settings,
    symbols: Sequence[str],
    bar_size: str,
    *,
    live: bool,
    options: IbVenueOptions | None = None,
) -> AsyncIterator[TradingVenue]:
    """The IB bar source and broker for ``symbols`` at ``bar_size`` (closed on exit).

    Raises :class:`~algotrader.app.risk.LiveTradingRefusedError` for a live port or account
    without ``live``, :class:`~algotrader.errors.GatewayUnavailableError` when no gateway
    answers, :class:`~algotrader.errors.InvalidInputError` for a bar size IB cannot stream.
    """
    opts = options or IbVenueOptions()
    resolution = parse_resolution(bar_size)
    if not resolution.is_intraday:
        raise InvalidInputError(
            f"live trading on {resolution.name} bars is not supported",
            "use an intraday resolution such as 1m, 5m or 1h",
        )
    risk.refuse_live_port(settings, live)
    conn = IbConnection(settings, readonly=False, require_sync=True)
    try:
        ib = await conn.ensure()
        account = risk.resolve_account([a for a in ib.managedAccounts() if a], settings)
        paper = risk.check_trading_mode(account, settings, live)
        broker = IbBroker(conn, settings, account, is_paper=paper, retry=opts.retry)
        bars = IbLiveBarSource(
            conn,
            LiveBarsConfig(use_rth=opts.use_rth, retry=opts.retry, history_bars=opts.history_bars),
            pacer=opts.pacer,
        )
        try:
            # Unknown symbols fail here, in one line, before the session starts.
            for symbol in symbols:
                await bars.book.qualify(symbol)
            log.info(
                "IB venue on %s: account %s (%s), %d symbol(s) at %s",
                conn.where, account, "paper" if paper else "LIVE", len(symbols), resolution.name,
            )  # fmt: skip
            yield TradingVenue(bars, broker)
        finally:
            await bars.close()
            await broker.close()
    finally:
        await conn.close()
