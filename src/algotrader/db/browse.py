"""The read model behind the dashboard and the reports (:class:`~algotrader.ports.browse.ReadModel`)
over read-only connections: runs filtered, sorted and paged in SQL, facets, studies, the stored
bars' inventory with gaps, and the order log.

JSON fields (parameters, metrics) are filtered and sorted in the database; the SQL that differs
between SQLite and PostgreSQL (JSON access, read-only sessions, gaps) is the
:class:`~algotrader.db._dialect.Dialect`'s.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import InstrumentedAttribute

from algotrader.config import Settings
from algotrader.db.engine import Database, open_database
from algotrader.db.models import BacktestRun, MarketPrice, Order, Study
from algotrader.db.runs import SqlRunStore
from algotrader.db.types import from_epoch_us
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ports.browse import (
    KNOWN_METRICS,
    RUN_COLUMNS,
    Condition,
    Op,
    OrderPage,
    OrderRecord,
    PointRun,
    RunDetail,
    RunFacets,
    RunPage,
    RunQuery,
    RunSummary,
    SeriesInventory,
    StudyPage,
    StudyRow,
    check_page,
    pages,
)
from algotrader.ports.runs import StudyRecord
from algotrader.timeframes import RESOLUTIONS

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LONG_GAP_SECONDS = 4 * 86_400


def open_readonly(settings: Settings | str) -> Database:
    """The database (migrated like every command) with connections that refuse writes:
    ``PRAGMA query_only`` on SQLite, read-only transactions on PostgreSQL."""
    db = open_database(settings)

    @event.listens_for(db.engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        db.dialect.refuse_writes(dbapi_connection)

    db.engine.dispose()  # connections opened for the migration check were writable
    return db


class SqlReadModel:
    """The :class:`~algotrader.ports.browse.ReadModel` of one database (open it with
    :func:`open_readonly`); :meth:`close` disposes of the database's connections.

    ``synthetic_sources`` names the bar sources that are made up (runs on them are flagged).
    """

    def __init__(self, db: Database, synthetic_sources: frozenset[str]) -> None:
        self.db = db
        self._runs = SqlRunStore(db)
        self._synthetic = synthetic_sources

    @property
    def display_url(self) -> str:
        return self.db.display_url

    def close(self) -> None:
        self.db.dispose()

    def runs(self, query: RunQuery) -> RunPage:
        check_page(query.page, query.page_size)
        conds = _where(self.db, query)
        with self.db.engine.connect() as conn:
            order = _sort_expression(self.db, query.sort, _metric_names(conn))
            ids, total = _ranked_ids(conn, conds, order, query)
            rows = conn.execute(select(*_SUMMARY_COLUMNS).where(BacktestRun.id.in_(ids))).all()
        by_id = {int(r.id): r for r in rows}
        return RunPage([self._summary(by_id[i]) for i in ids if i in by_id], total, query.page,
                       query.page_size, pages(total, query.page_size), query.sort)

    def version(self) -> tuple[int, int]:
        with self.db.engine.connect() as conn:
            count, newest = conn.execute(select(func.count(), func.max(BacktestRun.id))).one()
        return int(count), int(newest or 0)

    def facets(self) -> RunFacets:
        with self.db.engine.connect() as conn:
            combos = conn.execute(select(BacktestRun.symbol, BacktestRun.strategy,
                                         BacktestRun.resolution, BacktestRun.kind).distinct()).all()
            params = conn.execute(
                select(BacktestRun.params).order_by(BacktestRun.id.desc()).limit(200)
            ).scalars().all()
            metrics = _metric_names(conn)
        order = {name: k for k, name in enumerate(RESOLUTIONS)}
        return RunFacets(
            symbols=sorted({c.symbol for c in combos}),
            strategies=sorted({c.strategy for c in combos}),
            resolutions=sorted({c.resolution for c in combos}, key=lambda r: order.get(r, 99)),
            kinds=sorted({c.kind for c in combos}),
            metrics=metrics, params=sorted({k for p in params for k in (p or {})}),
            sort_keys=[*RUN_COLUMNS, *metrics],
        )

    def metric_names(self) -> list[str]:
        with self.db.engine.connect() as conn:
            return _metric_names(conn)

    def run(self, run_id: int) -> RunDetail:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(BacktestRun).where(BacktestRun.id == run_id)).first()
        if row is None:
            raise DataNotFoundError(f"no backtest run with id {run_id}",
                                    "see the runs page or `algotrader runs list` for the ids")
        base = self._summary(row)
        return RunDetail(
            **{f: getattr(base, f) for f in RunSummary.__dataclass_fields__},
            config=dict(row.config or {}), data_fingerprint=row.data_fingerprint,
            code_version=row.code_version, trades=list(row.trades or []),
            detail=dict(row.detail) if row.detail is not None else None,
        )

    def study_points(self, study_id: int) -> list[PointRun]:
        columns = (BacktestRun.id, BacktestRun.symbol, BacktestRun.params, BacktestRun.metrics,
                   BacktestRun.detail)
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(*columns)
                .where(BacktestRun.study_id == study_id, BacktestRun.kind == "study_point")
                .order_by(BacktestRun.id)
            ).all()
        return [
            PointRun(int(r.id), int((r.detail or {}).get("point", -1)), r.symbol,
                     dict(r.params or {}), (r.detail or {}).get("objective"),
                     dict(r.metrics or {}))
            for r in rows
        ]

    def studies(self, page: int = 1, page_size: int = 50) -> StudyPage:
        check_page(page, page_size)
        with self.db.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(Study)).scalar_one())
            rows = conn.execute(
                select(*_STUDY_COLUMNS, BacktestRun.params, BacktestRun.detail)
                .outerjoin(BacktestRun, BacktestRun.id == Study.best_run_id)
                .order_by(Study.id.desc()).limit(page_size).offset((page - 1) * page_size)
            ).all()
        return StudyPage([_study_row(r) for r in rows], total, page, page_size,
                         pages(total, page_size))

    def study(self, study_id: int) -> StudyRecord:
        found: StudyRecord = self._runs.get_study(study_id)
        return found

    def inventory(self) -> list[SeriesInventory]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(MarketPrice.symbol, MarketPrice.resolution, MarketPrice.source,
                       func.min(MarketPrice.ts), func.max(MarketPrice.ts), func.count())
                .group_by(MarketPrice.symbol, MarketPrice.resolution, MarketPrice.source)
            ).all()
            merged = _merge_sources(rows)
            return [
                SeriesInventory(symbol, resolution, e["first"], e["last"], e["n"],
                                sorted(e["sources"]), bool(e["sources"] & self._synthetic),
                                *_gaps(self.db, conn, symbol, resolution))
                for (symbol, resolution), e in merged
            ]

    def orders(self, symbol: str | None = None, status: str | None = None, page: int = 1,
               page_size: int = 50) -> OrderPage:
        check_page(page, page_size)
        conds = []
        if symbol:
            conds.append(Order.symbol == _text(symbol, "symbol").upper())
        if status:
            conds.append(Order.status == _text(status, "status"))
        with self.db.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(Order).where(*conds)).scalar_one()
            rows = conn.execute(
                select(Order).where(*conds).order_by(Order.id.desc())
                .limit(page_size).offset((page - 1) * page_size)
            ).all()
        return OrderPage([_order(r) for r in rows], int(total), page, page_size,
                         pages(int(total), page_size))

    def _summary(self, row: Any) -> RunSummary:
        sources = {s for s in (row.data_source or "").split(",") if s}
        return RunSummary(
            id=int(row.id), created_at=_utc(row.created_at), kind=row.kind,  # type: ignore[arg-type]
            study_id=row.study_id, symbol=row.symbol, resolution=row.resolution,
            strategy=row.strategy, params=dict(row.params or {}), bars=int(row.bars),
            start_ts=_utc(row.start_ts), end_ts=_utc(row.end_ts),  # type: ignore[arg-type]
            data_source=row.data_source, synthetic=bool(sources & self._synthetic),
            metrics=dict(row.metrics or {}),
        )


# ------------------------------------------------------------------------------ runs

_SUMMARY_COLUMNS = (
    BacktestRun.id, BacktestRun.created_at, BacktestRun.kind, BacktestRun.study_id,
    BacktestRun.symbol, BacktestRun.resolution, BacktestRun.strategy, BacktestRun.params,
    BacktestRun.bars, BacktestRun.start_ts, BacktestRun.end_ts, BacktestRun.data_source,
    BacktestRun.metrics,
)


def _ranked_ids(conn: Connection, conds: list[ColumnElement[bool]], order: ColumnElement[Any],
                query: RunQuery) -> tuple[list[int], int]:
    """The page's run ids in order, and how many runs match.

    Only ids are sorted (stored trades make whole rows large); when filtering, a window count
    over the matching rows gives the total in the same scan.
    """
    columns = [BacktestRun.id] + ([func.count().over().label("matching")] if conds else [])
    ranked = conn.execute(
        select(*columns).where(*conds).order_by(order, BacktestRun.id.desc())
        .limit(query.page_size).offset((query.page - 1) * query.page_size)
    ).all()
    if conds and ranked:
        total = int(ranked[0].matching)
    else:
        counted = select(func.count()).select_from(BacktestRun).where(*conds)
        total = int(conn.execute(counted).scalar_one())
    return [int(r.id) for r in ranked], total


def _where(db: Database, query: RunQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    kinds = query.kinds()
    if kinds is not None:
        conds.append(BacktestRun.kind.in_(kinds))
    if query.study_id is not None:
        conds.append(BacktestRun.study_id == query.study_id)
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


def _metric_names(conn: Connection) -> list[str]:
    """The known metrics plus any key of the newest run's metrics."""
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


def _metric(db: Database, key: str) -> ColumnElement[Any]:
    """A metric of the stored runs (always a JSON number or null: one extraction per row)."""
    return db.dialect.json_known_number(BacktestRun.metrics, key)


def _compare(expr: ColumnElement[Any], op: Op, value: Any) -> ColumnElement[bool]:
    return {
        "=": expr == value, "!=": expr != value, ">": expr > value, ">=": expr >= value,
        "<": expr < value, "<=": expr <= value,
    }[op]


def _condition(
    db: Database, column: InstrumentedAttribute[Any], cond: Condition
) -> ColumnElement[bool]:
    if isinstance(cond.value, float):
        return _compare(db.dialect.json_number(column, cond.name), cond.op, cond.value)
    equal = db.dialect.json_equals(column, cond.name, cond.value)
    return equal if cond.op == "=" else ~equal


def _metric_condition(db: Database, cond: Condition) -> ColumnElement[bool]:
    if not isinstance(cond.value, float):
        raise InvalidInputError(f"invalid metric filter {cond.name}{cond.op}{cond.value}",
                                "metrics compare with numbers, e.g. sharpe>1")
    return _compare(_metric(db, cond.name), cond.op, cond.value)


def _text(value: str, what: str) -> str:
    """A filter value as given, refused when it could not be stored anyway."""
    if len(value) > 200 or _CONTROL.search(value):
        raise InvalidInputError(f"invalid {what} {value[:40]!r}",
                                f"give a {what} as shown on the page (printable, <= 200 chars)")
    return value


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


# ------------------------------------------------------------------------------ studies

_STUDY_COLUMNS = (
    Study.id, Study.created_at, Study.symbols, Study.resolution, Study.strategy, Study.config,
    Study.n_trials, Study.dsr, Study.pbo, Study.best_run_id,
)


def _study_row(row: Any) -> StudyRow:
    objective = (row.config or {}).get("objective") or {}
    detail = row.detail or {}
    return StudyRow(
        id=int(row.id), created_at=_utc(row.created_at),  # type: ignore[arg-type]
        symbols=list(row.symbols or []), resolution=row.resolution, strategy=row.strategy,
        objective=str(objective.get("metric", "")),
        direction=str(objective.get("direction", "maximize")), n_trials=int(row.n_trials),
        dsr=row.dsr, pbo=row.pbo, best_run_id=row.best_run_id,
        best_params=dict(row.params or {}), best_objective=detail.get("objective"),
    )


# ------------------------------------------------------------------------------ stored bars


def _merge_sources(rows: Sequence[Any]) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    """One entry per (symbol, resolution) from rows per source, in symbol and bar-size order."""
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
    return sorted(merged.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99)))


def _gaps(db: Database, conn: Connection, symbol: str, resolution: str
          ) -> tuple[int, float | None]:
    """(number of gaps, the largest in hours) of one stored series."""
    res = RESOLUTIONS.get(resolution)
    step = res.seconds if res is not None else 86_400
    count, largest = db.dialect.count_gaps(conn, symbol, resolution, step=step,
                                           long=max(step, _LONG_GAP_SECONDS))
    return count, (largest / 3600.0 if largest is not None else None)


# ------------------------------------------------------------------------------ orders


def _order(r: Any) -> OrderRecord:
    return OrderRecord(
        id=r.id, client_ref=r.client_ref, created_at=_utc(r.created_at),  # type: ignore[arg-type]
        updated_at=_utc(r.updated_at), account=r.account, is_paper=r.is_paper,  # type: ignore[arg-type]
        symbol=r.symbol, action=r.action, quantity=r.quantity, order_type=r.order_type,
        limit_price=r.limit_price, stop_price=r.stop_price, tif=r.tif,
        ib_order_id=r.ib_order_id, perm_id=r.perm_id, status=r.status, filled=r.filled,
        avg_fill_price=r.avg_fill_price, message=r.message,
        status_history=list(r.status_history or []),
    )


__all__ = ["SqlReadModel", "open_readonly"]
