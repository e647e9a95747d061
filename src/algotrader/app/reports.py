"""Report use cases: the HTML report of a stored run (chosen by its kind), of a stored study,
or of what a command just ran (from the result in memory, nothing recomputed).

A stored run is recomputed on its stored bars for its curves (runs store metrics and trades,
not curves): a backtest or study point through the engine, a portfolio through
:func:`~algotrader.app.portfolios.replay_portfolio`, a walk-forward run by replaying each fold's
test window with the parameters it chose (no re-optimisation). Requires the ``report`` extra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from algotrader.app._provenance import code_version, fingerprint
from algotrader.app.bars import fetch_command
from algotrader.backtest.result import BacktestConfig
from algotrader.config import Settings
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ports.browse import ReadModel, RunDetail

if TYPE_CHECKING:
    from algotrader.app._stores import Stores
    from algotrader.app.backtests import StoredRun
    from algotrader.app.browse import ReadOnly
    from algotrader.app.portfolios import StoredPortfolio
    from algotrader.app.research import StoredStudy, StoredWalkForward
    from algotrader.reports import Benchmark, Report, RunInfo, StudyView

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-/]{0,31}$")


@dataclass(frozen=True)
class Recomputed:
    """A stored run recomputed on its stored bars.

    ``result`` is a backtest ``Result`` (kinds ``backtest`` and ``study_point``, with ``frame``
    the bars it ran on), a ``PortfolioResult`` or a ``WalkForwardView``; ``equity`` and
    ``baseline`` (buy & hold, or the portfolio's benchmark) are its curves, starting at ``cash``.
    """

    run: RunDetail
    result: Any
    frame: pd.DataFrame | None
    equity: pd.Series
    baseline: pd.Series
    cash: float
    same_data: bool


def recompute(data: ReadOnly, run: RunDetail) -> Recomputed:
    """Recompute ``run`` on the stored bars of ``data`` (writes nothing)."""
    if run.kind == "portfolio":
        from algotrader.app.portfolios import replay_portfolio

        basket = replay_portfolio(data.stores, run.record())
        # replay_portfolio refuses bars whose fingerprint changed
        return Recomputed(
            run, basket, None, basket.equity, basket.benchmark, basket.config.cash, True
        )
    if run.kind == "walkforward":
        view, same = replay_walkforward(data.stores, run)
        cash = float(view.settings.get("cash", BacktestConfig().cash))
        return Recomputed(run, view, None, view.equity, view.buy_hold, cash, same)
    frame = _stored_bars(data.stores, run)
    from algotrader.backtest.engine import run_backtest
    from algotrader.strategies.registry import get_strategy

    strategy = get_strategy(run.strategy, **run.params)
    result = run_backtest(frame, strategy, BacktestConfig(**run.config), resolution=run.resolution)
    return Recomputed(
        run,
        result,
        frame,
        result.equity,
        result.buy_hold,
        result.config.cash,
        fingerprint(frame) == run.data_fingerprint,
    )


def _stored_bars(stores: Stores, run: RunDetail) -> pd.DataFrame:
    """The bars a stored run ran on (one clear line when they are gone)."""
    end = pd.Timestamp(run.end_ts) + pd.Timedelta(microseconds=1)
    frame = stores.bars.load_bars(run.symbol, run.resolution, run.start_ts, end.to_pydatetime())
    if frame.empty:
        raise DataNotFoundError(
            f"the bars of run {run.id} ({run.symbol} {run.resolution}) are no longer stored",
            f"re-ingest them with `{fetch_command(run.symbol, run.resolution, None)}`",
        )
    return frame


def replay_walkforward(stores: Stores, run: RunDetail) -> tuple[Any, bool]:
    """A stored walk-forward run's out-of-sample curve: each fold's test window traded again
    with the parameters chosen on its training window (warmed up on the bars before it), the
    windows chained as the analysis did. Returns its ``WalkForwardView`` and whether the stored
    bars are the ones it ran on."""
    from algotrader.backtest.engine import run_backtest
    from algotrader.reports import WalkForwardView
    from algotrader.research import warm_started
    from algotrader.research.tasks import StrategyRef, make_strategy

    document = run.detail or {}
    config = document["config"]
    frame = _stored_bars(stores, run)
    index = pd.DatetimeIndex(frame.index)
    backtest = BacktestConfig(**config["backtest"])
    cls = StrategyRef.of(config["strategy"]).resolve()
    parts, trades = [], []
    for fold in document["folds"]:
        lo = int(index.searchsorted(pd.Timestamp(fold["test"][0])))
        hi = int(index.searchsorted(pd.Timestamp(fold["test"][1])))
        strategy = warm_started(
            make_strategy(cls, {}, fold["params"]), frame.iloc[:lo], frame.iloc[lo:hi]
        )
        result = run_backtest(
            frame.iloc[lo:hi],
            strategy,
            backtest,
            path=config["path"],
            resolution=config["resolution"],
        )
        parts.append((result.equity, result.buy_hold))
        trades.append(result.trades.assign(fold=int(fold["fold"])))
    equity, held = _stitch(parts, backtest.cash)
    view = WalkForwardView.from_document(
        document, equity, held, pd.concat(trades, ignore_index=True), run.symbol
    )
    return view, fingerprint(frame) == run.data_fingerprint


def _stitch(parts: list[tuple[pd.Series, pd.Series]], cash: float) -> tuple[pd.Series, pd.Series]:
    """Chain the test windows' curves, each starting from the previous one's final value
    (the same arithmetic as :func:`algotrader.research.walk_forward`, so the same numbers)."""
    equity, held = [], []
    scale = held_scale = 1.0
    for curve, hold in parts:
        equity.append(curve * scale)
        held.append(hold * held_scale)
        scale = float(equity[-1].iloc[-1]) / cash
        held_scale = float(held[-1].iloc[-1]) / cash
    return pd.concat(equity).rename("equity"), pd.concat(held).rename("buy_hold")


# ------------------------------------------------------------------------------ stored runs


def run_report(data: ReadOnly, run_id: int, *, benchmark: str | None = None) -> Report:
    """The report of stored run ``run_id``, after its kind (``benchmark``: a stored symbol of
    the same resolution, for backtests)."""
    from algotrader.reports import build_report

    run = data.model.run(run_id)
    if benchmark and run.kind not in ("backtest", "study_point"):
        raise InvalidInputError(
            f"--benchmark applies to single-symbol backtests; run {run_id} is a {run.kind} run",
            "drop --benchmark (a portfolio's benchmark is chosen when it runs)",
        )
    again = recompute(data, run)
    info = run_info(run, data_changed=not again.same_data)
    if again.frame is None:
        return build_report(again.result, run=info)
    bench = _benchmark(data.stores, benchmark, run.resolution, run.end_ts) if benchmark else None
    return build_report(
        again.result, bars=again.frame, symbol=run.symbol, benchmark=bench, run=info
    )


def run_info(run: RunDetail, *, data_changed: bool = False) -> RunInfo:
    """What a report shows about where a stored run came from."""
    from algotrader.reports import RunInfo

    return RunInfo(
        run_id=run.id,
        symbol=run.symbol,
        created_at=run.created_at,
        data_fingerprint=run.data_fingerprint,
        data_source=run.data_source or "",
        synthetic=run.synthetic,
        code_version=run.code_version,
        current_code_version=code_version(),
        data_changed=data_changed,
    )


def _benchmark(stores: Stores, symbol: str, resolution: str, end: datetime) -> Benchmark:
    from algotrader.reports import Benchmark

    name = symbol.strip().upper()
    if not _SYMBOL.match(name):
        raise InvalidInputError(f"invalid benchmark symbol {symbol[:40]!r}", "use e.g. SPY")
    stop = (pd.Timestamp(end) + pd.Timedelta(microseconds=1)).to_pydatetime()
    found = stores.bars.load_bars(name, resolution, None, stop, indicators=False)
    if found.empty:
        raise DataNotFoundError(
            f"no {resolution} bars of the benchmark {name} are stored",
            f'ingest them first: algotrader ingest -s {name} -r {resolution} -d "5 Y"',
        )
    return Benchmark(name, found["close"])


# ------------------------------------------------------------------------------ studies


def study_view(data: ReadOnly, study_id: int) -> StudyView:
    """A stored study with every stored point ranked (the points are runs)."""
    from algotrader.reports import PointView, StudyView

    record = data.model.study(study_id)
    names = tuple(record.config.get("space") or ())
    points: dict[int, PointView] = {}
    for p in data.model.study_points(study_id):
        view = points.setdefault(
            p.point, PointView(p.point, {k: p.params.get(k) for k in names}, p.objective, {}, {})
        )
        view.metrics[p.symbol] = p.metrics
        view.run_ids[p.symbol] = p.run_id
    summary = record.summary or {}
    return StudyView.from_config(
        record.config,
        points.values(),
        symbols=record.symbols,
        trials=record.n_trials,
        skipped=int(summary.get("skipped") or 0),
        failed=int(summary.get("failed") or 0),
        dsr=summary.get("deflated_sharpe"),
        pbo=summary.get("pbo"),
        study_id=record.id,
        created_at=record.created_at,
    )


def study_report(data: ReadOnly, study_id: int, *, run_link: str = "") -> Report:
    """The report of a stored study, with its best point's backtest (recomputed) appended;
    ``run_link`` (e.g. ``"/runs/{id}"``) turns run ids into links."""
    from algotrader.reports import build_report

    view = study_view(data, study_id)
    best_run = data.model.study(study_id).best_run_id
    best = run_report(data, best_run) if best_run is not None else None
    return build_report(view, best=best, run_link=run_link)


# ------------------------------------------------------------------------------ files


def write_report(
    settings: Settings,
    *,
    run_id: int | None = None,
    study_id: int | None = None,
    output: str | Path | None = None,
    benchmark: str | None = None,
) -> Path:
    """Write the report of a stored run or study (default path under ``data/reports``)."""
    from algotrader.app.browse import open_readonly

    if (run_id is None) == (study_id is None):
        both = ", not both" if run_id is not None else ""
        raise InvalidInputError(
            f"give a RUN_ID or --study STUDY_ID{both}",
            "e.g. algotrader report 12, or algotrader report --study 3",
        )
    data = open_readonly(settings)
    try:
        if study_id is not None:
            report = study_report(data, study_id)
            record = data.model.study(study_id)
            default = f"study_{study_id}_{_slug(record.strategy)}.html"
        else:
            assert run_id is not None
            report = run_report(data, run_id, benchmark=benchmark)
            default = run_file_name(data.model.run(run_id))
    finally:
        data.close()
    return report.write(output or reports_dir(settings) / default)


def write_result_report(
    settings: Settings,
    stored: StoredRun | StoredPortfolio | StoredStudy | StoredWalkForward,
    output: str | Path | None = None,
) -> Path:
    """Write the report of what a command just ran and stored, from the result in memory
    (only the stored run's provenance is read back); default path under ``data/reports``."""
    from algotrader.app.browse import open_readonly
    from algotrader.app.research import StoredStudy

    data = open_readonly(settings)
    try:
        if isinstance(stored, StoredStudy):
            report, name = _study_result_report(data.model, stored)
        else:
            report, name = _run_result_report(data.model, stored)
    finally:
        data.close()
    return report.write(output or reports_dir(settings) / name)


def _run_result_report(
    model: ReadModel, stored: StoredRun | StoredPortfolio | StoredWalkForward
) -> tuple[Report, str]:
    from algotrader.app.backtests import StoredRun
    from algotrader.reports import build_report

    run = model.run(stored.run_id)
    if isinstance(stored, StoredRun):
        report = build_report(
            stored.result, bars=stored.frame, symbol=stored.symbol, run=run_info(run)
        )
    elif run.kind == "walkforward":
        report = build_report(stored.result, symbol=run.symbol, run=run_info(run))
    else:
        report = build_report(stored.result, run=run_info(run))
    return report, run_file_name(run)


def _study_result_report(model: ReadModel, stored: StoredStudy) -> tuple[Report, str]:
    from algotrader.reports import StudyView, build_report

    study = stored.study
    symbol = study.symbols[0]
    best = build_report(
        stored.best_results[symbol],
        bars=stored.frames[symbol],
        symbol=symbol,
        run=run_info(model.run(stored.best_run_id)),
    )
    view = StudyView.from_study(study, stored.point_runs, stored.study_id)
    name = f"study_{stored.study_id}_{_slug(view.strategy)}.html"
    return build_report(view, best=best), name


def reports_dir(settings: Settings) -> Path:
    return settings.data_dir / "reports"


def check_reports_dir(settings: Settings) -> None:
    """Refuse, in one line, a reports folder that cannot take a file. Commands call it before a
    run with ``--report`` is stored, so a report that cannot be written leaves no run behind."""
    from algotrader.app.charts import probe_folder

    folder = reports_dir(settings)
    try:
        probe_folder(folder)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write the report to {str(folder)!r} ({exc.strerror or exc})",
            "make that folder writable or set ALGOTRADER_DATA_DIR / --data-dir",
        ) from None


def run_file_name(run: RunDetail) -> str:
    """``run_ID_SYMBOL_RES.html`` (``run_ID_portfolio_RES.html``, ``run_ID_walkforward_...``)."""
    if run.kind == "portfolio":
        return f"run_{run.id}_portfolio_{run.resolution}.html"
    prefix = "walkforward_" if run.kind == "walkforward" else ""
    return f"run_{run.id}_{prefix}{_slug(run.symbol)}_{run.resolution}.html"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "report"
