from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.ml.conftest import ar_bars

from algotrader.errors import InvalidInputError
from algotrader.ml.features import DEFAULT_FEATURES, Feature, build_features, newly_visible
from algotrader.ml.lookahead import check_lookahead


def _events(frame: pd.DataFrame) -> pd.DataFrame:
    ts = frame.index
    return pd.DataFrame(
        {
            "ts": [ts[100], ts[400] + pd.Timedelta(hours=13), ts[-3], ts[-1]],
            "scope": ["symbol", "market", "symbol", "market"],
            "kind": ["earnings", "cpi", "earnings", "cpi"],
        }
    )


def test_every_feature_on_a_cut_history_equals_its_full_history_value() -> None:
    frame = ar_bars(600, 0.1, seed=1)
    report = check_lookahead(frame, events=_events(frame))
    assert report.features == DEFAULT_FEATURES
    assert report.cuts[-1] == len(frame) - 1 and len(report.cuts) >= 5
    assert report.ok, report.leaking


def test_a_feature_that_peeks_one_bar_ahead_is_caught() -> None:
    def next_close(frame: pd.DataFrame, _events: object) -> np.ndarray:
        return frame["close"].shift(-1).to_numpy()

    frame = ar_bars(300, 0.0, seed=2)
    peeking = Feature("next_close", next_close)
    report = check_lookahead(frame, ["ret_1", peeking, "vol_20"])
    assert list(report.leaking) == ["next_close"]
    assert report.leaking["next_close"] == report.cuts[0]


def test_a_feature_normalised_over_the_whole_series_is_caught() -> None:
    def zscore(frame: pd.DataFrame, _events: object) -> np.ndarray:
        close = frame["close"].to_numpy()
        return (close - close.mean()) / close.std()

    report = check_lookahead(ar_bars(300, 0.0, seed=3), [Feature("zscore", zscore)])
    assert not report.ok and "zscore" in report.leaking


def test_returns_are_log_returns_over_their_horizon() -> None:
    frame = ar_bars(80, 0.0, seed=4)
    table = build_features(frame, ["ret_1", "ret_5"])
    close = frame["close"].to_numpy()
    assert np.isnan(table["ret_5"].iloc[4]) and not np.isnan(table["ret_5"].iloc[5])
    assert table["ret_5"].iloc[40] == pytest.approx(np.log(close[40] / close[35]), rel=1e-12)
    assert table["ret_1"].iloc[1] == pytest.approx(np.log(close[1] / close[0]), rel=1e-12)


def test_an_event_flags_the_first_bar_at_or_after_its_timestamp() -> None:
    bars = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], tz="UTC")
    events = pd.DatetimeIndex(
        ["2024-01-03 00:00", "2024-01-03 14:30", "2024-01-04 23:59", "2024-01-01"], tz="UTC"
    )
    counts = newly_visible(bars.as_unit("ns").asi8, np.sort(events.as_unit("ns").asi8))
    # 01-01 is before the first bar's own timestamp window; 01-03 00:00 on its bar; 14:30 of the
    # 3rd is known only at the next bar (the 4th); 23:59 of the 4th at the 5th.
    assert counts.tolist() == [0.0, 1.0, 1.0, 1.0]


def test_indicator_features_match_on_plain_ohlcv_and_on_stored_indicator_columns() -> None:
    from algotrader.indicators import compute_indicators

    frame = ar_bars(300, 0.0, seed=5)
    stored = pd.concat([frame, compute_indicators(frame)], axis=1)
    names = ["rsi", "macd_hist", "bb_position", "atr_pct", "dist_ath"]
    pd.testing.assert_frame_equal(build_features(frame, names), build_features(stored, names))


def test_an_unknown_feature_is_refused_with_a_suggestion() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown feature 'ret_2'.*did you mean"):
        build_features(ar_bars(50, 0.0, seed=6), ["ret_2"])


def test_bars_without_volume_cannot_build_volume_features() -> None:
    frame = ar_bars(50, 0.0, seed=7).drop(columns=["volume"])
    with pytest.raises(InvalidInputError, match=r"lack column.*volume"):
        build_features(frame, ["volume_z_20"])
