"""``algotrader ib-sim``: run the TWS-protocol simulator in the foreground."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from algotrader.cli._common import settings_from
from algotrader.errors import InvalidInputError

if TYPE_CHECKING:
    from algotrader.ibsim import FeedConfig, IBSimulator

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
_FEED = typer.Option(
    None,
    "--feed",
    help="Replay bars as a live market: 'synthetic' (keepUpToDate history, 5-second bars, "
    "market data, fills at the forming bar's open). Without it, no live data.",
)
_SYMBOLS = typer.Option(
    "AAPL", "--symbols", help="Feed symbols, comma separated (from the simulator's table)."
)
_BAR_SIZE = typer.Option("1m", "--bar-size", help="Feed bar size: 1m, 5m, 15m, 30m or 1h.")
_SPEED = typer.Option(
    60.0, "--speed", help="Replay speed: 60 = one 1-minute bar per second of real time."
)
_HISTORY_BARS = typer.Option(
    390, "--history-bars", help="Feed bars that are already history when the simulator starts."
)
_START = typer.Option(
    None,
    "--start",
    help="Day (YYYY-MM-DD, UTC) the feed's history starts; default: a week ago.",
)
_MAX_FILL = typer.Option(
    None, "--max-fill-size", help="Fill larger orders in executions of at most this size."
)
_REJECT = typer.Option(
    None, "--reject-order", help="Reject the N-th order received (1-based, repeatable)."
)
_DROP_AFTER = typer.Option(
    None,
    "--drop-after-advances",
    help="Close every client connection after the N-th feed bar (the feed goes on).",
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
    feed: str | None = _FEED,
    symbols: str = _SYMBOLS,
    bar_size: str = _BAR_SIZE,
    speed: float = _SPEED,
    history_bars: int = _HISTORY_BARS,
    start: str | None = _START,
    max_fill_size: float | None = _MAX_FILL,
    reject_order: list[int] | None = _REJECT,
    drop_after_advances: int | None = _DROP_AFTER,
) -> None:
    """Run a TWS / IB Gateway simulator (synthetic bars, paper orders) until Ctrl-C.

    With ``--feed synthetic`` it replays bars at ``--speed`` as a live market, e.g.
    ``algotrader ib-sim --feed synthetic --symbols AAPL,MSFT --bar-size 1m --speed 60``.
    """
    from algotrader.ibsim import Faults, SimConfig, serve

    settings_from(ctx)  # sets up logging like every other command
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"invalid port {port}", "pass --port between 1 and 65535")
    if max_fill_size is not None and max_fill_size <= 0:
        raise InvalidInputError(f"invalid --max-fill-size {max_fill_size}", "pass a size above 0")
    replay = _feed_config(feed, symbols, bar_size, speed, history_bars, start)
    faults = Faults(
        pacing_limit=pacing_limit,
        pacing_window=pacing_window,
        latency=latency,
        no_data_symbols=frozenset(s.strip().upper() for s in no_data or [] if s.strip()),
        drop_on_historical_request=drop_on_request,
        pacing_violations=frozenset(pacing_violation or []),
        silent_historical_requests=frozenset(silent_on or []),
        reject_orders=frozenset(reject_order or []),
        drop_after_advances=drop_after_advances,
    )
    config = SimConfig(tick_interval=tick_interval, feed=replay, max_fill_size=max_fill_size)
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


def _feed_config(
    feed: str | None, symbols: str, bar_size: str, speed: float, history_bars: int,
    start: str | None,
) -> FeedConfig | None:
    """The ``--feed`` options as a :class:`FeedConfig` (None without ``--feed``)."""
    from algotrader.ibsim import DEFAULT_INSTRUMENTS, FeedConfig

    if feed is None:
        return None
    if feed != "synthetic":
        raise InvalidInputError(f"unknown --feed {feed!r}", "use --feed synthetic")
    names = tuple(s.strip().upper() for s in symbols.split(",") if s.strip())
    unknown = [s for s in names if s not in DEFAULT_INSTRUMENTS]
    if unknown:
        raise InvalidInputError(
            f"the simulator does not list {', '.join(unknown)}",
            f"use some of {', '.join(DEFAULT_INSTRUMENTS)}",
        )
    first_day = None
    if start is not None:
        try:
            first_day = datetime.strptime(start, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise InvalidInputError(f"invalid --start {start!r}", "use YYYY-MM-DD") from None
    return FeedConfig(names, bar_size, history_bars=history_bars, speed=speed, start=first_day)


def _ready(account: str) -> Callable[[IBSimulator], None]:
    def ready(sim: IBSimulator) -> None:
        typer.echo(
            f"ibsim: TWS simulator (API server version 178) listening on "
            f"{sim.host}:{sim.port}, paper account {account}."
        )
        if sim.replay is not None:
            cfg = sim.replay.feed.config
            typer.echo(
                f"Replaying synthetic {cfg.bar_size} bars of {', '.join(cfg.symbols)} at "
                f"{cfg.speed:g}x (one bar every {cfg.seconds_per_bar:g} s), from "
                f"{sim.feed_time:%Y-%m-%d %H:%M} UTC; keepUpToDate history, 5-second bars "
                "and market data stream."
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
