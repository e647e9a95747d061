"""The one line a worker logs per job says what the job produced, whatever its kind."""

from __future__ import annotations

import logging

import pytest

from algotrader.app.jobs import JobOutcome
from algotrader.services.run import _log_job


def test_a_finished_study_job_logs_its_study_and_best_point(
    caplog: pytest.LogCaptureFixture,
) -> None:
    study = {"study_id": 7, "symbols": ["SPY"], "points": 4, "best_params": {"fast": 5},
             "best_objective": 1.2, "best_run_id": 31}  # fmt: skip
    outcome = JobOutcome(3, "optimise", "succeeded", 1.5, 1, result={"studies": [study]})
    with caplog.at_level(logging.INFO, logger="algotrader.services"):
        _log_job(outcome)
    (line,) = caplog.messages
    assert line.endswith("study 7 (SPY): 4 points, best {'fast': 5} (run 31)")
