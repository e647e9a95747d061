from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algotrader.backtest import metrics as m
from algotrader.backtest._bars import infer_resolution


def test_total_return_is_final_over_start_minus_one() -> None:
    assert m.total_return(np.array([100.0, 90.0, 120.0]), 100.0) == pytest.approx(0.2)


def test_alpha_is_difference_of_total_returns() -> None:
    assert m.alpha(0.25, 0.10) == pytest.approx(0.15)


def test_cagr_doubles_over_two_years() -> None:
    assert m.cagr(3.0, 2.0) == pytest.approx(1.0)  # 4x in 2 years = 100 % a year


def test_years_between_uses_365_25_day_years() -> None:
    idx = pd.DatetimeIndex(["2020-01-01", "2021-01-01"], tz="UTC")
    assert m.years_between(idx) == pytest.approx(366 / 365.25)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from(["s", "ms", "us", "ns"]))
def test_years_between_equals_the_timedelta_quotient_to_the_bit(
    data: st.DataObject, unit: str
) -> None:
    # Read from integer ticks: the float must equal what pandas' Timedelta division gives
    # (stored runs are compared to the bit), whatever the index's unit; ns ticks beyond 2**53
    # are where a plain integer division would differ.
    top = {"s": 2**34, "ms": 2**44, "us": 2**54, "ns": 2**62}[unit]
    ticks = data.draw(st.lists(st.integers(0, top), min_size=2, max_size=6))
    idx = pd.DatetimeIndex(np.array(sorted(ticks), dtype=f"datetime64[{unit}]")).tz_localize("UTC")
    expected = float((idx[-1] - idx[0]) / pd.Timedelta(days=1)) / 365.25
    assert m.years_between(idx) == expected


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_the_bar_size_is_inferred_in_any_index_unit(unit: str) -> None:
    idx = pd.date_range("2024-01-02", periods=500, freq="5min", tz="UTC").as_unit(unit)
    assert infer_resolution(idx, None).name == "5m"


def test_volatility_sharpe_sortino_on_hand_computed_returns() -> None:
    equity = np.array([100.0, 110.0, 99.0, 108.9])  # returns +10 %, -10 %, +10 %
    mean, sd = 0.1 / 3, math.sqrt(((0.1 - 0.1 / 3) ** 2 * 2 + (-0.1 - 0.1 / 3) ** 2) / 2)
    downside = math.sqrt(0.01 / 3)
    assert m.annualized_volatility(equity, 4) == pytest.approx(sd * 2)
    assert m.sharpe_ratio(equity, 4) == pytest.approx(mean / sd * 2)
    assert m.sortino_ratio(equity, 4) == pytest.approx(mean / downside * 2)


def test_sharpe_subtracts_per_bar_risk_free_rate() -> None:
    equity = np.array([100.0, 110.0, 99.0, 108.9])
    rf = 1.21 ** 0.5 - 1  # 21 % a year over 2 periods a year = 10 % a period
    sd = np.std([0.1, -0.1, 0.1], ddof=1)
    assert m.sharpe_ratio(equity, 2, 0.21) == pytest.approx((0.1 / 3 - rf) / sd * math.sqrt(2))


def test_sharpe_of_flat_curve_is_nan() -> None:
    assert math.isnan(m.sharpe_ratio(np.full(5, 100.0), 252))


def test_max_drawdown_depth_and_duration() -> None:
    equity = np.array([100.0, 120.0, 90.0, 100.0, 130.0, 125.0])
    depth, peak, trough, end = m.max_drawdown(equity)
    assert depth == pytest.approx(90 / 120 - 1)
    assert (peak, trough, end) == (1, 2, 4)


def test_max_drawdown_unrecovered_ends_on_last_bar() -> None:
    assert m.max_drawdown(np.array([100.0, 80.0, 90.0]))[1:] == (0, 1, 2)


def test_calmar_is_cagr_over_abs_drawdown() -> None:
    assert m.calmar_ratio(0.1, -0.25) == pytest.approx(0.4)


def test_win_rate_and_profit_factor() -> None:
    pnl = np.array([10.0, -5.0, 20.0, -10.0])
    assert m.win_rate(pnl) == 0.5
    assert m.profit_factor(pnl) == pytest.approx(2.0)


def test_profit_factor_without_losses_is_infinite() -> None:
    assert m.profit_factor(np.array([1.0])) == math.inf


def test_exposure_counts_bars_in_a_position() -> None:
    assert m.exposure(np.array([0, 1, 1, -1], dtype=np.int8)) == 0.75


def test_periods_per_year_daily_business_days() -> None:
    idx = pd.bdate_range("2020-01-01", "2023-12-31", tz="UTC")
    assert m.periods_per_year(idx, "1d") == pytest.approx(261, abs=1)


def test_periods_per_year_daily_seven_day_market() -> None:
    idx = pd.date_range("2020-01-01", "2022-12-31", freq="D", tz="UTC")
    assert m.periods_per_year(idx, "1d") == pytest.approx(365.25, abs=0.5)


def _rth(days: pd.DatetimeIndex, freq: str, closing: str) -> pd.DatetimeIndex:
    stamps = [
        pd.date_range(f"{d.date()} 14:30", f"{d.date()} {closing}", freq=freq, tz="UTC")
        for d in days
    ]
    return stamps[0].append(stamps[1:])


def test_periods_per_year_hourly_rth_is_sessions_times_seven() -> None:
    days = pd.bdate_range("2022-01-03", "2023-12-29")
    idx = _rth(days, "1h", "20:30")  # 14:30 .. 20:30 = 7 bars a session
    sessions = (len(days) - 1) / ((days[-1] - days[0]).days / 365.25)
    assert m.periods_per_year(idx, "1h") == pytest.approx(7 * sessions)


def test_periods_per_year_minute_rth_is_sessions_times_390() -> None:
    days = pd.bdate_range("2023-01-02", "2023-06-30")
    idx = _rth(days, "1min", "20:59")  # 390 one-minute bars a session
    sessions = (len(days) - 1) / ((days[-1] - days[0]).days / 365.25)
    assert m.periods_per_year(idx, "1m") == pytest.approx(390 * sessions)


def test_periods_per_year_short_span_falls_back_to_252_sessions() -> None:
    idx = _rth(pd.bdate_range("2024-03-04", "2024-03-29"), "1h", "20:30")
    assert m.periods_per_year(idx, "1h") == 252 * 7


def test_periods_per_year_weekly_is_52() -> None:
    idx = pd.date_range("2020-01-06", periods=10, freq="W-MON", tz="UTC")
    assert m.periods_per_year(idx, "1w") == 52.0


def test_compute_metrics_has_every_documented_key() -> None:
    idx = pd.date_range("2020-01-01", periods=4, freq="D", tz="UTC")
    eq = np.array([100.0, 110.0, 99.0, 108.9])
    out = m.compute_metrics(
        idx, eq, eq, np.array([0, 1, 1, 0], np.int8), np.array([8.9]), cash=100.0, resolution="1d"
    )
    assert out["total_return"] == pytest.approx(0.089)
    assert out["alpha"] == 0.0
    assert out["num_trades"] == 1
    assert out["max_drawdown"] == pytest.approx(-0.1)
    assert out["max_drawdown_duration_days"] == 2.0


def _volatility(equity: np.ndarray) -> float:
    idx = pd.date_range("2020-01-01", periods=equity.size, freq="D", tz="UTC")
    position = np.ones(equity.size, np.int8)
    out = m.compute_metrics(idx, equity, equity, position, np.empty(0), cash=100.0, resolution="1d")
    return out["volatility"] / math.sqrt(out["periods_per_year"])


@pytest.mark.parametrize("drift", [0.0, 1e-3])
def test_the_spread_of_returns_agrees_with_the_two_pass_form(drift: float) -> None:
    # drift 1e-3 with a spread of 1e-9: a curve nearly all trend, where squares summed in one
    # pass would cancel every digit of the spread.
    spread = 1e-9 if drift else 1e-2
    rng = np.random.default_rng(7)
    equity = 100.0 * np.cumprod(np.r_[1.0, 1.0 + drift + spread * rng.standard_normal(4999)])
    returns = equity[1:] / equity[:-1] - 1.0
    two_pass = math.sqrt(float(np.sum((returns - returns.mean()) ** 2)) / (returns.size - 1))
    assert _volatility(equity) == pytest.approx(two_pass, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.sampled_from([0.0, 0.0, 0.01, -0.01, 0.2, -0.3, 1e-12, -1e-12]), min_size=1, max_size=60
    )
)
def test_the_drawdown_of_the_statistics_pass_is_the_reference_drawdown(steps: list[float]) -> None:
    # Flat runs, tiny moves next to the worst drawdown and deep falls: the statistics pass skips
    # the division far above the worst drawdown, which must never change the answer.
    from algotrader.backtest._kernel import curve_stats

    equity = 100.0 * np.cumprod(1.0 + np.array(steps))
    stats = curve_stats(equity, np.zeros(equity.size, np.int8), 0.0, -1, 1.0, 0.0)
    depth, peak, _, end = m.max_drawdown(equity)
    assert (stats.worst, stats.worst_peak) == (depth, peak)
    if depth < 0.0:
        assert (stats.recovery if stats.recovery >= 0 else equity.size - 1) == end


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 3_000), min_size=1, max_size=300),
    unit=st.sampled_from(["s", "ns"]),
)
def test_sessions_are_the_distinct_utc_dates_of_the_index(gaps: list[int], unit: str) -> None:
    minutes = np.cumsum(gaps) * 7
    index = pd.DatetimeIndex(
        pd.Timestamp("2021-03-01 13:00", tz="UTC") + pd.to_timedelta(minutes, "min")
    ).as_unit(unit)
    bars_per_date = index.normalize().value_counts()
    span = (bars_per_date.index.max() - bars_per_date.index.min()).days
    per_year = m.FALLBACK_SESSIONS_PER_YEAR
    if len(bars_per_date) > 1 and span >= m.MIN_SPAN_DAYS_TO_ESTIMATE:
        per_year = (len(bars_per_date) - 1) / (span / 365.25)
    ticks, ticks_per_day = m._ticks(index)
    assert m._session_stats(ticks, ticks_per_day) == (
        pytest.approx(per_year), float(np.median(bars_per_date.to_numpy()))
    )
