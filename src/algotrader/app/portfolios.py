"""Portfolio use cases: backtest a basket of stored series sharing one cash account, store the
run, rerun it.

The bars of every symbol (and of the benchmark) come from the store, fetched first with
``auto_fetch``; sectors and industries come from the ``instruments`` table unless given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from algotrader.app._provenance import code_version
from algotrader.app._stores import Stores, open_stores
from algotrader.app.bars import DEFAULT_FETCH, ensure_bars, load_bars, load_window
from algotrader.app.ingest import IngestListener
from algotrader.config import Settings
from algotrader.data.providers import is_synthetic
from algotrader.errors import InvalidInputError
from algotrader.portfolio import Portfolio, PortfolioResult
from algotrader.portfolio import rerun as rerun_portfolio_result
from algotrader.portfolio.registry import get_allocator
from algotrader.ports.runs import RunRecord
from algotrader.timeframes import Duration, Resolution

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PortfolioRequest:
    """One allocation over ``symbols``.

    ``settings`` are :class:`~algotrader.portfolio.PortfolioConfig` fields (costs, caps, ``fill``,
    ``benchmark`` ...); ``params`` the allocator's (``lookback=63``, ``strategy="rsi"`` ...).
    """

    symbols: tuple[str, ...]
    resolution: Resolution
    allocator: str = "equal"
    rebalance: str = "monthly"
    params: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    duration: Duration | None = None
    auto_fetch: bool = False
    fetch_duration: Duration | None = None
    source: str | None = None


@dataclass(frozen=True)
class StoredPortfolio:
    run_id: int
    result: PortfolioResult
    sources: frozenset[str]

    @property
    def synthetic(self) -> bool:
        return is_synthetic(self.sources)


def run_portfolio(
    settings: Settings, request: PortfolioRequest, listener: IngestListener | None = None
) -> StoredPortfolio:
    """Run ``request`` on the stored bars (fetching them first with ``auto_fetch``); store it."""
    if len(request.symbols) < 1:
        raise InvalidInputError("a portfolio needs symbols", "pass -s AAPL,MSFT,SPY")
    benchmark = request.settings.get("benchmark")
    if request.auto_fetch:
        for symbol in (*request.symbols, *([benchmark] if benchmark else [])):
            duration = request.fetch_duration or DEFAULT_FETCH
            ensure_bars(
                settings,
                symbol,
                request.resolution,
                duration,
                source=request.source,
                listener=listener,
            )
    with open_stores(settings) as stores:
        bars = {
            s: load_bars(stores, s, request.resolution, request.duration) for s in request.symbols
        }
        benchmark_bars = _benchmark_bars(stores, request, benchmark)
        config = {"sectors": _sectors(stores, request.symbols), **request.settings}
        portfolio = Portfolio(
            bars,
            request.allocator,
            request.rebalance,
            resolution=request.resolution,
            benchmark_bars=benchmark_bars,
            **config,
        )
        result = portfolio.run(**request.params)
        sources = frozenset().union(
            *(stores.bars.sources(s, request.resolution.name) for s in request.symbols)
        )
        run_id = stores.runs.add(_record(result, request, sources, benchmark_bars))
    log.info("run %d: portfolio %s %s", run_id, ",".join(request.symbols), result.summary())
    return StoredPortfolio(run_id, result, sources)


def _benchmark_bars(
    stores: Stores, request: PortfolioRequest, benchmark: str | None
) -> pd.DataFrame | None:
    if not benchmark or benchmark in request.symbols:
        return None
    return load_bars(stores, benchmark, request.resolution, request.duration)


def _sectors(stores: Stores, symbols: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """Sector and industry of every symbol that has them in ``instruments``."""
    found = {}
    for symbol in symbols:
        info = stores.instruments.get(symbol)
        if info is not None and info.sector:
            found[symbol] = (info.sector, info.industry or info.sector)
    return found


def basket_name(symbols: tuple[str, ...] | list[str]) -> str:
    """What the runs table shows in its symbol column for a portfolio (32 characters at most)."""
    joined = ",".join(symbols)
    return joined if len(joined) <= 32 else f"{len(symbols)} symbols"


def _record(
    result: PortfolioResult,
    request: PortfolioRequest,
    sources: frozenset[str],
    benchmark_bars: pd.DataFrame | None,
) -> RunRecord:
    document = result.to_dict()
    allocator = get_allocator(request.allocator, **request.params)
    return RunRecord(
        kind="portfolio",
        symbol=basket_name(request.symbols),
        resolution=result.resolution,
        strategy=request.allocator,
        params=document["params"],
        config=document["config"],
        start_ts=result.equity.index[0].to_pydatetime(),
        end_ts=result.equity.index[-1].to_pydatetime(),
        bars=len(result.equity),
        data_fingerprint=result.fingerprint,
        data_source=",".join(sorted(sources)),
        code_version=code_version(allocator),
        metrics=document["metrics"],
        trades=document["trades"],
        detail={
            **{k: document[k] for k in ("allocator", "symbols", "per_symbol", "targets")},
            "start": document["start"],
            "end": document["end"],
            "benchmark_span": _span(benchmark_bars),
        },
    )


def _span(frame: pd.DataFrame | None) -> list[str] | None:
    if frame is None or frame.empty:
        return None
    return [frame.index[0].isoformat(), frame.index[-1].isoformat()]


def rerun_portfolio(settings: Settings, run: RunRecord) -> PortfolioResult:
    """Recompute a stored portfolio run on the same stored bars (refused if they changed)."""
    with open_stores(settings) as stores:
        return replay_portfolio(stores, run)


def replay_portfolio(stores: Stores, run: RunRecord) -> PortfolioResult:
    """:func:`rerun_portfolio` on the bars of open ``stores`` (e.g. read-only ones)."""
    assert run.detail is not None
    symbols = list(run.detail["symbols"])
    bars = {s: load_window(stores, s, run.resolution, run.start_ts, run.end_ts) for s in symbols}
    benchmark = run.config.get("benchmark")
    span = run.detail.get("benchmark_span")
    benchmark_bars = None
    if benchmark and span:
        last = pd.Timestamp(span[1]) + pd.Timedelta(microseconds=1)
        benchmark_bars = stores.bars.load_bars(
            benchmark,
            run.resolution,
            pd.Timestamp(span[0]).to_pydatetime(),
            last.to_pydatetime(),
        )
    record = {
        "config": run.config,
        "fingerprint": run.data_fingerprint,
        "symbols": symbols,
        "start": run.detail["start"],
        "end": run.detail["end"],
        "allocator": run.strategy,
        "params": run.params,
        "resolution": run.resolution,
    }
    return rerun_portfolio_result(record, bars, benchmark_bars=benchmark_bars)
