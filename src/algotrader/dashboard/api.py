"""``/api/...``: the JSON behind every page, documented by the OpenAPI schema."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from algotrader.app import browse
from algotrader.db.engine import Database
from algotrader.timeframes import RESOLUTIONS

MAX_ID = 2**63 - 1
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-/]{0,31}$"
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]{1,200}$"
# Bounded so that every number the schema allows is a finite float.
_NUMBER = r"-?[0-9]{1,15}(\.[0-9]{1,15})?([eE][-+]?[0-9]{1,2})?"
_TEXT_VALUE = r"[^\x00-\x1f\x7f,;]{1,100}"
PARAM_PATTERN = (
    rf"^[A-Za-z_][A-Za-z0-9_]{{0,63}} ?((>=|<=|>|<) ?{_NUMBER}|(=|!=) ?{_TEXT_VALUE})$"
)
METRIC_PATTERN = rf"^({'|'.join(browse.KNOWN_METRICS)}) ?(>=|<=|!=|=|>|<) ?{_NUMBER}$"

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339(value: Any) -> Any:
    """Only what the schema promises (RFC 3339 with an offset): no epoch numbers, no dates."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("use an RFC 3339 date-time such as 2024-01-31T00:00:00Z")
    return value


Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339)]
ParamFilter = Annotated[str, StringConstraints(pattern=PARAM_PATTERN)]
MetricFilter = Annotated[str, StringConstraints(pattern=METRIC_PATTERN)]
SortKey = enum.StrEnum(  # type: ignore[misc]
    "SortKey",
    {f"{d}{k}": f"{d}{k}" for k in (*browse.RUN_COLUMNS, *browse.KNOWN_METRICS) for d in ("", "-")},
)
ResolutionName = enum.StrEnum("ResolutionName", {r: r for r in RESOLUTIONS})  # type: ignore[misc]


class ErrorBody(BaseModel):
    """What every 4xx/5xx answer carries: one line saying what is wrong and how to fix it."""

    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid parameters"},
    401: {"model": ErrorBody, "description": "Missing or wrong token"},
    404: {"model": ErrorBody, "description": "Not found"},
    503: {"model": ErrorBody, "description": "Database unavailable"},
}

router = APIRouter(prefix="/api", tags=["api"], responses=ERRORS)


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DB = Annotated[Database, Depends(get_db)]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="A stored run's id.")]


@dataclass(frozen=True)
class Health:
    status: Literal["ok"]
    database: str


@router.get("/health")
def health(db: DB) -> Health:
    """The dashboard is up; which database it reads (password masked)."""
    return Health("ok", db.display_url)


@router.get("/runs")
def runs(
    db: DB,
    symbol: Annotated[str | None, Query(pattern=SYMBOL_PATTERN)] = None,
    strategy: Annotated[str | None, Query(pattern=TEXT_PATTERN)] = None,
    resolution: ResolutionName | None = None,
    param: Annotated[list[ParamFilter] | None, Query(
        description="Parameter filter NAME OP VALUE (repeatable), e.g. fast=10",
    )] = None,
    metric: Annotated[list[MetricFilter] | None, Query(
        description="Metric filter NAME OP NUMBER (repeatable), e.g. sharpe>1",
    )] = None,
    created_from: Rfc3339 | None = None,
    created_to: Rfc3339 | None = None,
    sort: SortKey = SortKey("-id"),
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=browse.MAX_PAGE_SIZE)] = 50,
) -> browse.RunPage:
    """Stored runs, filtered, sorted (``-name`` descending) and paginated by the database."""
    query = browse.RunQuery(
        symbol=symbol, strategy=strategy, resolution=resolution.value if resolution else None,
        params=tuple(browse.Condition.parse(p, what="parameter") for p in param or ()),
        metrics=tuple(browse.Condition.parse(m) for m in metric or ()),
        created_from=created_from, created_to=created_to, sort=sort.value, page=page,
        page_size=page_size,
    )
    return browse.list_runs(db, query)


@router.get("/runs/facets")
def facets(db: DB) -> browse.RunFacets:
    """What runs can be filtered and sorted by."""
    return browse.run_facets(db)


@router.get("/runs/{run_id}")
def run(db: DB, run_id: RunId) -> browse.RunDetail:
    """Everything stored about one run (parameters, settings, metrics, trades, provenance)."""
    return browse.get_run(db, run_id)


@dataclass(frozen=True)
class RunSeries:
    """A run's curves, recomputed on its stored bars, at most ``max_points`` points."""

    run_id: int
    ts: list[datetime]
    equity: list[float | None]
    buy_hold: list[float | None]
    drawdown: list[float | None]


def _plain(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


@router.get("/runs/{run_id}/series")
def series(
    db: DB, run_id: RunId, max_points: Annotated[int, Query(ge=10, le=20_000)] = 2_000
) -> RunSeries:
    """Equity, buy & hold and drawdown of a run (downsampled; the deepest drawdown kept)."""
    from algotrader.reports._downsample import buckets_for
    from algotrader.reports.charts import drawdown

    again = browse.recompute(db, browse.get_run(db, run_id))
    equity = again.result.equity
    buckets = buckets_for(pd.DatetimeIndex(equity.index), max_points)
    index = pd.DatetimeIndex(equity.index)[buckets.ends]
    return RunSeries(
        run_id, list(index.to_pydatetime()),
        _plain(buckets.last(equity.to_numpy(np.float64))),
        _plain(buckets.last(again.result.buy_hold.to_numpy(np.float64))),
        _plain(buckets.low(drawdown(equity.to_numpy(np.float64)))),
    )


@router.post("/runs/{run_id}/rerun")
def rerun(db: DB, run_id: RunId) -> browse.RerunVerdict:
    """Recompute a stored run and say whether it reproduced to the last bit (stores nothing)."""
    return browse.rerun_verdict(db, run_id)


@dataclass(frozen=True)
class Curve:
    run_id: int
    label: str
    ts: list[datetime]
    returns: list[float | None]


@dataclass(frozen=True)
class ComparisonBody:
    runs: list[browse.RunSummary]
    curves: list[Curve]
    notes: list[str]


def run_label(run: browse.RunSummary) -> str:
    params = ", ".join(f"{k}={v}" for k, v in run.params.items())
    return f"#{run.id} {run.symbol} {run.resolution} {run.strategy}" + (
        f" ({params})" if params else "")


@router.get("/compare")
def compare(
    db: DB,
    ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Query(
        min_length=1, max_length=browse.MAX_COMPARED, description="Run ids (repeat: ids=1&ids=2)",
    )],
    max_points: Annotated[int, Query(ge=10, le=20_000)] = 2_000,
) -> ComparisonBody:
    """Runs side by side: their stored metrics and their equity curves as returns."""
    from algotrader.reports._downsample import buckets_for

    found = browse.compare_runs(db, ids)
    curves = []
    for r in found.runs:
        curve = found.curves.get(r.id)
        if curve is None:
            continue
        buckets = buckets_for(pd.DatetimeIndex(curve.index), max_points)
        index = pd.DatetimeIndex(curve.index)[buckets.ends]
        curves.append(Curve(r.id, run_label(r), list(index.to_pydatetime()),
                            _plain(buckets.last(curve.to_numpy(np.float64)))))
    fields = browse.RunSummary.__dataclass_fields__
    summaries = [browse.RunSummary(**{f: getattr(r, f) for f in fields}) for r in found.runs]
    return ComparisonBody(summaries, curves, found.notes)


@router.get("/data")
def data(db: DB) -> list[browse.SeriesInventory]:
    """What is stored per symbol and resolution: first/last bar, count, gaps, sources."""
    return browse.data_inventory(db)


@router.get("/orders")
def orders(
    db: DB,
    symbol: Annotated[str | None, Query(pattern=SYMBOL_PATTERN)] = None,
    status: Annotated[str | None, Query(pattern=r"^[A-Za-z]{1,32}$")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=browse.MAX_PAGE_SIZE)] = 50,
) -> browse.OrderPage:
    """The order log, newest first, with each order's status history."""
    return browse.list_orders(db, symbol=symbol, status=status, page=page, page_size=page_size)
