"""Job use cases: the queue on PostgreSQL (one clear line on SQLite), results stored exactly
once, cancellation, failures, and a new kind being one function."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.services.conftest import service_settings

from algotrader.app.backtests import BacktestRequest, run_stored
from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.app.jobs import (
    JobContext,
    cancel_job,
    get_job,
    job_kind,
    list_jobs,
    run_job,
    submit_job,
)
from algotrader.config import Settings
from algotrader.errors import InvalidInputError
from algotrader.timeframes import RESOLUTIONS, Duration


def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _count(url: str, sql: str) -> int:
    with psycopg.connect(_pg(url)) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def pg_settings(pg_server_url: str, workdir: Path) -> Iterator[Settings]:
    """Settings on the session's PostgreSQL database, emptied, with SPY 1d bars."""
    from algotrader.db.engine import open_database

    open_database(pg_server_url).dispose()  # migrated
    with psycopg.connect(_pg(pg_server_url), autocommit=True) as conn:
        conn.execute("TRUNCATE jobs, backtest_runs, market_prices, series_state, instruments")
        if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()[0]:  # type: ignore[index]
            conn.execute("TRUNCATE procrastinate_jobs, procrastinate_workers CASCADE")
    settings = service_settings(pg_server_url, workdir)
    window = IngestWindow(duration=Duration(6, "M"))
    ingest(settings, IngestRequest(("SPY",), (RESOLUTIONS["1d"],), window))
    yield settings


def test_on_sqlite_the_queue_asks_for_postgresql_in_one_line(workdir: Path) -> None:
    settings = service_settings(f"sqlite:///{workdir / 'q.db'}", workdir)
    with pytest.raises(InvalidInputError, match="the job queue needs PostgreSQL") as raised:
        submit_job(settings, "backtest", {"symbol": "SPY"})
    assert "\n" not in str(raised.value) and "postgresql+psycopg://" in str(raised.value)


def test_a_submitted_job_is_queued_then_run_and_stored_once(pg_settings: Settings) -> None:
    url = pg_settings.db_url
    job = submit_job(pg_settings, "backtest", {"symbol": "SPY", "strategy": "rsi"})
    assert job.state == "queued" and job.queue_id is not None
    assert _count(url, f"SELECT count(*) FROM procrastinate_jobs WHERE id = {job.queue_id}") == 1

    first = run_job(pg_settings, job.id)
    again = run_job(pg_settings, job.id)  # delivered twice (a worker died after committing)

    assert (first.outcome, again.outcome) == ("succeeded", "already_done")
    stored = get_job(pg_settings, job.id)
    assert stored.state == "succeeded" and stored.attempts == 1
    assert stored.result is not None and stored.result["symbol"] == "SPY"
    assert _count(url, "SELECT count(*) FROM backtest_runs") == 1
    run_id = stored.result["run_id"]
    assert _count(url, f"SELECT count(*) FROM backtest_runs WHERE id = {run_id}") == 1


def test_an_optimisation_study_is_a_job_whose_points_are_stored_once(
    pg_settings: Settings,
) -> None:
    url = pg_settings.db_url
    grid = ["fast=5,10", "slow=20,30"]
    job = submit_job(pg_settings, "optimise", {"symbols": ["SPY"], "grid": grid})

    first = run_job(pg_settings, job.id)
    again = run_job(pg_settings, job.id)  # delivered twice (a worker died after committing)

    assert (first.outcome, again.outcome) == ("succeeded", "already_done"), first.error
    assert first.result is not None
    (study,) = first.result["studies"]
    assert study["symbols"] == ["SPY"] and study["points"] == 4
    study_id = study["study_id"]
    assert _count(url, f"SELECT count(*) FROM studies WHERE id = {study_id}") == 1
    points = f"SELECT count(*) FROM backtest_runs WHERE study_id = {study_id}"
    assert _count(url, points) == 4
    assert _count(url, f"SELECT count(*) FROM backtest_runs WHERE id = {study['best_run_id']}")
    with pytest.raises(InvalidInputError, match="needs symbols and a grid"):
        submit_job(pg_settings, "optimise", {"symbols": ["SPY"]})
    with pytest.raises(InvalidInputError, match="fats"):
        submit_job(pg_settings, "optimise", {"symbols": ["SPY"], "grid": ["fats=5,10"]})


def test_a_bad_payload_is_refused_before_anything_is_queued(pg_settings: Settings) -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'batch'"):
        submit_job(pg_settings, "bacth", {"symbols": ["SPY"]})
    with pytest.raises(InvalidInputError, match="unknown strategy 'nope'"):
        submit_job(pg_settings, "backtest", {"symbol": "SPY", "strategy": "nope"})
    with pytest.raises(InvalidInputError, match="unknown job payload field 'symbl'"):
        submit_job(pg_settings, "backtest", {"symbl": "SPY"})
    with pytest.raises(InvalidInputError, match="a batch job needs symbols"):
        submit_job(pg_settings, "batch", {"symbol": "SPY"})
    assert list_jobs(pg_settings) == []


def test_a_batch_stores_a_run_per_symbol_and_reports_those_without_bars(
    pg_settings: Settings,
) -> None:
    job = submit_job(pg_settings, "batch", {"symbols": ["SPY", "NODATA"], "strategy": "macd"})
    outcome = run_job(pg_settings, job.id)
    assert outcome.outcome == "succeeded" and outcome.result is not None
    assert [r["symbol"] for r in outcome.result["runs"]] == ["SPY"]
    assert outcome.result["failed"][0]["symbol"] == "NODATA"
    assert "no 1d bars of NODATA" in outcome.result["failed"][0]["error"]


def test_a_job_that_fails_is_marked_failed_with_its_reason(pg_settings: Settings) -> None:
    job = submit_job(pg_settings, "backtest", {"symbol": "NODATA"})
    outcome = run_job(pg_settings, job.id)
    stored = get_job(pg_settings, job.id)
    assert outcome.outcome == stored.state == "failed"
    assert stored.error is not None and "no 1d bars of NODATA" in stored.error


def test_cancelling_a_queued_job_takes_it_off_the_queue(pg_settings: Settings) -> None:
    job = submit_job(pg_settings, "backtest", {"symbol": "SPY"})
    assert cancel_job(pg_settings, job.id).state == "cancelled"
    status = f"SELECT count(*) FROM procrastinate_jobs WHERE id = {job.queue_id} " \
             "AND status = 'cancelled'"  # fmt: skip
    assert _count(pg_settings.db_url, status) == 1
    assert run_job(pg_settings, job.id).outcome == "already_done"
    with pytest.raises(InvalidInputError, match=f"job {job.id} has already cancelled"):
        cancel_job(pg_settings, job.id)


def test_a_job_cancelled_while_running_stores_nothing(pg_settings: Settings) -> None:
    job = submit_job(pg_settings, "backtest", {"symbol": "SPY"})
    outcome = run_job(pg_settings, job.id, should_stop=lambda: True)
    assert outcome.outcome == get_job(pg_settings, job.id).state == "cancelled"
    assert _count(pg_settings.db_url, "SELECT count(*) FROM backtest_runs") == 0


@job_kind("test_store_then_crash")
def _store_then_crash(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """A kind that stores a backtest run, then dies before finishing."""
    run_stored(ctx.stores, BacktestRequest("SPY", RESOLUTIONS["1d"]))
    raise RuntimeError("the worker died here")


def test_a_new_kind_is_one_function_and_an_attempt_commits_all_or_nothing(
    pg_settings: Settings,
) -> None:
    job = submit_job(pg_settings, "test_store_then_crash", {})
    outcome = run_job(pg_settings, job.id)
    assert outcome.outcome == "failed"
    assert outcome.error == "internal error: RuntimeError: the worker died here"
    assert _count(pg_settings.db_url, "SELECT count(*) FROM backtest_runs") == 0
