"""Stored backtest runs: :class:`RunRecord` and the :class:`RunStore` port."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class RunRecord:
    """One stored backtest: what ran, on which data, with which code, and what came out.

    ``id`` and ``created_at`` are ``None`` until the run store has assigned them. ``kind`` is
    ``"backtest"`` or ``"portfolio"``; ``detail`` holds what only that kind has.
    ``data_fingerprint`` is the SHA-256 of the bars used; ``code_version`` covers the package and
    the strategy's own source, so a rerun can tell "the data changed" from "the code changed".
    """

    symbol: str
    resolution: str
    strategy: str
    params: dict[str, Any]
    config: dict[str, Any]
    start_ts: datetime
    end_ts: datetime
    bars: int
    data_fingerprint: str
    data_source: str | None
    code_version: str
    metrics: dict[str, Any]
    trades: list[dict[str, Any]]
    kind: str = "backtest"
    detail: dict[str, Any] | None = None
    study_id: int | None = None
    id: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class StudyRecord:
    """One stored optimisation study (its points are runs with its ``id`` as ``study_id``)."""

    kind: str
    symbols: list[str]
    resolution: str
    strategy: str
    config: dict[str, Any]
    n_trials: int
    summary: dict[str, Any]
    code_version: str
    dsr: float | None = None
    pbo: float | None = None
    best_run_id: int | None = None
    id: int | None = None
    created_at: datetime | None = None


class RunStore(Protocol):
    """Where backtest runs are kept."""

    def add(self, record: RunRecord) -> int:
        """Store ``record``; returns its new id."""
        ...

    def get(self, run_id: int) -> RunRecord:
        """The run with ``run_id`` (a clear error when there is none)."""
        ...

    def latest(self, limit: int = 50, *, kinds: tuple[str, ...] | None = None) -> list[RunRecord]:
        """The most recent runs (of ``kinds``), newest first."""
        ...

    def add_study(
        self, study: StudyRecord, points: list[RunRecord], best: int | None
    ) -> tuple[int, list[int]]:
        """Store a study and its points in one transaction; ``best`` indexes ``points``.
        Returns the study id and the points' run ids."""
        ...

    def get_study(self, study_id: int) -> StudyRecord: ...

    def studies(self, limit: int = 50) -> list[StudyRecord]: ...
