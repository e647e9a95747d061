"""The Python API: ``from algotrader import Backtest`` over the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from algotrader import Backtest
from algotrader.app.runs import list_runs, rerun
from algotrader.config import load_settings
from algotrader.errors import InvalidInputError


def test_from_store_fetches_what_is_missing_and_stores_the_run_on_request(
    db_url: str, workdir: Path
) -> None:
    bt = Backtest.from_store(
        "SPY", "1d", "rsi", duration="1 Y", auto_fetch=True, source="synthetic",
        database_url=db_url,
    )  # fmt: skip
    result = bt.run(lower=25)
    assert bt.run_id is None
    stored = bt.run(lower=25, store=True)
    assert stored.metrics == result.metrics and bt.run_id is not None
    settings = load_settings(database_url=db_url)
    (run,) = list_runs(settings)
    assert (run.id, run.symbol, run.strategy, run.params["lower"]) == (bt.run_id, "SPY", "rsi", 25)
    assert rerun(settings, bt.run_id).identical_trades


def test_a_backtest_of_a_plain_frame_cannot_be_stored(db_url: str, workdir: Path) -> None:
    frame = Backtest.from_store(
        "SPY", "1d", auto_fetch=True, source="synthetic", fetch_duration="1 Y",
        database_url=db_url,
    ).frame  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"Backtest\.from_store"):
        Backtest(frame, "ma_cross").run(store=True)
