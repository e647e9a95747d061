from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ml.splits import walk_forward_periods
from algotrader.ml.targets import label_end, make_target
from algotrader.timeframes import Duration

DAYS = pd.bdate_range("2015-01-01", "2020-12-31", tz="UTC")


def test_targets_are_forward_returns_and_directions() -> None:
    close = np.array([100.0, 110.0, 99.0, 99.0, 120.0])
    assert make_target(close, "next_return", 1)[:4] == pytest.approx([0.1, -0.1, 0.0, 120 / 99 - 1])
    two = make_target(close, "fwd_return", 2)
    assert two[:3] == pytest.approx([-0.01, -0.1, 120 / 99 - 1]) and np.isnan(two[3:]).all()
    direction = make_target(close, "direction", 2)
    assert direction[:3].tolist() == [0.0, 0.0, 1.0] and np.isnan(direction[3:]).all()


def test_next_return_with_another_horizon_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidInputError, match=r"use --target fwd_return --horizon 5"):
        make_target(np.ones(10), "next_return", 5)


def test_no_training_label_reaches_past_its_window_and_the_embargo_gap_holds() -> None:
    horizon, embargo = 5, 3
    ns = DAYS.as_unit("ns").asi8
    ends = label_end(ns, horizon)
    periods = walk_forward_periods(DAYS, Duration(2, "Y"), Duration(6, "M"), embargo=embargo)
    assert len(periods) == 8
    for period in periods:
        train = period.train_mask(ns, ends)
        last_train, test_first = np.flatnonzero(train)[-1], np.flatnonzero(period.test_mask(ns))[0]
        # purge: the last `horizon` bars of the window never enter training ...
        window_end = int(np.searchsorted(ns, period.train_end))
        assert last_train == window_end - horizon - 1
        assert ends[train].max() < period.train_end <= period.test_start
        # ... and the embargo leaves `embargo` bars between the window and its period.
        assert test_first - window_end == embargo


def test_periods_tile_the_test_span_and_the_last_one_is_open_ended() -> None:
    periods = walk_forward_periods(DAYS, Duration(2, "Y"), Duration(1, "Y"), embargo=0)
    for before, after in itertools.pairwise(periods):
        assert before.test_end == after.test_start
    assert periods[-1].test_end is None
    assert pd.Timestamp(periods[0].test_start, tz="UTC") == pd.Timestamp("2017-01-02", tz="UTC")


def test_sliding_windows_keep_their_length_and_expanding_ones_start_at_the_first_bar() -> None:
    sliding = walk_forward_periods(DAYS, Duration(2, "Y"), Duration(1, "Y"), window="sliding")
    expanding = walk_forward_periods(DAYS, Duration(2, "Y"), Duration(1, "Y"), window="expanding")
    first = int(DAYS.as_unit("ns").asi8[0])
    assert all(p.train_start == first for p in expanding)
    assert [pd.Timestamp(p.train_start, tz="UTC").year for p in sliding] == [2015, 2016, 2017, 2018]


def test_without_retraining_there_is_one_period() -> None:
    periods = walk_forward_periods(DAYS, Duration(3, "Y"))
    assert len(periods) == 1 and periods[0].test_end is None


def test_a_history_shorter_than_the_training_window_is_one_clear_error() -> None:
    with pytest.raises(DataNotFoundError, match=r"too little data.*not longer than --train 10 Y"):
        walk_forward_periods(DAYS, Duration(10, "Y"))
