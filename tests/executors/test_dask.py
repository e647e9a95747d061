"""The Dask executor against a real LocalCluster of two single-threaded worker processes."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import distributed
import numpy as np
import pandas as pd
import pytest

from algotrader.backtest.result import BacktestConfig
from algotrader.research import StudyConfig, parse_grid, run_study
from algotrader.research.tasks import EvalSpec, EvalTask, StrategyRef, evaluate_task


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
    config = StudyConfig("streak", parse_grid(["down=1:6:1", "up=1:5:1"]), path="on_bar")
    pids = dask_executor.client.run(os.getpid)
    victim = next(iter(pids.values()))
    calls: list[int] = []

    def kill_after_first_result(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 1:
            os.kill(victim, signal.SIGKILL)

    study = run_study(frame, config, executor=dask_executor, progress=kill_after_first_result)
    assert calls[0] < 30 and calls[-1] == 30  # the kill came with most of the study to go
    assert [p.id for p in study.points] == list(range(30)) and study.n_trials == 30
    assert same_points(study, run_study(frame, config))
    assert victim not in dask_executor.client.run(os.getpid).values()


def test_tasks_map_back_to_their_index_exactly_once(
    dask_executor: Any, daily: pd.DataFrame
) -> None:
    spec = EvalSpec(StrategyRef.of("ma_cross"), BacktestConfig(), "1d", "bar")
    tasks = [EvalTask(spec, "X", (0, len(daily)), ((i, {"fast": 2 + i % 5, "slow": 30}),))
             for i in range(12)]
    seen = [i for i, r in dask_executor.map_unordered(evaluate_task, {"X": daily}, tasks)
            if r[0].point == i]
    assert sorted(seen) == list(range(12))


def test_a_batch_on_the_cluster_stores_what_a_serial_batch_stores(
    dask_executor: Any, db_url: str, workdir: Any
) -> None:
    from algotrader.app.backtests import BacktestRequest, run_batch
    from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
    from algotrader.config import load_settings
    from algotrader.timeframes import parse_duration, parse_resolution

    settings = load_settings(database_url=db_url, data_dir=str(workdir), log_dir=str(workdir))
    daily = parse_resolution("1d")
    window = IngestWindow(parse_duration("2 Y"))
    ingest(settings, IngestRequest(("SPY", "TLT"), (daily,), window, source="synthetic"))
    requests = [BacktestRequest(s, daily, "macd") for s in ("SPY", "NOPE", "TLT")]
    serial = run_batch(settings, requests, jobs=1)
    on_cluster = run_batch(settings, requests, dask=dask_executor.address)
    assert [i.symbol for i in on_cluster] == [i.symbol for i in serial]
    assert on_cluster[-1].symbol == "NOPE" and "no 1d bars of NOPE" in (on_cluster[-1].error or "")
    for a, b in zip(serial[:-1], on_cluster[:-1], strict=True):
        assert a.run is not None and b.run is not None
        assert a.run.fingerprint == b.run.fingerprint
        assert a.run.result.metrics == b.run.result.metrics
