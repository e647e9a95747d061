"""The dashboard's use cases: stored runs (filtered, sorted and paged by the database), one run
with its curves, report and rerun verdict, runs compared, studies, the stored bars and the
order log.

:class:`Browser` holds one read-only connection pool for the server's lifetime: a dashboard
answers many small requests, and opening the database per request (connect, schema check) would
cost more than the queries; the connections refuse writes (``PRAGMA query_only`` on SQLite,
read-only transactions on PostgreSQL). Reruns go through :func:`algotrader.app.runs.rerun`
with the browser's settings (they store nothing).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from algotrader.config import Settings, load_settings
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ports.browse import (
    ALL_KINDS,
    KNOWN_METRICS,
    MAX_PAGE_SIZE,
    RUN_COLUMNS,
    RUN_KINDS,
    Condition,
    OrderPage,
    OrderRecord,
    PointRun,
    ReadModel,
    RunDetail,
    RunFacets,
    RunPage,
    RunQuery,
    RunSummary,
    SeriesInventory,
    StudyPage,
    StudyRow,
)
from algotrader.ports.runs import StudyRecord

if TYPE_CHECKING:
    from algotrader.app._stores import Stores
    from algotrader.app.reports import Recomputed
    from algotrader.app.runs import RerunReport
    from algotrader.reports import Report

MAX_COMPARED = 8


@dataclass(frozen=True)
class ReadOnly:
    """One database opened for reading: its read model (the dashboard's queries) and its
    stores (bars, runs ...), all over connections that refuse writes."""

    model: ReadModel
    stores: Stores

    def close(self) -> None:
        self.model.close()


def open_readonly(settings: Settings | str) -> ReadOnly:
    """The configured database (or a URL), migrated like every command, then read-only:
    ``PRAGMA query_only`` on SQLite, read-only transactions on PostgreSQL."""
    from algotrader.app._stores import stores_of
    from algotrader.data.providers import SYNTHETIC_SOURCES
    from algotrader.db.browse import SqlReadModel
    from algotrader.db.browse import open_readonly as open_database

    db = open_database(settings)
    return ReadOnly(SqlReadModel(db, SYNTHETIC_SOURCES), stores_of(db))


@dataclass(frozen=True)
class RunSeries:
    """A run's curves recomputed on its stored bars, at most ``max_points`` points (each the
    last bar of a group of bars; the drawdown keeps each group's deepest value).

    ``baseline`` is buy & hold (a backtest, a walk-forward's test windows) or the benchmark (a
    portfolio)."""

    run_id: int
    kind: str
    ts: list[datetime]
    equity: list[float | None]
    baseline: list[float | None]
    drawdown: list[float | None]


@dataclass(frozen=True)
class RerunVerdict:
    """Whether a stored run reproduced to the last bit."""

    run_id: int
    kind: str
    reproduced: bool
    same_data: bool
    same_code: bool
    identical_metrics: bool
    identical_trades: bool
    differences: list[str]
    message: str


@dataclass(frozen=True)
class Comparison:
    """Runs side by side: their details and equity curves as returns on their starting cash
    (``None`` when a run's bars are gone)."""

    runs: list[RunDetail]
    curves: dict[int, pd.Series | None]
    notes: list[str]


@dataclass(frozen=True)
class StudyOverview:
    """A stored study and its stored points (one run per point and symbol), best first."""

    study: StudyRecord
    points: list[PointRun]


class Browser:
    """The dashboard's use cases over one read-only database, open until :meth:`close`.

    >>> with Browser.open(settings) as browser:                       # doctest: +SKIP
    ...     browser.runs(RunQuery(strategy="rsi", sort="-sharpe")).runs
    """

    def __init__(self, settings: Settings, data: ReadOnly) -> None:
        self.settings = settings
        self.data = data
        self.model = data.model
        self._facets: tuple[tuple[int, int], RunFacets] | None = None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings | str) -> Browser:
        """Over the database of ``settings`` (or a URL), migrated like every command."""
        found = settings if isinstance(settings, Settings) else load_settings(database_url=settings)
        return cls(found, open_readonly(found))

    def close(self) -> None:
        self.data.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def display_url(self) -> str:
        """The database's URL without its password."""
        return self.model.display_url

    # ---------------------------------------------------------------------------- runs
    def runs(self, query: RunQuery | None = None) -> RunPage:
        """One page of stored runs, filtered and sorted by the database."""
        return self.model.runs(query or RunQuery())

    def facets(self) -> RunFacets:
        """The filter choices, recomputed only when a run was stored since."""
        version = self.model.version()
        with self._lock:
            if self._facets is None or self._facets[0] != version:
                self._facets = (version, self.model.facets())
            return self._facets[1]

    def run(self, run_id: int) -> RunDetail:
        """Everything stored about one run."""
        return self.model.run(run_id)

    def recompute(self, run_id: int) -> Recomputed:
        """Run ``run_id`` recomputed on its stored bars (for its curves)."""
        from algotrader.app.reports import recompute

        return recompute(self.data, self.model.run(run_id))

    def series(self, run_id: int, max_points: int = 2_000) -> RunSeries:
        """Equity, baseline and drawdown of a run, downsampled to ``max_points``."""
        from algotrader.reports import buckets_for, drawdown

        again = self.recompute(run_id)
        buckets = buckets_for(pd.DatetimeIndex(again.equity.index), max_points)
        index = pd.DatetimeIndex(again.equity.index)[buckets.ends]
        equity = again.equity.to_numpy(np.float64)
        return RunSeries(
            run_id,
            again.run.kind,
            list(index.to_pydatetime()),
            _plain(buckets.last(equity)),
            _plain(buckets.last(again.baseline.to_numpy(np.float64))),
            _plain(buckets.low(drawdown(equity))),
        )

    def rerun(self, run_id: int) -> RerunVerdict:
        """Recompute a run of any kind and compare its metrics and trades exactly (stores
        nothing)."""
        from algotrader.app.runs import rerun

        self.model.run(run_id)  # a missing run is a 404 before any work
        return _verdict(run_id, rerun(self.settings, run_id))

    def compare(self, run_ids: Sequence[int]) -> Comparison:
        """Up to :data:`MAX_COMPARED` runs of any kinds with their recomputed equity curves."""
        from algotrader.app.reports import recompute

        ids = list(dict.fromkeys(run_ids))
        if not 1 <= len(ids) <= MAX_COMPARED:
            raise InvalidInputError(
                f"cannot compare {len(ids)} runs", f"select 1 to {MAX_COMPARED} runs"
            )
        runs = [self.model.run(run_id) for run_id in ids]
        curves: dict[int, pd.Series | None] = {}
        notes = []
        for run in runs:
            try:
                again = recompute(self.data, run)
            except DataNotFoundError as exc:
                curves[run.id] = None
                notes.append(exc.message)
                continue
            curves[run.id] = again.equity / again.cash - 1.0
        return Comparison(runs, curves, notes)

    # ---------------------------------------------------------------------------- reports
    def run_report(self, run_id: int, *, benchmark: str | None = None) -> Report:
        """The HTML report of a stored run, after its kind."""
        from algotrader.app.reports import run_report

        return run_report(self.data, run_id, benchmark=benchmark)

    def study_report(self, study_id: int, *, run_link: str = "") -> Report:
        """The HTML report of a stored study (``run_link`` like ``"/runs/{id}"``)."""
        from algotrader.app.reports import study_report

        return study_report(self.data, study_id, run_link=run_link)

    # ---------------------------------------------------------------------------- studies
    def studies(self, page: int = 1, page_size: int = 50) -> StudyPage:
        """Stored studies, newest first, with their best point."""
        return self.model.studies(page, page_size)

    def study(self, study_id: int) -> StudyOverview:
        """A stored study and its points, best objective first."""
        record = self.model.study(study_id)
        sign = (
            -1.0 if (record.config.get("objective") or {}).get("direction") != "minimize" else 1.0
        )
        points = sorted(
            self.model.study_points(study_id),
            key=lambda p: (p.objective is None, sign * (p.objective or 0.0), p.point, p.symbol),
        )
        return StudyOverview(record, points)

    # ---------------------------------------------------------------------------- data
    def inventory(self) -> list[SeriesInventory]:
        """One row per stored (symbol, resolution): first/last bar, count, gaps, sources."""
        return self.model.inventory()

    def orders(
        self,
        *,
        symbol: str | None = None,
        status: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> OrderPage:
        """Stored orders, newest first, with their status histories."""
        return self.model.orders(symbol, status, page, page_size)


def _plain(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _verdict(run_id: int, report: RerunReport) -> RerunVerdict:
    same = report.identical_metrics and report.identical_trades
    if same:
        message = (
            f"Run {run_id} reproduced: metrics and {len(report.run.trades)} trades "
            "identical to the last bit."
        )
    else:
        message = (
            f"Run {run_id} did not reproduce (metrics identical: "
            f"{report.identical_metrics}, trades identical: {report.identical_trades})."
        )
    if not report.same_data:
        message += " The stored bars changed since it ran (fingerprint differs)."
    if not report.same_code:
        message += f" The code changed since it ran (stored {report.run.code_version})."
    return RerunVerdict(
        run_id,
        report.run.kind,
        same,
        report.same_data,
        report.same_code,
        report.identical_metrics,
        report.identical_trades,
        list(report.differences),
        message,
    )


__all__ = [
    "ALL_KINDS",
    "KNOWN_METRICS",
    "MAX_COMPARED",
    "MAX_PAGE_SIZE",
    "RUN_COLUMNS",
    "RUN_KINDS",
    "Browser",
    "Comparison",
    "Condition",
    "OrderPage",
    "OrderRecord",
    "PointRun",
    "ReadOnly",
    "RerunVerdict",
    "RunDetail",
    "RunFacets",
    "RunPage",
    "RunQuery",
    "RunSeries",
    "RunSummary",
    "SeriesInventory",
    "StudyOverview",
    "StudyPage",
    "StudyRow",
    "open_readonly",
]
