"""``algotrader ib check``: is TWS / IB Gateway (or ``algotrader ib-sim``) there, and what is it?

Prints the server version, the managed accounts, whether this is paper or live trading (by port
and by account prefix), and the server's clock with its offset from the local one. Nothing
answering is one line and exit code 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from algotrader.cli._common import console, settings_from

if TYPE_CHECKING:
    from algotrader.app.gateway import GatewayFacts
    from algotrader.config import Settings

ib_app = typer.Typer(
    help="Interactive Brokers (TWS / IB Gateway) utilities.",
    no_args_is_help=True,
    rich_markup_mode=None,
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
    """Check the gateway and print the report."""
    from algotrader.app.gateway import check_gateway

    facts = check_gateway(settings)
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
