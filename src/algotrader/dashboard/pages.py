"""The HTML pages (server-rendered with Jinja2; not in the OpenAPI schema)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from algotrader.app import browse
from algotrader.dashboard.api import MAX_ID, get_db, run_label
from algotrader.db.engine import Database
from algotrader.errors import InvalidInputError
from algotrader.reports.tables import format_metric

router = APIRouter(include_in_schema=False)
DB = Annotated[Database, Depends(get_db)]
RunId = Annotated[int, Path(ge=1, le=MAX_ID)]
TABLE_METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "num_trades", "win_rate")
COMPARE_METRICS = (
    "total_return", "buy_hold_return", "alpha", "cagr", "volatility", "sharpe", "sortino",
    "max_drawdown", "calmar", "num_trades", "win_rate", "profit_factor", "exposure",
)
_SPLIT = re.compile(r"[,;]")


def templates(request: Request) -> Jinja2Templates:
    found: Jinja2Templates = request.app.state.templates
    return found


def _render(
    request: Request, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    return templates(request).TemplateResponse(  # type: ignore[no-any-return]
        request, name, {"db_url": request.app.state.db.display_url, **context},
        status_code=status,
    )


def _facets(request: Request, db: Database) -> browse.RunFacets:
    """The filter choices, recomputed only when a run was stored since (one scan of the runs)."""
    version = browse.runs_version(db)
    cached = getattr(request.app.state, "facets", None)
    if cached is None or cached[0] != version:
        cached = (version, browse.run_facets(db))
        request.app.state.facets = cached
    facets: browse.RunFacets = cached[1]
    return facets


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    text = _blank(value)
    if text is None:
        return default
    try:
        number = int(text)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise InvalidInputError(
            f"invalid {name} {text[:40]!r}", f"use a whole number {low}..{high}"
        )
    return number


def _date(value: str | None, name: str) -> datetime | None:
    text = _blank(value)
    if text is None:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"invalid {name} {text[:40]!r}", "use YYYY-MM-DD") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _conditions(values: list[str], what: str) -> tuple[browse.Condition, ...]:
    parts = [p for v in values for p in _SPLIT.split(v) if p.strip()]
    return tuple(browse.Condition.parse(p, what=what) for p in parts)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/runs", status_code=307)


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request, db: DB,
    symbol: str | None = None, strategy: str | None = None, resolution: str | None = None,
    param: Annotated[list[str] | None, Query()] = None,
    metric: Annotated[list[str] | None, Query()] = None,
    created_from: str | None = None, created_to: str | None = None,
    sort: str | None = None, page: str | None = None, page_size: str | None = None,
) -> HTMLResponse:
    """The runs table: filters, sortable headers, pages, and runs to compare."""
    query = browse.RunQuery(
        symbol=_blank(symbol), strategy=_blank(strategy), resolution=_blank(resolution),
        params=_conditions(param or [], "parameter"), metrics=_conditions(metric or [], "metric"),
        created_from=_date(created_from, "from date"), created_to=_date(created_to, "to date"),
        sort=_blank(sort) or "-id", page=_int(page, "page", 1, 1, 1_000_000),
        page_size=_int(page_size, "page size", 50, 1, browse.MAX_PAGE_SIZE),
    )
    found = browse.list_runs(db, query)
    return _render(request, "runs.html", {
        "page": found, "facets": _facets(request, db), "query": query,
        "filters": {"symbol": symbol or "", "strategy": strategy or "",
                    "resolution": resolution or "", "param": ", ".join(param or []),
                    "metric": ", ".join(metric or []), "created_from": created_from or "",
                    "created_to": created_to or ""},
        "metric_columns": TABLE_METRICS, "fmt": format_metric,
    })


def _run_page(request: Request, db: Database, run_id: int, benchmark: str | None,
              verdict: browse.RerunVerdict | None) -> HTMLResponse:
    run = browse.get_run(db, run_id)
    report = browse.run_report(db, run_id, benchmark=_blank(benchmark))
    return _render(request, "run.html", {
        "run": run, "report": report.fragment(), "verdict": verdict,
        "benchmark": benchmark or "", "label": run_label(run),
    })


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, db: DB, run_id: RunId,
             benchmark: str | None = None) -> HTMLResponse:
    """One run: its report, and a button to rerun it."""
    return _run_page(request, db, run_id, benchmark, None)


@router.post("/runs/{run_id}/rerun", response_class=HTMLResponse)
def rerun_page(request: Request, db: DB, run_id: RunId) -> HTMLResponse:
    """Recompute the run and show the verdict above its report."""
    verdict = browse.rerun_verdict(db, run_id)
    return _run_page(request, db, run_id, None, verdict)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, db: DB,
                 ids: Annotated[list[str] | None, Query()] = None) -> HTMLResponse:
    """Equity curves and metrics of the selected runs side by side."""
    from algotrader.reports import lines_figure
    from algotrader.reports.document import FigureSection, Report

    chosen = [_int(i, "run id", 0, 1, MAX_ID) for i in ids or []]
    if not chosen:
        raise InvalidInputError("no runs selected", "tick two or more runs on the runs page")
    found = browse.compare_runs(db, chosen)
    labels = {r.id: run_label(r) for r in found.runs}
    curves = {labels[k]: v for k, v in found.curves.items() if v is not None}
    figure = lines_figure(curves, title="Equity as return on the starting cash", percent=True)
    fragment = Report(title="").add(FigureSection("", figure)).fragment(id_prefix="compare")
    rows = [(key, [format_metric(key, r.metrics.get(key)) for r in found.runs])
            for key in COMPARE_METRICS]
    return _render(request, "compare.html", {
        "runs": found.runs, "labels": labels, "figure": fragment, "rows": rows,
        "notes": found.notes,
    })


@router.get("/data", response_class=HTMLResponse)
def data_page(request: Request, db: DB) -> HTMLResponse:
    """What is stored per symbol and resolution."""
    return _render(request, "data.html", {"series": browse.data_inventory(db)})


@router.get("/orders", response_class=HTMLResponse)
def orders_page(request: Request, db: DB, symbol: str | None = None, status: str | None = None,
                page: str | None = None) -> HTMLResponse:
    """The order log with each order's status history."""
    found = browse.list_orders(db, symbol=_blank(symbol), status=_blank(status),
                               page=_int(page, "page", 1, 1, 1_000_000))
    return _render(request, "orders.html", {"page": found, "symbol": symbol or "",
                                            "status": status or "", "isfinite": math.isfinite})
