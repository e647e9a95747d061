"""``algotrader ib-sim``: run the TWS-protocol simulator in the foreground."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from algotrader.cli._common import settings_from
from algotrader.errors import InvalidInputError

if TYPE_CHECKING:
    from algotrader.ibsim import IBSimulator

# A module-level default: a list-typed option built inline would be a call in a default (B008).
_NO_DATA = typer.Option(
    None, "--no-data", help="Symbol whose history returns 162 no data (repeatable)."
)
_PACING_VIOLATION = typer.Option(
    None,
    "--pacing-violation",
    help="Answer the N-th historical request (1-based) with 162 pacing violation (repeatable).",
)
_SILENT = typer.Option(
    None, "--silent-on", help="Never answer the N-th historical request (repeatable)."
)


_HOST = typer.Option("127.0.0.1", "--host", help="Interface to listen on.")
_PORT = typer.Option(7497, "--port", help="Port (7497 = TWS paper by convention).")
_ACCOUNT = typer.Option("DU1234567", "--account", help="Paper account to report.")
_PACING_LIMIT = typer.Option(
    None,
    "--pacing-limit",
    help="Refuse historical requests with 162 pacing violation after this many within "
    "--pacing-window seconds (IB's wall-clock rule).",
)
_PACING_WINDOW = typer.Option(
    600.0, "--pacing-window", help="Seconds the pacing limit counts over."
)
_LATENCY = typer.Option(0.0, "--latency", help="Seconds added to every reply.")
_DROP = typer.Option(
    None,
    "--drop-on-request",
    help="Drop the connection in the middle of the N-th historical request.",
)
_TICK = typer.Option(
    0.5, "--tick-interval", help="Seconds between simulated price ticks (order fills)."
)
_STRICT = typer.Option(
    False, "--strict", help="Hang up on any message the simulator does not handle."
)


def ib_sim(
    ctx: typer.Context,
    host: str = _HOST,
    port: int = _PORT,
    account: str = _ACCOUNT,
    pacing_limit: int | None = _PACING_LIMIT,
    pacing_window: float = _PACING_WINDOW,
    latency: float = _LATENCY,
    no_data: list[str] | None = _NO_DATA,
    pacing_violation: list[int] | None = _PACING_VIOLATION,
    silent_on: list[int] | None = _SILENT,
    drop_on_request: int | None = _DROP,
    tick_interval: float = _TICK,
    strict: bool = _STRICT,
) -> None:
    """Run a TWS / IB Gateway simulator (synthetic bars, paper orders) until Ctrl-C."""
    from algotrader.ibsim import Faults, SimConfig, serve

    settings_from(ctx)  # sets up logging like every other command
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"invalid port {port}", "pass --port between 1 and 65535")
    faults = Faults(
        pacing_limit=pacing_limit,
        pacing_window=pacing_window,
        latency=latency,
        no_data_symbols=frozenset(s.strip().upper() for s in no_data or [] if s.strip()),
        drop_on_historical_request=drop_on_request,
        pacing_violations=frozenset(pacing_violation or []),
        silent_historical_requests=frozenset(silent_on or []),
    )
    config = SimConfig(tick_interval=tick_interval)
    try:
        serve(
            host,
            port,
            account=account,
            faults=faults,
            strict=strict,
            config=config,
            on_ready=_ready(account),
        )
    except OSError as exc:
        raise InvalidInputError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc})",
            "pass another --port, or stop whatever already listens there",
        ) from None
    typer.echo("ibsim: stopped.")


def _ready(account: str) -> Callable[[IBSimulator], None]:
    def ready(sim: IBSimulator) -> None:
        typer.echo(
            f"ibsim: TWS simulator (API server version 178) listening on "
            f"{sim.host}:{sim.port}, paper account {account}."
        )
        typer.echo("Point algotrader at it, e.g.:")
        typer.echo(
            f"  ALGOTRADER_IB_HOST={sim.host} ALGOTRADER_IB_PORT={sim.port} "
            'algotrader ingest -s AAPL -r 1d -d "1 Y" --source ibsim'
        )
        typer.echo("Bars are synthetic (not market prices). Press Ctrl-C to stop.")

    return ready


def register(app: typer.Typer) -> None:
    """Add the ``ib-sim`` command to ``app``."""
    app.command("ib-sim")(ib_sim)
