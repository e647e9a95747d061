"""``algotrader demo``: the README's main job on the embedded default (no IB account needed).

It starts the TWS simulator in-process and ingests through the real ``ib_async`` client path
(contract qualification, chunked historical requests, pacing), so what runs is what would run
against TWS; the simulator's bars are synthetic and labelled so.
"""

from __future__ import annotations

import time

import typer
from rich.table import Table

from algotrader.backtest.result import BacktestConfig
from algotrader.backtest.runner import StoredRun, run_stored_backtest
from algotrader.cli._common import console, open_db, parse_symbols, settings_from
from algotrader.cli.ingest import run_ingest
from algotrader.config import mask_url
from algotrader.data.ingest import IngestWindow
from algotrader.db.engine import Database
from algotrader.db.store import BarStore
from algotrader.ibsim import SimConfig, start_in_thread
from algotrader.plotting import backtest_chart, plot_path, price_chart
from algotrader.strategies.registry import list_strategies
from algotrader.timeframes import parse_duration, parse_resolution

DEMO_SYMBOLS = "AAPL,MSFT,SPY"


def demo(
    ctx: typer.Context,
    symbols: str = typer.Option(DEMO_SYMBOLS, "-s", "--symbols", help="Symbols to ingest."),
) -> None:
    """Ingest a few symbols from the built-in IBKR simulator at 1d and 1h (synthetic bars),
    backtest every built-in strategy on them and draw charts."""
    started = time.perf_counter()
    settings = settings_from(ctx)
    chosen = parse_symbols(symbols)
    with start_in_thread(SimConfig(port=0, strict=False)) as sim:
        console.print(
            f"algotrader demo: IBKR simulator on {sim.host}:{sim.port} (synthetic bars) "
            f"-> {mask_url(settings.db_url)}"
        )
        through_sim = settings.model_copy(update={"ib_host": sim.host, "ib_port": sim.port})
        reports = run_ingest(
            through_sim,
            chosen,
            [parse_resolution("1d")],
            IngestWindow(parse_duration("5 Y")),
            source="ibsim",
        )
        reports += run_ingest(
            through_sim,
            chosen,
            [parse_resolution("1h")],
            IngestWindow(parse_duration("3 M")),
            source="ibsim",
        )
    db = open_db(settings)
    try:
        frame = BarStore(db).load_bars(chosen[0], "1d")
        runs = _run_builtins(db, chosen)
    finally:
        db.dispose()
    chart = price_chart(
        frame, chosen[0], "1d", plot_path(settings.plots_dir, chosen[0], "1d"), synthetic=True
    )
    best = runs[0]
    best_chart = backtest_chart(
        best.frame,
        best.result,
        best.symbol,
        plot_path(settings.plots_dir, best.symbol, "1d", "full"),
        full=True,
        synthetic=best.synthetic,
    )
    bars = sum(r.fetched for r in reports)
    console.print()
    console.print(_ranking(runs))
    console.print(
        f"Demo complete in {time.perf_counter() - started:.1f}s: {len(chosen)} symbols x "
        f"(1d, 1h), {bars:,} synthetic bars with indicators stored, {len(runs)} backtests "
        "stored (`algotrader runs list`)."
    )
    console.print(f"Database: {mask_url(settings.db_url)}")
    console.print(f"Saved plot: {chart}")
    console.print(f"Saved plot: {best_chart} (best: {best.result.strategy} on {best.symbol})")
    console.print(
        "Next: `algotrader instruments list`, `algotrader db check`, "
        '`algotrader ingest -s TSLA -r 1h -d "30 D" --source synthetic`.'
    )


def _run_builtins(db: Database, symbols: list[str]) -> list[StoredRun]:
    """Every built-in strategy on every symbol's daily bars, best total return first."""
    names = [info.name for info in list_strategies() if info.source == "builtin"]
    runs = [
        run_stored_backtest(db, symbol, parse_resolution("1d"), name, {}, BacktestConfig())
        for symbol in symbols
        for name in names
    ]
    runs.sort(key=lambda run: (-run.result.metrics["total_return"], run.symbol))
    return runs


def _ranking(runs: list[StoredRun]) -> Table:
    table = Table(
        title="Built-in strategies on 5 Y of daily bars (synthetic data), best first",
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
            f"{m['total_return'] * 100:.2f}%",
            f"{m['buy_hold_return'] * 100:.2f}%",
            f"{m['sharpe']:.2f}",
            f"{m['max_drawdown'] * 100:.2f}%",
            str(m["num_trades"]),
        )
    return table


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
