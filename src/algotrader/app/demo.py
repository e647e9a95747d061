"""The demo: the README's main job on the embedded default, with no IB account.

It starts the TWS simulator in-process and ingests through the real ``ib_async`` client path
(contract qualification, chunked historical requests, pacing), so what runs is what would run
against TWS; the simulator's bars are synthetic and labelled so. Then every built-in strategy is
backtested on every symbol's daily bars and the best run is charted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from algotrader.app._stores import open_stores
from algotrader.app.backtests import BacktestRequest, StoredRun, run_stored
from algotrader.app.charts import save_backtest_chart
from algotrader.app.ingest import IngestListener, IngestRequest, IngestWindow, ingest
from algotrader.app.pipeline import IngestReport
from algotrader.config import Settings
from algotrader.strategies.registry import list_strategies
from algotrader.timeframes import RESOLUTIONS, Duration

DEMO_SYMBOLS = ("AAPL", "MSFT", "SPY")


@dataclass(frozen=True)
class DemoResult:
    reports: list[IngestReport]
    runs: list[StoredRun]  # best total return first
    price_chart: Path
    best_chart: Path


def run_demo(
    settings: Settings,
    symbols: tuple[str, ...] = DEMO_SYMBOLS,
    listener: IngestListener | None = None,
    on_simulator: Callable[[str, int], None] | None = None,
    on_backtests: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Ingest ``symbols`` at 1d (5 Y) and 1h (3 M) from the simulator, backtest every built-in
    strategy on the daily bars, chart the first symbol and the best run.

    ``on_simulator(host, port)`` is told where the simulator listens, ``on_backtests(strategies,
    symbols)`` when the backtests start."""
    from algotrader.ibsim import SimConfig, start_in_thread
    from algotrader.plotting import plot_path, price_chart

    with start_in_thread(SimConfig(port=0, strict=False)) as sim:
        if on_simulator is not None:
            on_simulator(sim.host, sim.port)
        through_sim = settings.model_copy(update={"ib_host": sim.host, "ib_port": sim.port})
        reports = [
            *ingest(through_sim, _request(symbols, "1d", Duration(5, "Y")), listener),
            *ingest(through_sim, _request(symbols, "1h", Duration(3, "M")), listener),
        ]
    names = [info.name for info in list_strategies() if info.source == "builtin"]
    if on_backtests is not None:
        on_backtests(len(names), len(symbols))
    with open_stores(settings) as stores:
        frame = stores.bars.load_bars(symbols[0], "1d")
        runs = [
            run_stored(stores, BacktestRequest(symbol, RESOLUTIONS["1d"], name))
            for symbol in symbols
            for name in names
        ]
    runs.sort(key=lambda run: (-run.result.metrics["total_return"], run.symbol))
    chart = price_chart(
        frame, symbols[0], "1d", plot_path(settings.plots_dir, symbols[0], "1d"), synthetic=True
    )
    return DemoResult(reports, runs, chart, save_backtest_chart(settings, runs[0], full=True))


def _request(symbols: tuple[str, ...], resolution: str, duration: Duration) -> IngestRequest:
    return IngestRequest(
        symbols, (RESOLUTIONS[resolution],), IngestWindow(duration), source="ibsim"
    )
