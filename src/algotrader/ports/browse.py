"""What the dashboard and the reports read: stored runs filtered, sorted and paged by the
database, studies, the stored bars' inventory and the order log, as the :class:`ReadModel` port
and the value objects it returns.

:mod:`algotrader.db.browse` implements it over read-only connections (SQLite and PostgreSQL).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from algotrader.errors import InvalidInputError
from algotrader.ports.runs import RunRecord, StudyRecord

MAX_PAGE_SIZE = 500
KNOWN_METRICS: tuple[str, ...] = (
    "total_return", "buy_hold_return", "alpha", "cagr", "volatility", "sharpe", "sortino",
    "max_drawdown", "max_drawdown_duration_bars", "max_drawdown_duration_days", "calmar",
    "num_trades", "win_rate", "profit_factor", "exposure", "periods_per_year", "years",
)
RUN_COLUMNS: tuple[str, ...] = (
    "id", "created_at", "kind", "symbol", "resolution", "strategy", "bars", "start_ts", "end_ts",
)
RUN_KINDS: tuple[str, ...] = ("backtest", "portfolio", "walkforward", "study_point")
ALL_KINDS = "all"
"""``RunQuery.kind`` for every kind, study points included."""

Op = Literal[">=", "<=", "!=", "=", ">", "<"]
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Condition:
    """``name op value`` on a metric or a parameter (numbers compare as numbers)."""

    name: str
    op: Op
    value: float | str | bool

    @classmethod
    def parse(cls, text: str, *, what: str = "metric") -> Condition:
        """``"sharpe>1"``, ``"max_drawdown>=-0.2"``, ``"fast=10"``, ``"mode=fast"``."""
        match = _CONDITION.match(text or "")
        if match is None or "\x00" in text:
            raise InvalidInputError(
                f"invalid {what} filter {text[:80]!r}",
                f"write NAME OP VALUE, e.g. {'sharpe>1' if what == 'metric' else 'fast=10'} "
                "(OP one of = != > >= < <=)",
            )
        name, op, raw = match.groups()
        value = _parse_value(raw)
        if not isinstance(value, float) and op not in ("=", "!="):
            raise InvalidInputError(
                f"invalid {what} filter {text[:80]!r}: {op} needs a number",
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
    """Filters, sort and page of the runs table. ``sort`` is a column or metric name, ``-name``
    for descending (default ``-id``: newest first).

    ``kind``: one of :data:`RUN_KINDS`, :data:`ALL_KINDS`, or ``None`` for every kind but study
    points (they are listed per study; with ``study_id`` the study's points are listed).
    """

    symbol: str | None = None
    strategy: str | None = None
    resolution: str | None = None
    kind: str | None = None
    study_id: int | None = None
    params: tuple[Condition, ...] = ()
    metrics: tuple[Condition, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None
    sort: str = "-id"
    page: int = 1
    page_size: int = 50

    def kinds(self) -> tuple[str, ...] | None:
        """The kinds listed (``None``: all)."""
        if self.kind == ALL_KINDS or (self.kind is None and self.study_id is not None):
            return None
        if self.kind is None:
            return tuple(k for k in RUN_KINDS if k != "study_point")
        if self.kind not in RUN_KINDS:
            import difflib

            close = difflib.get_close_matches(self.kind, [*RUN_KINDS, ALL_KINDS], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidInputError(f"unknown run kind {self.kind[:40]!r}",
                                    f"{hint}use one of {', '.join(RUN_KINDS)} or {ALL_KINDS}")
        return (self.kind,)


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs table. ``symbol`` names the basket of a portfolio run."""

    id: int
    created_at: datetime
    kind: str
    study_id: int | None
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
    """A stored run with everything it records (``detail``: what only its kind has)."""

    config: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    code_version: str = ""
    trades: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] | None = None

    def summary(self) -> RunSummary:
        return RunSummary(**{f: getattr(self, f) for f in RunSummary.__dataclass_fields__})

    def record(self) -> RunRecord:
        """The same run as the run store's :class:`~algotrader.ports.runs.RunRecord`."""
        return RunRecord(**{f: getattr(self, f) for f in RunRecord.__dataclass_fields__})


@dataclass(frozen=True)
class RunFacets:
    """What the runs can be filtered and sorted by."""

    symbols: list[str]
    strategies: list[str]
    resolutions: list[str]
    kinds: list[str]
    metrics: list[str]
    params: list[str]
    sort_keys: list[str]


@dataclass(frozen=True)
class StudyRow:
    """One row of the studies table: the study and its best point."""

    id: int
    created_at: datetime
    symbols: list[str]
    resolution: str
    strategy: str
    objective: str
    direction: str
    n_trials: int
    dsr: float | None
    pbo: float | None
    best_run_id: int | None
    best_params: dict[str, Any]
    best_objective: float | None


@dataclass(frozen=True)
class PointRun:
    """One evaluated point of a study on one symbol, stored as the run ``run_id``."""

    run_id: int
    point: int
    symbol: str
    params: dict[str, Any]
    objective: float | None
    metrics: dict[str, Any]


@dataclass(frozen=True)
class StudyPage:
    studies: list[StudyRow]
    total: int
    page: int
    page_size: int
    pages: int


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


def pages(total: int, page_size: int) -> int:
    """How many pages ``total`` rows fill (at least one)."""
    return max(1, math.ceil(total / page_size))


def check_page(page: int, page_size: int) -> None:
    """Refuse a page before the first or a page size outside 1..:data:`MAX_PAGE_SIZE`."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"invalid page size {page_size}", f"use 1 to {MAX_PAGE_SIZE}")
    if page < 1:
        raise InvalidInputError(f"invalid page {page}", "pages start at 1")


class ReadModel(Protocol):
    """Read-only queries over the stored runs, studies, bars and orders.

    Filtering, sorting and paging happen in the database; every method refuses what it cannot
    answer with a :class:`~algotrader.errors.UserError`.
    """

    @property
    def display_url(self) -> str:
        """The database's URL without its password."""
        ...

    def runs(self, query: RunQuery) -> RunPage: ...

    def version(self) -> tuple[int, int]:
        """(number of runs, newest id): changes whenever a run is stored."""
        ...

    def facets(self) -> RunFacets: ...

    def metric_names(self) -> list[str]: ...

    def run(self, run_id: int) -> RunDetail: ...

    def study_points(self, study_id: int) -> list[PointRun]:
        """Every stored point of a study (one run per point and symbol), oldest first."""
        ...

    def studies(self, page: int = 1, page_size: int = 50) -> StudyPage: ...

    def study(self, study_id: int) -> StudyRecord: ...

    def inventory(self) -> list[SeriesInventory]: ...

    def orders(self, symbol: str | None = None, status: str | None = None, page: int = 1,
               page_size: int = 50) -> OrderPage: ...

    def close(self) -> None: ...


__all__ = [
    "ALL_KINDS",
    "KNOWN_METRICS",
    "MAX_PAGE_SIZE",
    "RUN_COLUMNS",
    "RUN_KINDS",
    "Condition",
    "OrderPage",
    "OrderRecord",
    "PointRun",
    "ReadModel",
    "RunDetail",
    "RunFacets",
    "RunPage",
    "RunQuery",
    "RunSummary",
    "SeriesInventory",
    "StudyPage",
    "StudyRow",
    "check_page",
    "pages",
]
