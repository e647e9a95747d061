"""Read-only queries behind the dashboard and the reports: stored runs (filtered, sorted and
paginated in the database), one run and its report, a rerun verdict, a comparison of runs, the
inventory of stored bars and the order log.

Every function takes an open :class:`~algotrader.db.engine.Database` (see :func:`open_readonly`)
and returns frozen dataclasses; user mistakes raise :class:`~algotrader.errors.UserError`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from sqlalchemy import ColumnElement, Float, and_, case, event, func, literal, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import InstrumentedAttribute

from algotrader.config import Settings
from algotrader.data.providers import is_synthetic
from algotrader.db.engine import Database, open_database
from algotrader.db.models import BacktestRun, MarketPrice, Order
from algotrader.db.types import from_epoch_us
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.timeframes import RESOLUTIONS

if TYPE_CHECKING:
    from algotrader.app.backtests import StoredRun
    from algotrader.backtest.result import Result
    from algotrader.reports import Report

MAX_PAGE_SIZE = 500
MAX_COMPARED = 8
KNOWN_METRICS: tuple[str, ...] = (
    "total_return", "buy_hold_return", "alpha", "cagr", "volatility", "sharpe", "sortino",
    "max_drawdown", "max_drawdown_duration_bars", "max_drawdown_duration_days", "calmar",
    "num_trades", "win_rate", "profit_factor", "exposure", "periods_per_year", "years",
)
RUN_COLUMNS: tuple[str, ...] = (
    "id", "created_at", "symbol", "resolution", "strategy", "bars", "start_ts", "end_ts",
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_FLOAT = Float(precision=53)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$")
Op = Literal[">=", "<=", "!=", "=", ">", "<"]


# ------------------------------------------------------------------------------ opening


def open_readonly(settings: Settings | str) -> Database:
    """The database (migrated like every command) with connections that refuse writes:
    ``PRAGMA query_only`` on SQLite, read-only transactions on PostgreSQL."""
    db = open_database(settings)

    @event.listens_for(db.engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if db.backend == "postgresql":
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cursor.close()
            dbapi_connection.commit()
        else:
            cursor.execute("PRAGMA query_only = ON")
            cursor.close()

    db.engine.dispose()  # connections opened for the migration check were writable
    return db


# ------------------------------------------------------------------------------ runs


@dataclass(frozen=True)
class Condition:
    """``name op value`` on a metric or a parameter (numbers compare as numbers)."""

    name: str
    op: Op
    value: float | str | bool

    @classmethod
    def parse(cls, text_: str, *, what: str = "metric") -> Condition:
        """``"sharpe>1"``, ``"max_drawdown>=-0.2"``, ``"fast=10"``, ``"mode=fast"``."""
        match = _CONDITION.match(text_ or "")
        if match is None or "\x00" in text_:
            raise InvalidInputError(
                f"invalid {what} filter {text_[:80]!r}",
                f"write NAME OP VALUE, e.g. {'sharpe>1' if what == 'metric' else 'fast=10'} "
                "(OP one of = != > >= < <=)",
            )
        name, op, raw = match.groups()
        value = _parse_value(raw)
        if not isinstance(value, float) and op not in ("=", "!="):
            raise InvalidInputError(
                f"invalid {what} filter {text_[:80]!r}: {op} needs a number",
                "use = or != for text and true/false values",
            )
        return cls(name, op, value)  # type: ignore[arg-type]


def _parse_value(raw: str) -> float | str | bool:
    """A finite number, true/false, or else the text itself."""
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        number = float(raw)
    except ValueError:
        return raw[:200]
    return number if math.isfinite(number) else raw[:200]


@dataclass(frozen=True)
class RunQuery:
    """Filters, sort and page of :func:`list_runs`. ``sort`` is a column or metric name,
    ``-name`` for descending (default ``-id``: newest first)."""

    symbol: str | None = None
    strategy: str | None = None
    resolution: str | None = None
    params: tuple[Condition, ...] = ()
    metrics: tuple[Condition, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None
    sort: str = "-id"
    page: int = 1
    page_size: int = 50


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs table."""

    id: int
    created_at: datetime
    symbol: str
    resolution: str
    strategy: str
    params: dict[str, Any]
    bars: int
    start_ts: datetime
    end_ts: datetime
    data_source: str | None
    synthetic: bool
    metrics: dict[str, Any]


@dataclass(frozen=True)
class RunPage:
    """One page of runs; ``total`` runs match the filters, on ``pages`` pages."""

    runs: list[RunSummary]
    total: int
    page: int
    page_size: int
    pages: int
    sort: str


@dataclass(frozen=True)
class RunDetail(RunSummary):
    """A stored run with everything it records."""

    config: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    code_version: str = ""
    trades: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RunFacets:
    """What the runs can be filtered and sorted by."""

    symbols: list[str]
    strategies: list[str]
    resolutions: list[str]
    metrics: list[str]
    params: list[str]
    sort_keys: list[str]


def _utc(value: datetime | int | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int):  # SQLite aggregates bypass the column type
        return from_epoch_us(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # within a day of year 1 or 9999: clamp (nothing is stored there)
        return datetime.min.replace(tzinfo=UTC) if value.year == 1 else datetime.max.replace(
            tzinfo=UTC
        )


def _json_number(db: Database, column: InstrumentedAttribute[Any], key: str) -> ColumnElement[Any]:
    """The number under ``key`` of a JSON column, NULL when it is absent or not a number."""
    if db.backend == "postgresql":
        return case(
            (func.json_typeof(column.op("->")(literal(key))) == "number",
             func.cast(column.op("->>")(literal(key)), type_=_FLOAT)),
            else_=None,
        )
    path = literal(f'$."{key}"')
    return case(
        (func.json_type(column, path).in_(("integer", "real")), func.json_extract(column, path)),
        else_=None,
    )


def _metric(db: Database, key: str) -> ColumnElement[Any]:
    """A metric of the stored runs (always a JSON number or null: one extraction per row)."""
    if db.backend == "postgresql":
        return func.cast(BacktestRun.metrics.op("->>")(literal(key)), type_=_FLOAT)
    return func.json_extract(BacktestRun.metrics, literal(f'$."{key}"'))


def _json_equals(db: Database, column: InstrumentedAttribute[Any], key: str,
                 value: str | bool) -> ColumnElement[bool]:
    if db.backend == "postgresql":
        kind = "boolean" if isinstance(value, bool) else "string"
        wanted = str(value).lower() if isinstance(value, bool) else value
        return and_(func.json_typeof(column.op("->")(literal(key))) == kind,
                    column.op("->>")(literal(key)) == wanted)
    path = literal(f'$."{key}"')
    if isinstance(value, bool):
        return func.json_type(column, path) == ("true" if value else "false")
    return and_(func.json_type(column, path) == "text", func.json_extract(column, path) == value)


def _compare(expr: ColumnElement[Any], op: Op, value: Any) -> ColumnElement[bool]:
    return {
        "=": expr == value, "!=": expr != value, ">": expr > value, ">=": expr >= value,
        "<": expr < value, "<=": expr <= value,
    }[op]


def _condition(
    db: Database, column: InstrumentedAttribute[Any], cond: Condition
) -> ColumnElement[bool]:
    if isinstance(cond.value, float):
        return _compare(_json_number(db, column, cond.name), cond.op, cond.value)
    equal = _json_equals(db, column, cond.name, cond.value)
    return equal if cond.op == "=" else ~equal


def _metric_condition(db: Database, cond: Condition) -> ColumnElement[bool]:
    if not isinstance(cond.value, float):
        raise InvalidInputError(f"invalid metric filter {cond.name}{cond.op}{cond.value}",
                                "metrics compare with numbers, e.g. sharpe>1")
    return _compare(_metric(db, cond.name), cond.op, cond.value)


def metric_names(db: Database) -> list[str]:
    """The known metrics plus any key of the newest run's metrics."""
    with db.engine.connect() as conn:
        return _metric_names(conn)


def _metric_names(conn: Connection) -> list[str]:
    latest = conn.execute(
        select(BacktestRun.metrics).order_by(BacktestRun.id.desc()).limit(1)
    ).scalar_one_or_none()
    extra = sorted(k for k in (latest or {}) if k not in KNOWN_METRICS and _NAME.match(k))
    return [*KNOWN_METRICS, *extra]


def _sort_expression(db: Database, sort: str, metrics: Sequence[str]) -> ColumnElement[Any]:
    key = sort[1:] if sort.startswith("-") else sort
    if key in RUN_COLUMNS:
        expr: ColumnElement[Any] = getattr(BacktestRun, key)
    elif key in metrics:
        expr = _metric(db, key)
    else:
        names = [*RUN_COLUMNS, *metrics]
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InvalidInputError(
            f"cannot sort runs by {key[:64]!r}", f"{hint}sort by one of {', '.join(names)}"
        )
    ordered = expr.desc() if sort.startswith("-") else expr.asc()
    return ordered.nulls_last()


def _text(value: str, what: str) -> str:
    """A filter value as given, refused when it could not be stored anyway."""
    if len(value) > 200 or _CONTROL.search(value):
        raise InvalidInputError(f"invalid {what} {value[:40]!r}",
                                f"give a {what} as shown on the page (printable, <= 200 chars)")
    return value


def _where(db: Database, query: RunQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if query.symbol:
        conds.append(BacktestRun.symbol == _text(query.symbol, "symbol").upper())
    if query.strategy:
        conds.append(BacktestRun.strategy == _text(query.strategy, "strategy"))
    if query.resolution:
        conds.append(BacktestRun.resolution == _text(query.resolution, "resolution"))
    if query.created_from is not None:
        conds.append(BacktestRun.created_at >= _utc(query.created_from))
    if query.created_to is not None:
        conds.append(BacktestRun.created_at <= _utc(query.created_to))
    conds += [_condition(db, BacktestRun.params, c) for c in query.params]
    conds += [_metric_condition(db, c) for c in query.metrics]
    return conds


_SUMMARY_COLUMNS = (
    BacktestRun.id, BacktestRun.created_at, BacktestRun.symbol, BacktestRun.resolution,
    BacktestRun.strategy, BacktestRun.params, BacktestRun.bars, BacktestRun.start_ts,
    BacktestRun.end_ts, BacktestRun.data_source, BacktestRun.metrics,
)


def _summary(row: Any) -> RunSummary:
    return RunSummary(
        id=int(row.id), created_at=_utc(row.created_at), symbol=row.symbol,  # type: ignore[arg-type]
        resolution=row.resolution, strategy=row.strategy, params=dict(row.params or {}),
        bars=int(row.bars), start_ts=_utc(row.start_ts), end_ts=_utc(row.end_ts),  # type: ignore[arg-type]
        data_source=row.data_source, synthetic=_is_synthetic(row.data_source),
        metrics=dict(row.metrics or {}),
    )


def _is_synthetic(data_source: str | None) -> bool:
    return is_synthetic({s for s in (data_source or "").split(",") if s})


def list_runs(db: Database, query: RunQuery | None = None) -> RunPage:
    """One page of stored runs, filtered and sorted by the database."""
    query = query or RunQuery()
    if not 1 <= query.page_size <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"invalid page size {query.page_size}",
                                f"use 1 to {MAX_PAGE_SIZE}")
    if query.page < 1:
        raise InvalidInputError(f"invalid page {query.page}", "pages start at 1")
    conds = _where(db, query)
    offset = (query.page - 1) * query.page_size
    with db.engine.connect() as conn:
        order = _sort_expression(db, query.sort, _metric_names(conn))
        # Sort only ids (the stored trades make whole rows large), count in the same scan when
        # filtering (a window count over the matching rows), then read the page's rows.
        columns = [BacktestRun.id] + ([func.count().over().label("matching")] if conds else [])
        ranked = conn.execute(
            select(*columns).where(*conds).order_by(order, BacktestRun.id.desc())
            .limit(query.page_size).offset(offset)
        ).all()
        if conds and ranked:
            total = int(ranked[0].matching)
        else:
            counted = select(func.count()).select_from(BacktestRun).where(*conds)
            total = int(conn.execute(counted).scalar_one())
        ids = [int(r.id) for r in ranked]
        rows = conn.execute(select(*_SUMMARY_COLUMNS).where(BacktestRun.id.in_(ids))).all()
    by_id = {int(r.id): r for r in rows}
    return RunPage([_summary(by_id[i]) for i in ids if i in by_id], total, query.page,
                   query.page_size, _pages(total, query.page_size), query.sort)


def _pages(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / page_size))


def runs_version(db: Database) -> tuple[int, int]:
    """(number of runs, newest id): changes whenever a run is stored (runs are append-only)."""
    with db.engine.connect() as conn:
        count, newest = conn.execute(select(func.count(), func.max(BacktestRun.id))).one()
    return int(count), int(newest or 0)


def run_facets(db: Database) -> RunFacets:
    """Distinct symbols, strategies and resolutions of the stored runs, metric and parameter
    names (parameters of the newest 200 runs)."""
    with db.engine.connect() as conn:
        combos = conn.execute(
            select(BacktestRun.symbol, BacktestRun.strategy, BacktestRun.resolution).distinct()
        ).all()
        params = conn.execute(
            select(BacktestRun.params).order_by(BacktestRun.id.desc()).limit(200)
        ).scalars().all()
    metrics = metric_names(db)
    order = {name: k for k, name in enumerate(RESOLUTIONS)}
    return RunFacets(
        symbols=sorted({c.symbol for c in combos}),
        strategies=sorted({c.strategy for c in combos}),
        resolutions=sorted({c.resolution for c in combos}, key=lambda r: order.get(r, 99)),
        metrics=metrics, params=sorted({k for p in params for k in (p or {})}),
        sort_keys=[*RUN_COLUMNS, *metrics],
    )


def get_run(db: Database, run_id: int) -> RunDetail:
    """Everything stored about one run."""
    with db.engine.connect() as conn:
        row = conn.execute(select(BacktestRun).where(BacktestRun.id == run_id)).first()
    if row is None:
        raise DataNotFoundError(f"no backtest run with id {run_id}",
                                "see the runs page or `algotrader runs list` for the ids")
    base = _summary(row)
    return RunDetail(
        **{f: getattr(base, f) for f in RunSummary.__dataclass_fields__},
        config=dict(row.config or {}), data_fingerprint=row.data_fingerprint,
        code_version=row.code_version, trades=list(row.trades or []),
    )


# ------------------------------------------------------------------------------ recompute


@dataclass(frozen=True)
class Recomputed:
    """A stored run recomputed on the stored bars: the frame it ran on and its result."""

    run: RunDetail
    frame: pd.DataFrame
    result: Result
    same_data: bool


def recompute(db: Database, run: RunDetail) -> Recomputed:
    """Run a stored backtest again on its stored bars (for its curves and trades)."""
    from algotrader.app._provenance import fingerprint
    from algotrader.app.bars import fetch_command
    from algotrader.backtest.engine import run_backtest
    from algotrader.backtest.result import BacktestConfig
    from algotrader.db.store import SqlBarStore as BarStore
    from algotrader.strategies.registry import get_strategy

    end = pd.Timestamp(run.end_ts) + pd.Timedelta(microseconds=1)
    frame = BarStore(db).load_bars(run.symbol, run.resolution, run.start_ts, end.to_pydatetime())
    if frame.empty:
        raise DataNotFoundError(
            f"the bars of run {run.id} ({run.symbol} {run.resolution}) are no longer stored",
            f"re-ingest them with `{fetch_command(run.symbol, run.resolution, None)}`",
        )
    strategy = get_strategy(run.strategy, **run.params)
    result = run_backtest(frame, strategy, BacktestConfig(**run.config), resolution=run.resolution)
    return Recomputed(run, frame, result, fingerprint(frame) == run.data_fingerprint)


# ------------------------------------------------------------------------------ reports


def _benchmark(db: Database, symbol: str, resolution: str, start: datetime,
               end: datetime) -> Any:
    from algotrader.db.store import SqlBarStore as BarStore
    from algotrader.reports import Benchmark

    name = symbol.strip().upper()
    if not re.match(r"^[A-Z0-9][A-Z0-9.\-/]{0,31}$", name):
        raise InvalidInputError(f"invalid benchmark symbol {symbol[:40]!r}", "use e.g. SPY")
    stop = (pd.Timestamp(end) + pd.Timedelta(microseconds=1)).to_pydatetime()
    bars = BarStore(db).load_bars(name, resolution, None, stop, indicators=False)
    if bars.empty:
        raise DataNotFoundError(
            f"no {resolution} bars of the benchmark {name} are stored",
            f"ingest them first: algotrader ingest -s {name} -r {resolution} -d \"5 Y\"",
        )
    return Benchmark(name, bars["close"])


def _run_info(run: RunDetail, *, data_changed: bool) -> Any:
    from algotrader.app._provenance import code_version
    from algotrader.reports import RunInfo

    return RunInfo(
        run_id=run.id, symbol=run.symbol, created_at=run.created_at,
        data_fingerprint=run.data_fingerprint, data_source=run.data_source or "",
        synthetic=run.synthetic, code_version=run.code_version,
        current_code_version=code_version(), data_changed=data_changed,
    )


def run_report(db: Database, run_id: int, *, benchmark: str | None = None) -> Report:
    """The HTML report of a stored run (recomputed on its stored bars), optionally against a
    stored ``benchmark`` symbol of the same resolution."""
    from algotrader.reports import backtest_report

    run = get_run(db, run_id)
    again = recompute(db, run)
    bench = (_benchmark(db, benchmark, run.resolution, run.start_ts, run.end_ts)
             if benchmark else None)
    return backtest_report(
        again.result, again.frame, symbol=run.symbol, benchmark=bench,
        run=_run_info(run, data_changed=not again.same_data),
    )


def stored_run_report(db: Database, stored: StoredRun, *, benchmark: str | None = None) -> Report:
    """The report of a run just stored by ``run_stored_backtest`` (no recomputation)."""
    from algotrader.reports import backtest_report

    run = get_run(db, stored.run_id)
    bench = (_benchmark(db, benchmark, run.resolution, run.start_ts, run.end_ts)
             if benchmark else None)
    return backtest_report(stored.result, stored.frame, symbol=stored.symbol, benchmark=bench,
                           run=_run_info(run, data_changed=False))


def write_run_report(
    db: Database, run_id: int, path: str | Path | None = None, *, benchmark: str | None = None,
    reports_dir: Path = Path("data/reports"),
) -> Path:
    """Write the report of run ``run_id`` to ``path`` (default
    ``data/reports/run_<id>_<symbol>_<resolution>.html``) and return the path."""
    report = run_report(db, run_id, benchmark=benchmark)
    if path is None:
        run = get_run(db, run_id)
        path = reports_dir / f"run_{run.id}_{run.symbol}_{run.resolution}.html"
    return report.write(path)


# ------------------------------------------------------------------------------ rerun, compare


@dataclass(frozen=True)
class RerunVerdict:
    """Whether a stored run reproduced to the last bit."""

    run_id: int
    reproduced: bool
    same_data: bool
    identical_metrics: bool
    identical_trades: bool
    differences: list[str]
    message: str


def rerun_verdict(db: Database, run_id: int) -> RerunVerdict:
    """Recompute run ``run_id`` and compare its metrics and trades exactly (writes nothing)."""
    from algotrader.app.runs import rerun

    report = rerun(db.url, run_id)  # type: ignore[attr-defined, arg-type]
    same = report.identical_metrics and report.identical_trades
    if same:
        message = (f"Run {run_id} reproduced: metrics and {len(report.run.trades)} trades "
                   "identical to the last bit.")
    else:
        message = (f"Run {run_id} did not reproduce (metrics identical: "
                   f"{report.identical_metrics}, trades identical: {report.identical_trades}).")
    if not report.same_data:
        message += " The stored bars changed since it ran (fingerprint differs)."
    return RerunVerdict(run_id, same, report.same_data, report.identical_metrics,
                        report.identical_trades, list(report.differences), message)


@dataclass(frozen=True)
class Comparison:
    """Runs side by side: their details and equity curves as returns (None when a run's bars
    are gone)."""

    runs: list[RunDetail]
    curves: dict[int, pd.Series | None]
    notes: list[str]


def compare_runs(db: Database, run_ids: Sequence[int]) -> Comparison:
    """Up to :data:`MAX_COMPARED` runs with their recomputed equity curves."""
    ids = list(dict.fromkeys(run_ids))
    if not 1 <= len(ids) <= MAX_COMPARED:
        raise InvalidInputError(f"cannot compare {len(ids)} runs",
                                f"select 1 to {MAX_COMPARED} runs")
    runs = [get_run(db, run_id) for run_id in ids]
    curves: dict[int, pd.Series | None] = {}
    notes = []
    for run in runs:
        try:
            again = recompute(db, run)
        except DataNotFoundError as exc:
            curves[run.id] = None
            notes.append(exc.message)
            continue
        curves[run.id] = again.result.equity / again.result.config.cash - 1.0
    return Comparison(runs, curves, notes)


# ------------------------------------------------------------------------------ stored data


@dataclass(frozen=True)
class SeriesInventory:
    """What is stored for one (symbol, resolution).

    ``gaps`` counts holes between consecutive bars longer than a long weekend (4 days) and,
    for intraday bars, missing bars within a UTC day; ``largest_gap_hours`` is the longest.
    """

    symbol: str
    resolution: str
    first_bar: datetime
    last_bar: datetime
    bars: int
    sources: list[str]
    synthetic: bool
    gaps: int
    largest_gap_hours: float | None


_LONG_GAP_SECONDS = 4 * 86_400


def _gaps(db: Database, symbol: str, resolution: str) -> tuple[int, float | None]:
    res = RESOLUTIONS.get(resolution)
    step = res.seconds if res is not None else 86_400
    intraday = step < 86_400
    long_gap = max(step, _LONG_GAP_SECONDS)
    if db.backend == "postgresql":
        sql = text(
            "SELECT count(*), max(d) FROM (SELECT extract(epoch FROM ts - lag(ts) OVER w) AS d, "
            "(ts AT TIME ZONE 'UTC')::date = (lag(ts) OVER w AT TIME ZONE 'UTC')::date AS same "
            "FROM market_prices WHERE symbol = :s AND resolution = :r WINDOW w AS (ORDER BY ts)) t "
            "WHERE d > :long OR (:intraday AND same AND d > :step)"
        )
        unit = 1.0
    else:
        sql = text(
            "SELECT count(*), max(d) FROM (SELECT ts - lag(ts) OVER w AS d, "
            "ts / 86400000000 = lag(ts) OVER w / 86400000000 AS same "
            "FROM market_prices WHERE symbol = :s AND resolution = :r WINDOW w AS (ORDER BY ts)) t "
            "WHERE d > :long OR (:intraday AND same AND d > :step)"
        )
        unit = 1e6
    with db.engine.connect() as conn:
        count, largest = conn.execute(sql, {
            "s": symbol, "r": resolution, "long": long_gap * unit, "intraday": intraday,
            "step": step * unit,
        }).one()
    return int(count), (float(largest) / unit / 3600.0 if largest is not None else None)


def data_inventory(db: Database) -> list[SeriesInventory]:
    """One row per stored (symbol, resolution): first/last bar, count, gaps, sources."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(MarketPrice.symbol, MarketPrice.resolution, MarketPrice.source,
                   func.min(MarketPrice.ts), func.max(MarketPrice.ts), func.count())
            .group_by(MarketPrice.symbol, MarketPrice.resolution, MarketPrice.source)
        ).all()
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for symbol, resolution, source, low, high, count in rows:
        entry = merged.setdefault((symbol, resolution), {"first": None, "last": None, "n": 0,
                                                         "sources": set()})
        first, last = _utc(low), _utc(high)
        entry["first"] = first if entry["first"] is None else min(entry["first"], first)
        entry["last"] = last if entry["last"] is None else max(entry["last"], last)
        entry["n"] += int(count)
        entry["sources"].add(source)
    order = {name: k for k, name in enumerate(RESOLUTIONS)}
    out = []
    for (symbol, resolution), e in sorted(merged.items(),
                                          key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        gaps, largest = _gaps(db, symbol, resolution)
        out.append(SeriesInventory(symbol, resolution, e["first"], e["last"], e["n"],
                                   sorted(e["sources"]), is_synthetic(e["sources"]), gaps,
                                   largest))
    return out


# ------------------------------------------------------------------------------ orders


@dataclass(frozen=True)
class OrderRecord:
    """A stored order with its status history (oldest change first)."""

    id: int
    client_ref: str
    created_at: datetime
    updated_at: datetime
    account: str | None
    is_paper: bool
    symbol: str
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    stop_price: float | None
    tif: str
    ib_order_id: int | None
    perm_id: int | None
    status: str
    filled: float
    avg_fill_price: float | None
    message: str | None
    status_history: list[dict[str, Any]]


@dataclass(frozen=True)
class OrderPage:
    orders: list[OrderRecord]
    total: int
    page: int
    page_size: int
    pages: int


def list_orders(db: Database, *, symbol: str | None = None, status: str | None = None,
                page: int = 1, page_size: int = 50) -> OrderPage:
    """Stored orders, newest first, optionally of one symbol or status."""
    if not 1 <= page_size <= MAX_PAGE_SIZE or page < 1:
        raise InvalidInputError(f"invalid page {page} / page size {page_size}",
                                f"pages start at 1; page sizes are 1 to {MAX_PAGE_SIZE}")
    conds = []
    if symbol:
        conds.append(Order.symbol == _text(symbol, "symbol").upper())
    if status:
        conds.append(Order.status == _text(status, "status"))
    with db.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Order).where(*conds)).scalar_one()
        rows = conn.execute(
            select(Order).where(*conds).order_by(Order.id.desc())
            .limit(page_size).offset((page - 1) * page_size)
        ).all()
    orders = [
        OrderRecord(
            id=r.id, client_ref=r.client_ref, created_at=_utc(r.created_at),  # type: ignore[arg-type]
            updated_at=_utc(r.updated_at), account=r.account, is_paper=r.is_paper,  # type: ignore[arg-type]
            symbol=r.symbol, action=r.action, quantity=r.quantity, order_type=r.order_type,
            limit_price=r.limit_price, stop_price=r.stop_price, tif=r.tif,
            ib_order_id=r.ib_order_id, perm_id=r.perm_id, status=r.status, filled=r.filled,
            avg_fill_price=r.avg_fill_price, message=r.message,
            status_history=list(r.status_history or []),
        )
        for r in rows
    ]
    return OrderPage(orders, int(total), page, page_size, _pages(int(total), page_size))


__all__ = [
    "Comparison",
    "Condition",
    "OrderPage",
    "OrderRecord",
    "Recomputed",
    "RerunVerdict",
    "RunDetail",
    "RunFacets",
    "RunPage",
    "RunQuery",
    "RunSummary",
    "SeriesInventory",
    "compare_runs",
    "data_inventory",
    "get_run",
    "list_orders",
    "list_runs",
    "metric_names",
    "open_readonly",
    "recompute",
    "rerun_verdict",
    "run_facets",
    "run_report",
    "runs_version",
    "stored_run_report",
    "write_run_report",
]
