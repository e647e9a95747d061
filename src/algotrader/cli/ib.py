"""``algotrader ib check``: is TWS / IB Gateway (or ``algotrader ib-sim``) there, and what is it?

Prints the server version, the managed accounts, whether this is paper or live trading (by port
and by account prefix), and the server's clock with its offset from the local one. Nothing
answering is one line and exit code 2.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import typer

from algotrader.cli._common import console, settings_from
from algotrader.config import Settings
from algotrader.errors import GatewayUnavailableError
from algotrader.ibkr.connection import connect_ib, is_live_port, is_paper_account, is_simulator

ib_app = typer.Typer(
    help="Interactive Brokers (TWS / IB Gateway) utilities.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


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


def report_lines(facts: GatewayFacts) -> list[str]:
    """The lines ``ib check`` prints."""
    port_kind = "a live-trading port" if facts.live_port else "not a live-trading port"
    accounts = ", ".join(facts.accounts) or "(none)"
    account_kind = "paper" if facts.paper_accounts else "live"
    mode = {
        "paper": "PAPER trading",
        "live": "LIVE trading (real money)",
        "mixed": "UNCLEAR: port and account prefix disagree; treat it as LIVE",
    }[facts.mode]
    gateway = "algotrader ib-sim (simulator: synthetic bars, paper fills)" if facts.simulator \
        else "TWS / IB Gateway"
    return [
        f"Connected to TWS/IB Gateway at {facts.host}:{facts.port} (clientId {facts.client_id}).",
        f"Gateway: {gateway}",
        f"Server version: {facts.server_version}",
        f"Accounts: {accounts} ({account_kind} account prefix)",
        f"Mode: {mode} (port {facts.port} is {port_kind})",
        f"Server time: {facts.server_time:%Y-%m-%d %H:%M:%S} UTC "
        f"(offset from local clock: {facts.offset_seconds:+.1f} s; "
        "the server reports whole seconds)",
    ]


def check_connection(settings: Settings) -> GatewayFacts:
    """Blocking form of :func:`gateway_facts`, printing the report."""
    facts = asyncio.run(gateway_facts(settings))
    for line in report_lines(facts):
        console.print(line)
    return facts


@ib_app.command("check")
def check(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Default: ALGOTRADER_IB_HOST."),
    port: int | None = typer.Option(None, "--port", help="Default: ALGOTRADER_IB_PORT (7497)."),
    client_id: int | None = typer.Option(
        None, "--client-id", help="Default: ALGOTRADER_IB_CLIENT_ID (1)."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", help="Seconds to wait for the handshake (ALGOTRADER_IB_TIMEOUT)."
    ),
) -> None:
    """Connect to TWS / IB Gateway and show version, accounts, paper or live, server time."""
    settings = settings_from(
        ctx, ib_host=host, ib_port=port, ib_client_id=client_id, ib_timeout=timeout
    )
    check_connection(settings)


def register(app: typer.Typer) -> None:
    """Add the ``ib`` command group to ``app``."""
    app.add_typer(ib_app, name="ib")
