"""``algotrader demo``: the README's main job on the embedded default (no IB account needed)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from algotrader.cli._common import console, fmt_metric, parse_symbols, settings_from
from algotrader.cli.backtest import announce_compile
from algotrader.cli.ingest import ConsoleListener

if TYPE_CHECKING:
    from algotrader.app.backtests import StoredRun


def demo(
    ctx: typer.Context,
    symbols: str = typer.Option("AAPL,MSFT,SPY", "-s", "--symbols", help="Symbols to ingest."),
) -> None:
    """Ingest a few symbols from the built-in IBKR simulator at 1d and 1h (synthetic bars),
    backtest every built-in strategy on them and draw charts."""
    from algotrader.app.demo import run_demo
    from algotrader.config import mask_url

    started = time.perf_counter()
    settings = settings_from(ctx)
    chosen = tuple(parse_symbols(symbols))

    def announce(host: str, port: int) -> None:
        console.print(
            f"algotrader demo: IBKR simulator on {host}:{port} (synthetic bars) "
            f"-> {mask_url(settings.db_url)}"
        )

    def backtesting(strategies: int, symbols: int) -> None:
        console.print(f"Backtesting {strategies} built-in strategies on {symbols} symbols ...")
        announce_compile()

    with ConsoleListener("demo", 2 * len(chosen)) as listener:
        result = run_demo(
            settings, chosen, listener, on_simulator=announce, on_backtests=backtesting
        )
    bars = sum(r.fetched for r in result.reports)
    best = result.runs[0]
    console.print()
    console.print(_ranking(result.runs))
    console.print(
        f"Demo complete in {time.perf_counter() - started:.1f}s: {len(chosen)} symbols x "
        f"(1d, 1h), {bars:,} synthetic bars with indicators stored, {len(result.runs)} backtests "
        "stored (`algotrader runs list`)."
    )
    console.print(f"Database: {mask_url(settings.db_url)}")
    console.print(f"Saved plot: {result.price_chart}")
    console.print(
        f"Saved plot: {result.best_chart} (best: {best.result.strategy} on {best.symbol})"
    )
    console.print(
        "Next: `algotrader instruments list`, `algotrader db check`, "
        '`algotrader ingest -s TSLA -r 1h -d "30 D" --source synthetic`.'
    )


def _ranking(runs: list[StoredRun]) -> Table:
    table = Table(
        title="Built-in strategies on 5 Y of daily bars (synthetic data), best first; "
        "buy & hold from the first bar of the window",
        title_justify="left",
    )
    for column in (
        "#",
        "strategy",
        "symbol",
        "return",
        "buy & hold",
        "sharpe",
        "max drawdown",
        "trades",
    ):
        table.add_column(column, justify="left" if column in ("strategy", "symbol") else "right")
    for rank, run in enumerate(runs, start=1):
        m = run.result.metrics
        table.add_row(
            str(rank),
            run.result.strategy,
            run.symbol,
            fmt_metric("total_return", m["total_return"]),
            fmt_metric("buy_hold_return", m["buy_hold_return"]),
            fmt_metric("sharpe", m["sharpe"]),
            fmt_metric("max_drawdown", m["max_drawdown"]),
            str(m["num_trades"]),
        )
    return table


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
