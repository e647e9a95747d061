"""The indicator kernels against TA-Lib, a from-the-definition SuperTrend, and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from algotrader.indicators import (
    all_time_high,
    atr,
    bollinger,
    ema,
    macd,
    rsi,
    sma,
    supertrend,
    true_range,
)

RTOL = 1e-9


def _ohlc_from_closes(
    rng: np.random.Generator, close: np.ndarray, gap_sd: float, wick: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    open_ = np.empty_like(close)
    open_[0] = close[0]
    open_[1:] = close[:-1] * np.exp(rng.normal(0.0, gap_sd, close.size - 1))
    high = np.maximum(open_, close) * (1.0 + rng.exponential(wick, close.size))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(wick, close.size))
    return open_, high, low, close


def random_walk() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """~3,000 calm daily bars around 100."""
    rng = np.random.default_rng(20240601)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 3000)))
    return _ohlc_from_closes(rng, close, gap_sd=0.002, wick=0.004)


def gappy_volatile() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """~3,000 fat-tailed bars in the thousands with big opening gaps, flat and unchanged bars."""
    rng = np.random.default_rng(7)
    returns = rng.standard_t(2.5, 3000) * 0.03
    returns[rng.random(3000) < 0.05] = 0.0  # unchanged closes: zero RSI moves
    close = 2500.0 * np.exp(np.cumsum(returns))
    o, h, lo, c = _ohlc_from_closes(rng, close, gap_sd=0.04, wick=0.02)
    flat = rng.random(3000) < 0.03  # halted bars: open = high = low = close
    o[flat] = h[flat] = lo[flat] = c[flat]
    return o, h, lo, c


DATASETS = pytest.mark.parametrize("data", [random_walk, gappy_volatile], ids=["walk", "gappy"])


def assert_matches(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=0.0, equal_nan=True)


@DATASETS
@pytest.mark.parametrize("n", [20, 50])
def test_sma_matches_talib(data, n):
    _, _, _, c = data()
    assert_matches(sma(c, n), talib.SMA(c, n))


@DATASETS
@pytest.mark.parametrize("n", [12, 26])
def test_ema_matches_talib(data, n):
    _, _, _, c = data()
    assert_matches(ema(c, n), talib.EMA(c, n))


@DATASETS
def test_macd_and_signal_match_talib_including_late_seeding(data):
    _, _, _, c = data()
    line, signal = macd(c, 12, 26, 9)
    ta_line, ta_signal, _ = talib.MACD(c, 12, 26, 9)
    assert_matches(line, ta_line)
    assert_matches(signal, ta_signal)


def test_macd_differs_from_naive_ema_difference_early():
    _, _, _, c = random_walk()
    naive = ema(c, 12) - ema(c, 26)
    line = macd(c).macd
    assert not np.isclose(line[33], naive[33], rtol=1e-6)
    np.testing.assert_allclose(line[-100:], naive[-100:], rtol=1e-9)


@DATASETS
def test_bollinger_matches_talib_bbands(data):
    _, _, _, c = data()
    mid, upper, lower = bollinger(c, 20, 2.0)
    ta_upper, ta_mid, ta_lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    assert_matches(mid, ta_mid)
    assert_matches(upper, ta_upper)
    assert_matches(lower, ta_lower)


@DATASETS
def test_true_range_matches_talib_trange(data):
    _, h, lo, c = data()
    assert_matches(true_range(h, lo, c), talib.TRANGE(h, lo, c))


@DATASETS
@pytest.mark.parametrize("n", [14, 10])
def test_atr_matches_talib(data, n):
    _, h, lo, c = data()
    assert_matches(atr(h, lo, c, n), talib.ATR(h, lo, c, n))


@DATASETS
def test_rsi_matches_talib(data):
    _, _, _, c = data()
    assert_matches(rsi(c, 14), talib.RSI(c, 14))


@DATASETS
def test_all_time_high_is_running_max_of_high(data):
    _, h, _, _ = data()
    np.testing.assert_array_equal(all_time_high(h), np.maximum.accumulate(h))


def reference_supertrend(h, lo, c, n=10, mult=3.0):
    """SuperTrend straight from the definition, one bar at a time, on talib.ATR."""
    atr_n = talib.ATR(h, lo, c, n)
    size = len(c)
    line, upper, lower, trend = ([math.nan] * size for _ in range(4))
    prev = None
    for i in range(size):
        if math.isnan(atr_n[i]):
            continue
        hl2 = (h[i] + lo[i]) / 2.0
        basic_up = hl2 + mult * atr_n[i]
        basic_lo = hl2 - mult * atr_n[i]
        if prev is None:
            up, dn, tr = basic_up, basic_lo, 1.0
        else:
            p_up, p_dn, p_tr = prev
            up = basic_up if basic_up < p_up or c[i - 1] > p_up else p_up
            dn = basic_lo if basic_lo > p_dn or c[i - 1] < p_dn else p_dn
            if c[i] > p_up:
                tr = 1.0
            elif c[i] < p_dn:
                tr = -1.0
            else:
                tr = p_tr
        upper[i], lower[i], trend[i] = up, dn, tr
        line[i] = dn if tr > 0 else up
        prev = (up, dn, tr)
    return tuple(np.array(a) for a in (line, upper, lower, trend))


@DATASETS
def test_supertrend_matches_reference_implementation(data):
    _, h, lo, c = data()
    ours = supertrend(h, lo, c, 10, 3.0)
    ref_line, ref_upper, ref_lower, ref_trend = reference_supertrend(h, lo, c)
    assert_matches(ours.upper, ref_upper)
    assert_matches(ours.lower, ref_lower)
    assert_matches(ours.trend, ref_trend)
    assert_matches(ours.line, ref_line)
    assert {-1.0, 1.0} <= set(np.unique(ours.trend[10:]))


@pytest.mark.skipif(not hasattr(talib, "SUPERTREND"), reason="TA-Lib without SUPERTREND")
@DATASETS
def test_supertrend_matches_talib_supertrend(data):
    _, h, lo, c = data()
    ours = supertrend(h, lo, c, 10, 3.0)
    ta_line, ta_trend = talib.SUPERTREND(h, lo, c, 10, 3.0)
    assert_matches(ours.line, ta_line)
    np.testing.assert_array_equal(ours.trend[10:], ta_trend[10:])


def test_supertrend_flips_on_the_known_bars():
    # Ten quiet bars (TR 2, so ATR(10) = 2 at bar 10: bands 94..106), then a bar closing at 90
    # (below the lower band 94: flip down) and one closing at 110 (above the upper 103.4: flip up).
    h = np.array([101.0] * 11 + [100.0, 110.0])
    lo = np.array([99.0] * 11 + [90.0, 100.0])
    c = np.array([100.0] * 11 + [90.0, 110.0])
    st_ = supertrend(h, lo, c, 10, 3.0)
    assert np.isnan(st_.line[:10]).all()
    np.testing.assert_array_equal(st_.trend[10:], [1.0, -1.0, 1.0])
    np.testing.assert_allclose(st_.upper[10:12], [106.0, 103.4], rtol=1e-12)
    np.testing.assert_allclose(st_.lower[10:13], [94.0, 94.0, 91.44], rtol=1e-12)
    np.testing.assert_allclose(st_.line[10:], [94.0, 103.4, 91.44], rtol=1e-12)


def test_rsi_of_constant_prices_is_zero_like_talib():
    c = np.full(40, 50.0)
    ours = rsi(c, 14)
    np.testing.assert_array_equal(ours, talib.RSI(c, 14))
    assert (ours[14:] == 0.0).all()


def test_bollinger_of_constant_prices_collapses_to_the_mean():
    c = np.full(40, 50.0)
    mid, upper, lower = bollinger(c)
    np.testing.assert_array_equal(upper[19:], mid[19:])
    np.testing.assert_array_equal(lower[19:], np.full(21, 50.0))


@pytest.mark.parametrize("size", [0, 1, 5, 14, 15])
def test_kernels_on_short_input_match_talib_shapes_and_nans(size):
    _, h, lo, c = random_walk()
    h, lo, c = h[:size], lo[:size], c[:size]
    assert_matches(sma(c, 20), talib.SMA(c, 20))
    assert_matches(ema(c, 12), talib.EMA(c, 12))
    assert_matches(macd(c).macd, talib.MACD(c)[0])
    assert_matches(bollinger(c).upper, talib.BBANDS(c, 20, 2.0, 2.0, 0)[0])
    assert_matches(true_range(h, lo, c), talib.TRANGE(h, lo, c))
    assert_matches(atr(h, lo, c, 14), talib.ATR(h, lo, c, 14))
    assert_matches(rsi(c, 14), talib.RSI(c, 14))
    assert supertrend(h, lo, c).line.shape == (size,)
    assert all_time_high(h).shape == (size,)


def test_kernels_accept_lists_and_integer_arrays():
    values = list(range(1, 31))
    np.testing.assert_allclose(sma(values, 20)[19:], np.arange(10.5, 21.5))
    assert sma(np.arange(1, 31), 20).dtype == np.float64


def test_kernels_reject_a_zero_period():
    with pytest.raises(ValueError, match="n must be >= 1"):
        sma([1.0, 2.0], 0)


@st.composite
def ohlc_series(draw):
    n = draw(st.integers(min_value=0, max_value=80))
    moves = draw(
        st.lists(
            st.tuples(
                st.floats(-0.2, 0.2),  # close-to-close log return
                st.floats(-0.1, 0.1),  # opening gap
                st.floats(0.0, 0.1),  # upper wick
                st.floats(0.0, 0.1),  # lower wick
            ),
            min_size=n,
            max_size=n,
        )
    )
    start = draw(st.floats(0.01, 1e5))
    arr = np.array(moves, dtype=np.float64).reshape(n, 4)
    close = start * np.exp(np.cumsum(arr[:, 0]))
    open_ = np.concatenate([[start], close[:-1]])[:n] * np.exp(arr[:, 1])
    high = np.maximum(open_, close) * (1.0 + arr[:, 2])
    low = np.minimum(open_, close) * (1.0 - arr[:, 3])
    return high, low, close


@settings(max_examples=150, deadline=None)
@given(ohlc_series())
def test_indicator_invariants_hold_for_any_valid_ohlc(series):
    h, lo, c = series
    ath = all_time_high(h)
    assert (np.diff(ath) >= 0).all()
    assert (ath >= h).all()
    mid, upper, lower = bollinger(c, 20, 2.0)
    ok = ~np.isnan(mid)
    assert (upper[ok] >= mid[ok]).all()
    assert (mid[ok] >= lower[ok]).all()
    r = rsi(c, 14)
    r = r[~np.isnan(r)]
    assert ((r >= 0.0) & (r <= 100.0)).all()
    a = atr(h, lo, c, 14)
    assert (a[~np.isnan(a)] >= 0.0).all()
