"""The local process pool: same numbers as in-process, bars shipped once per worker."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.backtest.result import BacktestConfig
from algotrader.executors import InlineExecutor, LocalExecutor, make_executor, probe
from algotrader.research import Study, StudyConfig, parse_grid, run_study
from algotrader.research.tasks import EvalSpec, EvalTask, StrategyRef, evaluate_task


@pytest.fixture(scope="module")
def pool() -> Iterator[LocalExecutor]:
    with LocalExecutor(2) as ex:
        yield ex


def identical(a: Study, b: Study) -> bool:
    if [p.params for p in a.points] != [p.params for p in b.points]:
        return False
    for p, q in zip(a.points, b.points, strict=True):
        for s in p.metrics:
            x, y = p.metrics[s], q.metrics[s]
            if any(not (x[k] == y[k] or (x[k] != x[k] and y[k] != y[k])) for k in x):
                return False
            if not np.array_equal(p.returns[s], q.returns[s]):
                return False
    return True


@pytest.mark.parametrize("engine_only", [False, True])
def test_study_on_processes_is_bit_identical_to_in_process(
    pool: LocalExecutor, daily: pd.DataFrame, engine_only: bool
) -> None:
    config = StudyConfig("ma_cross", parse_grid(["fast=3:15:4", "slow=20:40:10"]),
                         engine_only=engine_only,
                         backtest=BacktestConfig(commission_bps=2, allow_short=True))
    assert identical(run_study(daily, config, executor=pool), run_study(daily, config))


def test_bars_reach_each_worker_once(pool: LocalExecutor) -> None:
    shared = {"bars": np.arange(1000.0)}
    first = [r for _, r in pool.map_unordered(probe, shared, list(range(16)))]
    again = [r for _, r in pool.map_unordered(probe, shared, list(range(16)))]
    loads: dict[int, set[int]] = {}
    for r in first + again:
        loads.setdefault(r["pid"], set()).add(r["loads"])
    # Every task a worker ran saw the same load count: the bars were loaded once, not per task.
    assert all(len(counts) == 1 for counts in loads.values()) and len(loads) <= 2
    other = [r for _, r in pool.map_unordered(probe, {"bars": np.zeros(3)}, list(range(8)))]
    for r in other:
        if r["pid"] in loads:
            assert {r["loads"] - 1} == loads[r["pid"]]  # a new shared object: one more load


def test_workers_are_single_threaded(pool: LocalExecutor) -> None:
    results = [r for _, r in pool.map_unordered(probe, None, list(range(4)))]
    assert {r["numba_threads"] for r in results} == {"1"}
    assert os.environ.get("ALGOTRADER_WORKER") is None  # the parent's environment is restored


def test_every_task_index_comes_back_once(pool: LocalExecutor) -> None:
    indices = [i for i, _ in pool.map_unordered(probe, None, list(range(25)))]
    assert sorted(indices) == list(range(25))


def test_a_task_error_reaches_the_caller(pool: LocalExecutor, daily: pd.DataFrame) -> None:
    spec = EvalSpec(StrategyRef.of("ma_cross"), BacktestConfig(), "1d", "bar")
    task = EvalTask(spec, "MISSING", (0, 10), ((0, {"fast": 2, "slow": 5}),))
    with pytest.raises(KeyError):
        list(pool.map_unordered(evaluate_task, {"X": daily}, [task]))


def test_a_killed_worker_is_replaced_and_no_task_is_lost(walk: Any) -> None:
    frame = walk(3_000, seed=4)
    spec = EvalSpec(StrategyRef.of("streak"), BacktestConfig(), "1d", "bar", path="on_bar")
    tasks = [EvalTask(spec, "X", (0, len(frame)), ((i, {"down": 1 + i % 4, "up": 1 + i % 3}),))
             for i in range(24)]
    expected = {i: r for i, r in InlineExecutor().map_unordered(evaluate_task, {"X": frame},
                                                                tasks)}
    got: dict[int, Any] = {}
    with LocalExecutor(2) as ex:
        ex.start()
        victims = list(ex._pool._processes)  # type: ignore[union-attr]
        for i, result in ex.map_unordered(evaluate_task, {"X": frame}, tasks):
            assert i not in got
            got[i] = result
            if len(got) == 1:
                os.kill(victims[0], signal.SIGKILL)
        assert victims[0] not in ex._pool._processes  # type: ignore[union-attr]  # rebuilt
    assert sorted(got) == list(range(24))
    for i, result in got.items():
        assert result[0].metrics == expected[i][0].metrics


def test_make_executor_reads_the_cli_flags() -> None:
    assert isinstance(make_executor(jobs=1), InlineExecutor)
    ex = make_executor(jobs=3)
    assert isinstance(ex, LocalExecutor) and ex.workers == 3
    ex.close()
    with pytest.raises(Exception, match="unknown executor"):
        make_executor("cloud")


def test_the_inline_executor_runs_in_this_process(daily: pd.DataFrame) -> None:
    config = StudyConfig("ma_cross", parse_grid(["fast=3:15:4", "slow=20:40:10"]))
    assert identical(run_study(daily, config, executor=InlineExecutor()), run_study(daily, config))
