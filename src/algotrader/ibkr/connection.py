"""Connecting to TWS / IB Gateway (or ``algotrader ib-sim``) through ``ib_async``.

Everything that can go wrong at connect time becomes one :class:`GatewayUnavailableError` line:
which host and port were tried and the ways out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ib_async import IB

from algotrader.config import Settings
from algotrader.errors import GatewayUnavailableError

log = logging.getLogger(__name__)

LIVE_PORTS = frozenset({7496, 4001})
PAPER_PORTS = frozenset({7497, 4002})


def is_live_port(port: int) -> bool:
    """TWS live (7496) and IB Gateway live (4001) by IB's convention."""
    return port in LIVE_PORTS


def is_paper_account(account: str) -> bool:
    """IB paper accounts start with ``DU`` (individual) or ``DF`` (advisor paper)."""
    return account.upper().startswith(("DU", "DF"))


def _ways_out(settings: Settings) -> str:
    return (
        "start TWS or IB Gateway with the API enabled, or run `algotrader ib-sim --port "
        f"{settings.ib_port}` in another terminal, or use --source synthetic|csv"
    )


@asynccontextmanager
async def connect_ib(
    settings: Settings,
    *,
    client_id: int | None = None,
    readonly: bool = True,
    timeout: float | None = None,
) -> AsyncIterator[IB]:
    """An ``IB`` connected to ``settings.ib_host:ib_port``; disconnected on exit.

    ``readonly`` skips the order sync at connect (data-only sessions). Raises
    :class:`GatewayUnavailableError` when nothing answers, the handshake times out (a clientId
    already in use looks like that), or the API refuses the connection.
    """
    ib = IB()
    cid = settings.ib_client_id if client_id is None else client_id
    where = f"{settings.ib_host}:{settings.ib_port}"
    try:
        await ib.connectAsync(
            settings.ib_host,
            settings.ib_port,
            clientId=cid,
            timeout=timeout or settings.ib_timeout,
            readonly=readonly,
            account=settings.ib_account,
        )
    # TimeoutError and ConnectionError are OSErrors: they must be caught before OSError.
    except TimeoutError:
        ib.disconnect()
        raise GatewayUnavailableError(
            f"TWS/IB Gateway at {where} did not complete the API handshake (clientId {cid} may "
            "be in use, or the API is disabled)",
            f"set another ALGOTRADER_IB_CLIENT_ID, or {_ways_out(settings)}",
        ) from None
    except ConnectionRefusedError as exc:
        ib.disconnect()
        reason = exc.strerror or type(exc).__name__ if isinstance(exc, OSError) else str(exc)
        raise GatewayUnavailableError(
            f"no TWS/IB Gateway answers at {where} ({reason})", _ways_out(settings)
        ) from None
    except ConnectionError as exc:  # after refused: that one is a ConnectionError too
        ib.disconnect()
        raise GatewayUnavailableError(
            f"TWS/IB Gateway at {where} closed the connection ({exc})", _ways_out(settings)
        ) from None
    except OSError as exc:
        ib.disconnect()
        reason = exc.strerror or type(exc).__name__ if isinstance(exc, OSError) else str(exc)
        raise GatewayUnavailableError(
            f"no TWS/IB Gateway answers at {where} ({reason})", _ways_out(settings)
        ) from None
    try:
        yield ib
    finally:
        ib.disconnect()
