"""The Dask executor against a real LocalCluster of two single-threaded worker processes."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.backtest.result import BacktestConfig
from algotrader.executors import InlineExecutor
from algotrader.research import StudyConfig, parse_grid, run_study
from algotrader.research.tasks import EvalSpec, EvalTask, StrategyRef, evaluate_task

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[Any]:
    from algotrader.executors import DaskExecutor

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client, DaskExecutor(client=client) as ex:
        yield ex


def same_points(a: Any, b: Any) -> bool:
    for p, q in zip(a.points, b.points, strict=True):
        if p.params != q.params:
            return False
        for s, m in p.metrics.items():
            n = q.metrics[s]
            if any(not (m[k] == n[k] or (m[k] != m[k] and n[k] != n[k])) for k in m):
                return False
            if not np.array_equal(p.returns[s], q.returns[s]):
                return False
    return len(a.points) == len(b.points)


@pytest.mark.parametrize("engine_only", [False, True])
def test_study_on_dask_is_bit_identical_to_in_process(
    dask_executor: Any, daily: pd.DataFrame, engine_only: bool
) -> None:
    config = StudyConfig("ma_cross", parse_grid(["fast=3:15:4", "slow=20:40:10"]),
                         engine_only=engine_only, backtest=BacktestConfig(slippage_bps=3))
    assert dask_executor.workers == 2
    assert same_points(run_study(daily, config, executor=dask_executor), run_study(daily, config))


def test_bars_are_scattered_once_to_every_worker(dask_executor: Any, daily: pd.DataFrame) -> None:
    shared = {"X": daily}
    future = dask_executor._scatter(shared)
    assert dask_executor._scatter(shared) is future
    holders = dask_executor.client.who_has([future])[future.key]
    assert len(holders) == 2


def test_a_worker_killed_mid_study_loses_and_duplicates_nothing(
    dask_executor: Any, walk: Any
) -> None:
    frame = walk(4_000, seed=9)
    spec = EvalSpec(StrategyRef.of("streak"), BacktestConfig(), "1d", "bar", path="on_bar")
    tasks = [EvalTask(spec, "X", (0, len(frame)), ((i, {"down": 1 + i % 5, "up": 1 + i % 4}),))
             for i in range(30)]
    shared = {"X": frame}
    expected = dict(InlineExecutor().map_unordered(evaluate_task, shared, tasks))
    pids = dask_executor.client.run(os.getpid)
    got: dict[int, Any] = {}
    killed = False
    for index, result in dask_executor.map_unordered(evaluate_task, shared, tasks):
        assert index not in got
        got[index] = result
        if not killed:
            os.kill(next(iter(pids.values())), signal.SIGKILL)
            killed = True
    assert sorted(got) == list(range(30))
    for index, result in got.items():
        assert [e.point for e in result] == [index]
        assert result[0].metrics == expected[index][0].metrics
    assert next(iter(pids.values())) not in dask_executor.client.run(os.getpid).values()
