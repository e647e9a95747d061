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
from algotrader.app.browse import Browser
from algotrader.dashboard.api import MAX_ID, get_browser, run_label
from algotrader.errors import InvalidInputError
from algotrader.reports import FigureSection, Report, format_metric, lines_figure

router = APIRouter(include_in_schema=False)
Use = Annotated[Browser, Depends(get_browser)]
RunId = Annotated[int, Path(ge=1, le=MAX_ID)]
StudyId = Annotated[int, Path(ge=1, le=MAX_ID)]
KIND_LABELS = {"": "all but study points", "backtest": "backtests", "portfolio": "portfolios",
               "walkforward": "walk-forward", "study_point": "study points",
               browse.ALL_KINDS: "all, study points too"}
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
    browser: Browser = request.app.state.browser
    return templates(request).TemplateResponse(  # type: ignore[no-any-return]
        request, name, {"db_url": browser.display_url, **context}, status_code=status,
    )


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
    request: Request, browser: Use,
    symbol: str | None = None, strategy: str | None = None, resolution: str | None = None,
    kind: str | None = None, study_id: str | None = None,
    param: Annotated[list[str] | None, Query()] = None,
    metric: Annotated[list[str] | None, Query()] = None,
    created_from: str | None = None, created_to: str | None = None,
    sort: str | None = None, page: str | None = None, page_size: str | None = None,
) -> HTMLResponse:
    """The runs table: filters, sortable headers, pages, and runs to compare."""
    study = _blank(study_id)
    query = browse.RunQuery(
        symbol=_blank(symbol), strategy=_blank(strategy), resolution=_blank(resolution),
        kind=_blank(kind), study_id=_int(study, "study id", 0, 1, MAX_ID) if study else None,
        params=_conditions(param or [], "parameter"), metrics=_conditions(metric or [], "metric"),
        created_from=_date(created_from, "from date"), created_to=_date(created_to, "to date"),
        sort=_blank(sort) or "-id", page=_int(page, "page", 1, 1, 1_000_000),
        page_size=_int(page_size, "page size", 50, 1, browse.MAX_PAGE_SIZE),
    )
    found = browser.runs(query)
    return _render(request, "runs.html", {
        "page": found, "facets": browser.facets(), "query": query, "kinds": KIND_LABELS,
        "filters": {"symbol": symbol or "", "strategy": strategy or "",
                    "resolution": resolution or "", "kind": kind or "",
                    "study_id": study or "", "param": ", ".join(param or []),
                    "metric": ", ".join(metric or []), "created_from": created_from or "",
                    "created_to": created_to or ""},
        "metric_columns": TABLE_METRICS, "fmt": format_metric,
    })


def _run_page(request: Request, browser: Browser, run_id: int, benchmark: str | None,
              verdict: browse.RerunVerdict | None) -> HTMLResponse:
    run = browser.run(run_id)
    report = browser.run_report(run_id, benchmark=_blank(benchmark))
    return _render(request, "run.html", {
        "run": run, "report": report.fragment(), "verdict": verdict,
        "benchmark": benchmark or "", "label": run_label(run),
    })


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, browser: Use, run_id: RunId,
             benchmark: str | None = None) -> HTMLResponse:
    """One run: its report (after its kind), and a button to rerun it."""
    return _run_page(request, browser, run_id, benchmark, None)


@router.post("/runs/{run_id}/rerun", response_class=HTMLResponse)
def rerun_page(request: Request, browser: Use, run_id: RunId) -> HTMLResponse:
    """Recompute the run and show the verdict above its report."""
    verdict = browser.rerun(run_id)
    return _run_page(request, browser, run_id, None, verdict)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, browser: Use,
                 ids: Annotated[list[str] | None, Query()] = None) -> HTMLResponse:
    """Equity curves and metrics of the selected runs side by side."""
    chosen = [_int(i, "run id", 0, 1, MAX_ID) for i in ids or []]
    if not chosen:
        raise InvalidInputError("no runs selected", "tick two or more runs on the runs page")
    found = browser.compare(chosen)
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


@router.get("/studies", response_class=HTMLResponse)
def studies_page(request: Request, browser: Use, page: str | None = None) -> HTMLResponse:
    """The optimisation studies, newest first."""
    found = browser.studies(_int(page, "page", 1, 1, 1_000_000))
    return _render(request, "studies.html", {"page": found, "fmt": format_metric})


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(request: Request, browser: Use, study_id: StudyId) -> HTMLResponse:
    """One study: its report (heatmap, ranked points linking to their runs, DSR and PBO, the
    best point's backtest)."""
    report = browser.study_report(study_id, run_link="/runs/{id}")
    return _render(request, "study.html", {"study_id": study_id, "report": report.fragment()})


@router.get("/data", response_class=HTMLResponse)
def data_page(request: Request, browser: Use) -> HTMLResponse:
    """What is stored per symbol and resolution."""
    return _render(request, "data.html", {"series": browser.inventory()})


@router.get("/orders", response_class=HTMLResponse)
def orders_page(request: Request, browser: Use, symbol: str | None = None,
                status: str | None = None, page: str | None = None) -> HTMLResponse:
    """The order log with each order's status history."""
    found = browser.orders(symbol=_blank(symbol), status=_blank(status),
                           page=_int(page, "page", 1, 1, 1_000_000))
    return _render(request, "orders.html", {"page": found, "symbol": symbol or "",
                                            "status": status or "", "isfinite": math.isfinite})
