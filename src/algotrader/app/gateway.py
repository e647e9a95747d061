"""Is TWS / IB Gateway (or `algotrader ib-sim`) there, and what is it? (`algotrader ib check`)"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from algotrader.config import Settings
from algotrader.errors import GatewayUnavailableError
from algotrader.ibkr.connection import connect_ib, is_live_port, is_paper_account, is_simulator


@dataclass(frozen=True)
class GatewayFacts:
    """What ``ib check`` learns from one connection."""

    host: str
    port: int
    client_id: int
    server_version: int
    accounts: list[str]
    server_time: datetime
    offset_seconds: float  # server clock minus local clock
    simulator: bool = False  # algotrader ib-sim (synthetic bars), not TWS / IB Gateway

    @property
    def live_port(self) -> bool:
        return is_live_port(self.port)

    @property
    def paper_accounts(self) -> bool:
        return bool(self.accounts) and all(is_paper_account(a) for a in self.accounts)

    @property
    def mode(self) -> str:
        """``paper``, ``live``, or ``mixed`` when port and accounts disagree."""
        if self.paper_accounts and not self.live_port:
            return "paper"
        if not self.paper_accounts and self.live_port:
            return "live"
        return "mixed"


async def gateway_facts(settings: Settings) -> GatewayFacts:
    """Connect read-only, ask for accounts and the server's time, disconnect."""
    async with connect_ib(settings, readonly=True) as ib:
        before = time.time()
        try:
            server_time = await asyncio.wait_for(ib.reqCurrentTimeAsync(), settings.ib_timeout)
        except TimeoutError:
            raise GatewayUnavailableError(
                f"TWS/IB Gateway at {settings.ib_host}:{settings.ib_port} did not answer the "
                f"current-time request within {settings.ib_timeout:g} s",
                "check that TWS/IB Gateway is responsive (restart it if needed), or raise "
                "--timeout",
            ) from None
        after = time.time()
        if server_time.tzinfo is None:
            server_time = server_time.replace(tzinfo=UTC)
        # The server stamped its time somewhere during the round trip: compare with the middle.
        local_mid = (before + after) / 2
        return GatewayFacts(
            host=settings.ib_host,
            port=settings.ib_port,
            client_id=settings.ib_client_id,
            server_version=int(ib.client.serverVersion()),
            accounts=list(ib.managedAccounts()),
            server_time=server_time.astimezone(UTC),
            offset_seconds=server_time.timestamp() - local_mid,
            simulator=is_simulator(ib),
        )


def check_gateway(settings: Settings) -> GatewayFacts:
    """Blocking form of :func:`gateway_facts`."""
    return asyncio.run(gateway_facts(settings))
