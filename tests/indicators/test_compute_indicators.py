"""compute_indicators: the frame-level contract (columns, dtypes, index, warm-up, parity)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from algotrader.frames import INDICATOR_COLUMNS, empty_bars
from algotrader.indicators import compute_indicators

WARMUP_NANS = {
    "ma20": 19,
    "ma50": 49,
    "ema_fast": 11,
    "ema_slow": 25,
    "macd": 33,
    "macd_signal": 33,
    "bb_mid": 19,
    "bb_upper": 19,
    "bb_lower": 19,
    "rsi": 14,
    "atr": 14,
    "tr": 1,
    "ath": 0,
    "supertrend": 10,
    "supertrend_upper": 10,
    "supertrend_lower": 10,
    "supertrend_trend": 10,
}


def make_bars(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, n)))
    open_ = np.concatenate([[50.0], close[:-1]])[:n] * np.exp(rng.normal(0.0, 0.003, n))
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.005, n))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.005, n))
    volume = rng.integers(1_000, 50_000, n).astype(np.float64)
    index = pd.date_range("2015-01-01", periods=n, freq="D", tz="UTC", name="ts")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def test_output_has_exactly_the_indicator_columns_as_float64_on_the_same_index():
    bars = make_bars(300)
    out = compute_indicators(bars)
    assert tuple(out.columns) == INDICATOR_COLUMNS
    assert (out.dtypes == np.float64).all()
    assert out.index.equals(bars.index)
    assert out.index.name == "ts"
    assert str(out.index.tz) == "UTC"


def test_input_frame_is_left_untouched():
    bars = make_bars(120)
    before = bars.copy()
    out = compute_indicators(bars)
    pd.testing.assert_frame_equal(bars, before)
    assert out is not bars


def test_warmup_nan_counts_per_column():
    out = compute_indicators(make_bars(500))
    for column, warmup in WARMUP_NANS.items():
        values = out[column].to_numpy()
        assert np.isnan(values[:warmup]).all(), column
        assert np.isfinite(values[warmup:]).all(), column


def test_supertrend_trend_is_plus_or_minus_one_after_warmup():
    out = compute_indicators(make_bars(800, seed=11))
    assert set(np.unique(out["supertrend_trend"].to_numpy()[10:])) == {-1.0, 1.0}


def test_every_column_matches_talib():
    bars = make_bars(3000, seed=5)
    h, lo, c = (bars[k].to_numpy() for k in ("high", "low", "close"))
    out = compute_indicators(bars)
    macd_line, macd_signal, _ = talib.MACD(c, 12, 26, 9)
    bb_upper, bb_mid, bb_lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    expected = {
        "ma20": talib.SMA(c, 20),
        "ma50": talib.SMA(c, 50),
        "ema_fast": talib.EMA(c, 12),
        "ema_slow": talib.EMA(c, 26),
        "macd": macd_line,
        "macd_signal": macd_signal,
        "bb_mid": bb_mid,
        "bb_upper": bb_upper,
        "bb_lower": bb_lower,
        "rsi": talib.RSI(c, 14),
        "atr": talib.ATR(h, lo, c, 14),
        "tr": talib.TRANGE(h, lo, c),
        "ath": np.maximum.accumulate(h),
    }
    for column, values in expected.items():
        np.testing.assert_allclose(
            out[column].to_numpy(), values, rtol=1e-9, equal_nan=True, err_msg=column
        )


def test_empty_frame_gives_an_empty_indicator_frame():
    bars = empty_bars()
    out = compute_indicators(bars)
    assert out.empty
    assert tuple(out.columns) == INDICATOR_COLUMNS
    assert (out.dtypes == np.float64).all()
    assert out.index.equals(bars.index)


def test_single_row_frame_is_all_nan_except_the_all_time_high():
    bars = make_bars(1)
    row = compute_indicators(bars).iloc[0]
    assert row["ath"] == bars["high"].iloc[0]
    assert row.drop("ath").isna().all()


@pytest.mark.parametrize("n", [2, 19, 20, 33, 34, 49])
def test_frames_shorter_than_a_window_leave_that_column_all_nan(n):
    out = compute_indicators(make_bars(n))
    for column, warmup in WARMUP_NANS.items():
        values = out[column].to_numpy()
        assert np.isnan(values[: min(warmup, n)]).all(), column
        assert np.isfinite(values[warmup:]).all(), column


def test_non_float_input_columns_are_accepted():
    bars = make_bars(60)
    as_float32 = bars.astype(np.float32)
    out = compute_indicators(as_float32)
    assert (out.dtypes == np.float64).all()
    np.testing.assert_allclose(
        out["ma20"].to_numpy()[19:],
        talib.SMA(as_float32["close"].to_numpy().astype(np.float64), 20)[19:],
        rtol=1e-12,
    )


def test_missing_price_column_names_the_column():
    with pytest.raises(KeyError, match="'high'"):
        compute_indicators(make_bars(30).drop(columns=["high"]))
