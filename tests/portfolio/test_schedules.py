"""Which bar each rebalancing schedule fires on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from algotrader.errors import InvalidInputError
from algotrader.portfolio import Portfolio
from algotrader.portfolio.schedules import period_starts

from .conftest import walk_bars

# Wed 2024-01-31 .. Wed 2024-04-03 on business days, minus a few (holidays).
INDEX = pd.bdate_range("2024-01-31", "2024-04-03", tz="UTC").drop(
    pd.DatetimeIndex(["2024-02-01", "2024-04-01"], tz="UTC")
)


def _fired(schedule: str) -> list[str]:
    return [str(d.date()) for d in INDEX[period_starts(INDEX, schedule)]]


def test_monthly_fires_on_the_first_bar_of_each_month() -> None:
    assert _fired("monthly") == ["2024-01-31", "2024-02-02", "2024-03-01", "2024-04-02"]


def test_quarterly_fires_on_the_first_bar_of_each_quarter() -> None:
    assert _fired("quarterly") == ["2024-01-31", "2024-04-02"]


def test_weekly_fires_on_the_first_bar_of_each_monday_week() -> None:
    fired = _fired("weekly")
    assert fired[:3] == ["2024-01-31", "2024-02-05", "2024-02-12"]
    assert "2024-04-02" in fired  # Monday 04-01 is missing: Tuesday starts that week
    assert len(fired) == 10


def test_daily_fires_on_every_daily_bar_and_on_the_first_intraday_bar() -> None:
    assert period_starts(INDEX, "daily").all()
    hours = pd.date_range("2024-01-02 14:30", periods=14, freq="1h", tz="UTC")
    assert list(np.flatnonzero(period_starts(hours, "daily"))) == [0, 10]


def test_a_monthly_run_decides_on_those_bars_and_fills_on_the_next() -> None:
    bars = walk_bars(["AAA", "BBB"], n=len(INDEX))
    bars = {s: f.set_axis(INDEX) for s, f in bars.items()}
    result = Portfolio(bars, "equal", "monthly", commission_bps=1).run()
    assert [str(d.date()) for d in result.targets.index] == _fired("monthly")
    traded = sorted({str(d.date()) for d in result.fills["ts"]})
    assert traded == ["2024-02-02", "2024-02-05", "2024-03-04", "2024-04-03"]


def test_drift_rebalances_only_when_a_weight_leaves_the_band() -> None:
    bars = walk_bars(["AAA", "BBB", "CCC"], n=500, seed=30)
    result = Portfolio(bars, "equal", "drift", drift_threshold=0.03).run()
    decided = result.targets.index
    assert 3 <= len(decided) < 100
    weights = result.weights.to_numpy()
    last_target = result.targets.reindex(result.weights.index).ffill().to_numpy()
    drift = np.abs(weights - last_target).max(axis=1)
    rows = result.weights.index.get_indexer(decided)
    # Weights at each decision's close were out of the band (except the first allocation);
    # between decisions (once the last one filled) they stayed inside it.
    previous = result.targets.reindex(result.weights.index).ffill().shift(1).to_numpy()
    assert (np.abs(weights[rows[1:]] - previous[rows[1:]]).max(axis=1) > 0.03).all()
    quiet = np.setdiff1d(np.arange(1, len(weights)), np.r_[rows, rows + 1])
    assert (drift[quiet] <= 0.03).all()


def test_signal_schedule_follows_the_allocators_selection() -> None:
    bars = walk_bars(["AAA", "BBB", "CCC"], n=300, seed=31)
    result = Portfolio(bars, "momentum", "signal").run(lookback=20, top_n=1)
    held = result.targets.to_numpy() > 0
    assert (held[1:] != held[:-1]).any(axis=1).all()  # each decision changed the selection


def test_an_unknown_schedule_suggests_the_closest() -> None:
    with pytest.raises(InvalidInputError, match="did you mean 'monthly'"):
        Portfolio(walk_bars(["AAA"], n=10), "equal", "montly")
