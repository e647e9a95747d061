"""``algotrader trade``: run a strategy live on a paper account (the backtested code trades).

    algotrader trade --strategy ma_cross -s AAPL,MSFT -r 1m --param fast=5 --param slow=20
    algotrader trade --strategy ma_cross -s AAPL -r 1m --replay stored --bars 500 --speed 60
    algotrader trade --strategy ma_cross -s AAPL -r 1m --broker ib        # TWS / IB Gateway paper
    algotrader trade --strategy ma_cross -s AAPL -r 1m --broker ib --to kafka   # bars to the stream
    algotrader trade status                    # sessions, positions, orders
    algotrader trade stop --flatten            # kill switch: cancel open orders, close positions

``--broker paper`` (the default) needs no account: bars of a synthetic (or stored) series are
replayed as if live (``--speed 60``: a minute per second; 0: as fast as possible) and the
internal paper broker fills each order at the next bar's open, like the backtest. Running the
same command again resumes the session (reconciled, nothing sent twice). A live account is
refused unless ``--live`` is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from algotrader.cli._common import console, parse_symbols, settings_from
from algotrader.errors import InvalidInputError

if TYPE_CHECKING:
    from algotrader.app.stream import KafkaSettings
    from algotrader.app.trading import TradeEvent, TradeRequest, TradeResult
    from algotrader.config import Settings

trade_app = typer.Typer(
    help="Trade a strategy live: paper broker (replayed bars) or IB paper account.",
    invoke_without_command=True,
)

_STRATEGY = typer.Option(None, "--strategy", help="Strategy name or path/file.py:Class.")
_SYMBOLS = typer.Option(None, "-s", "--symbols", help="Comma-separated symbols, e.g. AAPL,MSFT.")
_RESOLUTION = typer.Option("1m", "-r", "--resolution", help="Bar size, e.g. 1m, 5m, 1h.")
_PARAM = typer.Option(None, "--param", help="Strategy parameter k=v (repeatable).")
_BROKER = typer.Option("paper", "--broker", help="paper (no account) or ib (TWS / Gateway).")
_PAPER = typer.Option(False, "--paper", help="Paper trading (the default; refuses --live).")
_LIVE = typer.Option(False, "--live", help="Allow a live (real-money) account.")
_SESSION = typer.Option(None, "--session", help="Session name (default: from the settings).")
_REPLAY = typer.Option("synthetic", "--replay", help="Paper bars: synthetic or stored.")
_BARS = typer.Option(1000, "--bars", help="Paper: how many bars per symbol to replay.")
_SPEED = typer.Option(0.0, "--speed", help="Paper: replay speed, 60 = a minute/s; 0 = max.")
_WARMUP = typer.Option(200, "--warmup", help="Stored bars the strategy sees before trading.")
_MAX_BARS = typer.Option(None, "--max-bars", help="Stop after this many bars.")
_CASH = typer.Option(100_000.0, "--cash", help="Cash the sizing starts from (per symbol).")
_SIZING = typer.Option("all_in", "--sizing", help="all_in, percent, cash, shares, volatility.")
_SIZE = typer.Option(None, "--size", help="The number --sizing reads.")
_SHORT = typer.Option(False, "--allow-short", help="SELL opens a short position.")
_FRACTIONAL = typer.Option(False, "--fractional", help="Fractional shares (default: whole).")
_PER_SHARE = typer.Option(0.0, "--commission-per-share", help="Commission per share.")
_BPS = typer.Option(0.0, "--commission-bps", help="Commission in basis points of the value.")
_MIN = typer.Option(0.0, "--commission-min", help="Minimum commission per order.")
_SLIPPAGE = typer.Option(0.0, "--slippage-bps", help="Paper fills' adverse move, in bps.")
_MAX_POSITION = typer.Option(None, "--max-position", help="Max shares held per symbol.")
_MAX_VALUE = typer.Option(None, "--max-position-value", help="Max value held per symbol.")
_MAX_GROSS = typer.Option(None, "--max-gross-exposure", help="Max sum of position values.")
_MAX_RATE = typer.Option(None, "--max-orders-per-minute", help="Max orders in any minute.")
_MAX_LOSS = typer.Option(None, "--daily-loss-limit", help="Stop trading for the day at this loss.")
_QUIET = typer.Option(False, "--quiet", help="Only the summary (no order and fill lines).")
_HOST = typer.Option(None, "--host", help="--broker ib: gateway host (ALGOTRADER_IB_HOST).")
_PORT = typer.Option(None, "--port", help="--broker ib: gateway port (ALGOTRADER_IB_PORT).")
_CLIENT_ID = typer.Option(None, "--client-id", help="--broker ib: API clientId.")
_TO = typer.Option("db", "--to", help="Live bars: db (store them) or kafka (publish them).")
_BOOTSTRAP = typer.Option(
    None, "--bootstrap", help="With --to kafka: host:port (default: ALGOTRADER_KAFKA_BOOTSTRAP)."
)


def _params(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"invalid --param {pair!r}", "use --param name=value")
        out[key.strip()] = value.strip()
    return out


def _printer(quiet: bool) -> Callable[[TradeEvent], None]:
    def show(event: TradeEvent) -> None:
        if quiet and event.kind in ("order", "fill"):
            return
        console.print(event.text)

    return show


def _summary(result: TradeResult) -> None:
    p50 = "n/a" if result.latency_p50_ms is None else f"{result.latency_p50_ms:.1f} ms"
    p99 = "n/a" if result.latency_p99_ms is None else f"{result.latency_p99_ms:.1f} ms"
    console.print(
        f"Session {result.session} ({result.broker}, account {result.account}) "
        f"{result.stopped_by}: bars={result.bars} orders={result.orders} "
        f"rejected={result.rejected} fills={result.fills} "
        f"not_resent={result.duplicates_skipped} latency p50={p50} p99={p99}"
    )
    held = ", ".join(f"{s} {q:g}" for s, q in result.positions.items()) or "none"
    console.print(f"Positions: {held}")


@trade_app.callback()
def trade(
    ctx: typer.Context,
    strategy: str | None = _STRATEGY,
    symbols: str | None = _SYMBOLS,
    resolution: str = _RESOLUTION,
    param: list[str] | None = _PARAM,
    broker: str = _BROKER,
    paper: bool = _PAPER,
    live: bool = _LIVE,
    session: str | None = _SESSION,
    replay: str = _REPLAY,
    bars: int = _BARS,
    speed: float = _SPEED,
    warmup: int = _WARMUP,
    max_bars: int | None = _MAX_BARS,
    cash: float = _CASH,
    sizing: str = _SIZING,
    size: float | None = _SIZE,
    allow_short: bool = _SHORT,
    fractional: bool = _FRACTIONAL,
    commission_per_share: float = _PER_SHARE,
    commission_bps: float = _BPS,
    commission_min: float = _MIN,
    slippage_bps: float = _SLIPPAGE,
    max_position: float | None = _MAX_POSITION,
    max_position_value: float | None = _MAX_VALUE,
    max_gross_exposure: float | None = _MAX_GROSS,
    max_orders_per_minute: int | None = _MAX_RATE,
    daily_loss_limit: float | None = _MAX_LOSS,
    quiet: bool = _QUIET,
    host: str | None = _HOST,
    port: int | None = _PORT,
    client_id: int | None = _CLIENT_ID,
    to: str = _TO,
    bootstrap: str | None = _BOOTSTRAP,
) -> None:
    """Run (or resume) a trading session until the feed ends, --max-bars, or `trade stop`."""
    if ctx.invoked_subcommand is not None:
        return
    if strategy is None or symbols is None:
        raise InvalidInputError("trade needs --strategy and -s/--symbols", "e.g. "
                                "algotrader trade --strategy ma_cross -s AAPL -r 1m")  # fmt: skip
    if paper and live:
        raise InvalidInputError("--paper and --live contradict each other", "pass one of them")
    from algotrader.app.trading import ReplaySpec, TradeRequest
    from algotrader.backtest.config import BacktestConfig
    from algotrader.trading.risk import RiskLimits

    request = TradeRequest(
        strategy=strategy, symbols=tuple(parse_symbols(symbols)), resolution=resolution,
        params=_params(param), broker=broker, live=live,  # type: ignore[arg-type]
        config=BacktestConfig(
            cash=cash, sizing=sizing, size=size, allow_short=allow_short,  # type: ignore[arg-type]
            whole_shares=not fractional, commission_per_share=commission_per_share,
            commission_bps=commission_bps, commission_min=commission_min,
            slippage_bps=slippage_bps,
        ),
        limits=RiskLimits(max_position, max_position_value, max_gross_exposure,
                          max_orders_per_minute, daily_loss_limit),
        replay=ReplaySpec(source=replay, bars=bars, speed=speed),  # type: ignore[arg-type]
        session=session, warmup=warmup, max_bars=max_bars, publish_to=_stream(to, bootstrap),
    )  # fmt: skip
    settings = settings_from(ctx, ib_host=host, ib_port=port, ib_client_id=client_id)
    _run(settings, request, quiet)


def _stream(to: str, bootstrap: str | None) -> KafkaSettings | None:
    """``--to``: None (store the bars) or the price stream to publish them to."""
    if to not in ("db", "kafka"):
        raise InvalidInputError(f"unknown destination --to {to!r}", "use --to db or --to kafka")
    if to == "db":
        return None
    from algotrader.cli.stream import kafka_settings

    return kafka_settings(bootstrap)


def _run(settings: Settings, request: TradeRequest, quiet: bool) -> None:
    import asyncio

    from algotrader.app.trading import run_trading

    result = asyncio.run(run_trading(settings, request, _printer(quiet)))
    _summary(result)


@trade_app.command("stop")
def stop(
    ctx: typer.Context,
    session: str | None = typer.Option(None, "--session", help="One session (default: all)."),
    flatten: bool = typer.Option(False, "--flatten", help="Also close the positions."),
) -> None:
    """Kill switch: running sessions cancel their open orders (and flatten) and stop."""
    from algotrader.app.trading import stop_trading

    result = stop_trading(settings_from(ctx), session, flatten=flatten)
    if not result.sessions:
        console.print("No running trading session.")
        return
    what = "cancel open orders, flatten and stop" if flatten else "cancel open orders and stop"
    for name in result.sessions:
        state = (
            "running: it acts within a second"
            if name in result.running
            else "not running: a paper session is stopped now, an IB one when resumed"
        )
        console.print(f"Session {name} asked to {what} ({state}).")


@trade_app.command("status")
def status(
    ctx: typer.Context,
    session: str | None = typer.Option(None, "--session", help="One session (default: all)."),
) -> None:
    """Sessions with their state, positions (from the fills) and order counts."""
    from algotrader.app.trading import trading_status

    found = trading_status(settings_from(ctx), session)
    if not found:
        console.print("No trading sessions.")
        return
    table = Table("session", "strategy", "symbols", "broker", "state", "last bar (UTC)",
                  "orders", "filled", "rejected", "positions")  # fmt: skip
    for s in found:
        last = max((t for t in s.last_bars.values() if t is not None), default=None)
        held = ", ".join(f"{k} {v:g}" for k, v in s.positions.items()) or "-"
        table.add_row(
            s.session.name, s.session.strategy, ",".join(s.session.symbols),
            f"{s.session.broker} {s.session.account or ''}", s.session.state,
            "-" if last is None else f"{last:%Y-%m-%d %H:%M}", str(s.orders), str(s.filled),
            str(s.rejected), held,
        )  # fmt: skip
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``trade`` command group to ``app``."""
    app.add_typer(trade_app, name="trade")
