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
from algotrader.app.browse import Browser
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
KindName = enum.StrEnum(  # type: ignore[misc]
    "KindName", {k: k for k in (*browse.RUN_KINDS, browse.ALL_KINDS)}
)


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


def get_browser(request: Request) -> Browser:
    browser: Browser = request.app.state.browser
    return browser


Use = Annotated[Browser, Depends(get_browser)]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="A stored run's id.")]
StudyId = Annotated[int, Path(ge=1, le=MAX_ID, description="A stored study's id.")]
Page = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=browse.MAX_PAGE_SIZE)]


@dataclass(frozen=True)
class Health:
    status: Literal["ok"]
    database: str


@router.get("/health")
def health(browser: Use) -> Health:
    """The dashboard is up; which database it reads (password masked)."""
    return Health("ok", browser.display_url)


@router.get("/runs")
def runs(
    browser: Use,
    symbol: Annotated[str | None, Query(pattern=SYMBOL_PATTERN)] = None,
    strategy: Annotated[str | None, Query(pattern=TEXT_PATTERN)] = None,
    resolution: ResolutionName | None = None,
    kind: Annotated[KindName | None, Query(
        description="Only runs of this kind; default: every kind but study points (all: every "
                    "kind)",
    )] = None,
    study_id: Annotated[int | None, Query(ge=1, le=MAX_ID,
                                          description="Only the points of this study")] = None,
    param: Annotated[list[ParamFilter] | None, Query(
        description="Parameter filter NAME OP VALUE (repeatable), e.g. fast=10",
    )] = None,
    metric: Annotated[list[MetricFilter] | None, Query(
        description="Metric filter NAME OP NUMBER (repeatable), e.g. sharpe>1",
    )] = None,
    created_from: Rfc3339 | None = None,
    created_to: Rfc3339 | None = None,
    sort: SortKey = SortKey("-id"),
    page: Page = 1,
    page_size: PageSize = 50,
) -> browse.RunPage:
    """Stored runs, filtered, sorted (``-name`` descending) and paginated by the database."""
    query = browse.RunQuery(
        symbol=symbol, strategy=strategy, resolution=resolution.value if resolution else None,
        kind=kind.value if kind else None, study_id=study_id,
        params=tuple(browse.Condition.parse(p, what="parameter") for p in param or ()),
        metrics=tuple(browse.Condition.parse(m) for m in metric or ()),
        created_from=created_from, created_to=created_to, sort=sort.value, page=page,
        page_size=page_size,
    )
    return browser.runs(query)


@router.get("/runs/facets")
def facets(browser: Use) -> browse.RunFacets:
    """What runs can be filtered and sorted by."""
    return browser.facets()


@router.get("/runs/{run_id}")
def run(browser: Use, run_id: RunId) -> browse.RunDetail:
    """Everything stored about one run (parameters, settings, metrics, trades, provenance,
    and what only its kind has)."""
    return browser.run(run_id)


@router.get("/runs/{run_id}/series")
def series(
    browser: Use, run_id: RunId, max_points: Annotated[int, Query(ge=10, le=20_000)] = 2_000
) -> browse.RunSeries:
    """Equity, baseline (buy & hold, or a portfolio's benchmark) and drawdown of a run,
    recomputed on its stored bars and downsampled (the deepest drawdown kept)."""
    return browser.series(run_id, max_points)


@router.post("/runs/{run_id}/rerun")
def rerun(browser: Use, run_id: RunId) -> browse.RerunVerdict:
    """Recompute a stored run of any kind and say whether it reproduced to the last bit
    (stores nothing)."""
    return browser.rerun(run_id)


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
    kind = "" if run.kind in ("backtest", "study_point") else f"{run.kind} "
    return f"#{run.id} {kind}{run.symbol} {run.resolution} {run.strategy}" + (
        f" ({params})" if params else "")


@router.get("/compare")
def compare(
    browser: Use,
    ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Query(
        min_length=1, max_length=browse.MAX_COMPARED, description="Run ids (repeat: ids=1&ids=2)",
    )],
    max_points: Annotated[int, Query(ge=10, le=20_000)] = 2_000,
) -> ComparisonBody:
    """Runs side by side: their stored metrics and their equity curves as returns."""
    from algotrader.reports import buckets_for

    found = browser.compare(ids)
    curves = []
    for r in found.runs:
        curve = found.curves.get(r.id)
        if curve is None:
            continue
        buckets = buckets_for(pd.DatetimeIndex(curve.index), max_points)
        index = pd.DatetimeIndex(curve.index)[buckets.ends]
        curves.append(Curve(r.id, run_label(r), list(index.to_pydatetime()),
                            _plain(buckets.last(curve.to_numpy(np.float64)))))
    return ComparisonBody([r.summary() for r in found.runs], curves, found.notes)


def _plain(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


@router.get("/studies")
def studies(browser: Use, page: Page = 1, page_size: PageSize = 50) -> browse.StudyPage:
    """Stored optimisation studies, newest first, with their best point, DSR and PBO."""
    return browser.studies(page, page_size)


@router.get("/studies/{study_id}")
def study(browser: Use, study_id: StudyId) -> browse.StudyOverview:
    """One study (configuration, statistics, summary) and every stored point, best first
    (each point is a run: ``/api/runs/{run_id}``)."""
    return browser.study(study_id)


@router.get("/data")
def data(browser: Use) -> list[browse.SeriesInventory]:
    """What is stored per symbol and resolution: first/last bar, count, gaps, sources."""
    return browser.inventory()


@router.get("/orders")
def orders(
    browser: Use,
    symbol: Annotated[str | None, Query(pattern=SYMBOL_PATTERN)] = None,
    status: Annotated[str | None, Query(pattern=r"^[A-Za-z]{1,32}$")] = None,
    page: Page = 1,
    page_size: PageSize = 50,
) -> browse.OrderPage:
    """The order log, newest first, with each order's status history."""
    return browser.orders(symbol=symbol, status=status, page=page, page_size=page_size)
