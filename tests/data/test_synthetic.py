"""SyntheticProvider: deterministic, calendar-correct, consistent bars."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from algotrader.data.providers.synthetic import EPOCH, SyntheticProvider
from algotrader.data.validation import validate_bars
from algotrader.errors import InvalidInputError
from algotrader.frames import OHLCV_COLUMNS
from algotrader.timeframes import parse_resolution

FIXED_NOW = datetime(2024, 6, 14, 22, 0, tzinfo=UTC)  # a Friday evening, after the close
AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


@pytest.fixture
def provider() -> SyntheticProvider:
    return SyntheticProvider(clock=lambda: FIXED_NOW)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("res", ["1m", "5m", "1h", "1d", "1w"])
def test_chunked_requests_agree_bar_for_bar_with_one_request(
    provider: SyntheticProvider, res: str
) -> None:
    start, end = utc(2024, 2, 26), utc(2024, 4, 3)
    whole = provider.fetch_bars("AAPL", parse_resolution(res), start, end)
    cuts = [start, utc(2024, 3, 1, 15, 7), utc(2024, 3, 11, 13, 45), utc(2024, 3, 20), end]
    pieces = pd.concat([
        provider.fetch_bars("AAPL", parse_resolution(res), a, b)
        for a, b in itertools.pairwise(cuts)
    ])
    # A daily (weekly) bar belongs to every window its session (week) overlaps: a cut during a
    # day gives its bar to both pieces, the same bar.
    repeated = pieces.index.duplicated()
    assert repeated.any() == (res in ("1d", "1w"))
    pd.testing.assert_frame_equal(pieces[~repeated], whole)
    pd.testing.assert_frame_equal(pieces[repeated], whole.loc[pieces.index[repeated]])


def test_a_bar_does_not_depend_on_how_far_back_the_request_starts(
    provider: SyntheticProvider,
) -> None:
    short = provider.fetch_bars("MSFT", "1d", utc(2024, 5, 1), utc(2024, 6, 1))
    long = provider.fetch_bars("MSFT", "1d", utc(2001, 1, 1), utc(2024, 6, 1))
    pd.testing.assert_frame_equal(long.loc[short.index], short)


def test_same_request_from_a_new_provider_gives_identical_bars() -> None:
    a = SyntheticProvider(clock=lambda: FIXED_NOW).fetch_bars(
        "TSLA", "15m", utc(2023, 1, 2), utc(2023, 2, 1)
    )
    b = SyntheticProvider(clock=lambda: FIXED_NOW).fetch_bars(
        "TSLA", "15m", utc(2023, 1, 2), utc(2023, 2, 1)
    )
    pd.testing.assert_frame_equal(a, b)


def test_different_symbols_get_different_prices(provider: SyntheticProvider) -> None:
    a = provider.fetch_bars("AAPL", "1d", utc(2024, 1, 1), utc(2024, 2, 1))
    b = provider.fetch_bars("MSFT", "1d", utc(2024, 1, 1), utc(2024, 2, 1))
    assert not np.allclose(a["close"].to_numpy(), b["close"].to_numpy())


def test_symbol_is_case_insensitive(provider: SyntheticProvider) -> None:
    a = provider.fetch_bars("aapl", "1d", utc(2024, 1, 1), utc(2024, 2, 1))
    b = provider.fetch_bars("AAPL", "1d", utc(2024, 1, 1), utc(2024, 2, 1))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("res", ["1m", "1h", "1d"])
def test_bars_fall_on_weekdays_only(provider: SyntheticProvider, res: str) -> None:
    bars = provider.fetch_bars("SPY", res, utc(2024, 1, 1), utc(2024, 3, 1))
    assert len(bars) > 0
    assert (bars.index.day_of_week < 5).all()


def test_daily_bars_are_keyed_by_session_date_at_midnight_utc(provider: SyntheticProvider) -> None:
    bars = provider.fetch_bars("SPY", "1d", utc(2024, 1, 1), utc(2024, 1, 8))
    # 2024-01-01 is New Year's Day: the exchange is closed.
    assert list(bars.index) == [pd.Timestamp(f"2024-01-0{d}", tz="UTC") for d in (2, 3, 4, 5)]


def test_intraday_bars_cover_regular_hours_in_utc_across_the_dst_change(
    provider: SyntheticProvider,
) -> None:
    # US clocks went forward on Sunday 2024-03-10: 09:30 New York is 14:30 UTC before, 13:30 after
    bars = provider.fetch_bars("SPY", "1m", utc(2024, 3, 8), utc(2024, 3, 12))
    days = bars.groupby(bars.index.date)
    firsts = {str(day): idx.min().strftime("%H:%M") for day, idx in days.groups.items()}
    lasts = {str(day): idx.max().strftime("%H:%M") for day, idx in days.groups.items()}
    assert firsts == {"2024-03-08": "14:30", "2024-03-11": "13:30"}
    assert lasts == {"2024-03-08": "20:59", "2024-03-11": "19:59"}
    assert (days.size() == 390).all()


def test_intraday_bars_stay_inside_new_york_regular_hours(provider: SyntheticProvider) -> None:
    bars = provider.fetch_bars("QQQ", "5m", utc(2023, 10, 25), utc(2023, 11, 10))  # DST ends Nov 5
    local = bars.index.tz_convert("America/New_York")
    minutes = local.hour * 60 + local.minute
    assert minutes.min() == 9 * 60 + 30
    assert minutes.max() == 15 * 60 + 55


def test_hourly_bars_are_stamped_as_tws_stamps_them(provider: SyntheticProvider) -> None:
    bars = provider.fetch_bars("SPY", "1h", utc(2024, 6, 3), utc(2024, 6, 4))
    local = bars.index.tz_convert("America/New_York").strftime("%H:%M")
    assert list(local) == ["09:30", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00"]


@pytest.mark.parametrize("res", ["1m", "30m", "1d", "1w"])
def test_ohlc_is_consistent_and_volume_positive_whole_numbers(
    provider: SyntheticProvider, res: str
) -> None:
    bars = provider.fetch_bars("NVDA", res, utc(2020, 1, 1), utc(2020, 9, 1))
    o, h, lo, c, v = (bars[k].to_numpy() for k in OHLCV_COLUMNS)
    assert (h >= np.maximum(o, c)).all()
    assert (lo <= np.minimum(o, c)).all()
    assert (lo > 0).all()
    assert (v > 0).all()
    assert (v == np.round(v)).all()


def test_output_is_already_a_valid_bar_frame(provider: SyntheticProvider) -> None:
    bars = provider.fetch_bars("IBM", "15m", utc(2024, 1, 1), utc(2024, 2, 1))
    assert list(bars.columns) == list(OHLCV_COLUMNS)
    assert (bars.dtypes == "float64").all()
    assert bars.index.name == "ts"
    assert str(bars.index.tz) == "UTC"
    pd.testing.assert_frame_equal(validate_bars(bars), bars)


def test_weekly_bars_aggregate_the_daily_bars_keyed_by_monday(provider: SyntheticProvider) -> None:
    weekly = provider.fetch_bars("AAPL", "1w", utc(2024, 1, 1), utc(2024, 4, 1))
    daily = provider.fetch_bars("AAPL", "1d", utc(2024, 1, 1), utc(2024, 4, 1))
    expected = daily.groupby(daily.index - pd.to_timedelta(daily.index.day_of_week, unit="D")).agg(
        AGG
    )
    expected.index.name = "ts"
    pd.testing.assert_frame_equal(weekly, expected, check_freq=False)
    assert (weekly.index.day_of_week == 0).all()


def test_daily_bar_is_the_aggregate_of_its_minutes(provider: SyntheticProvider) -> None:
    minutes = provider.fetch_bars("AMD", "1m", utc(2024, 4, 1), utc(2024, 4, 6))
    daily = provider.fetch_bars("AMD", "1d", utc(2024, 4, 1), utc(2024, 4, 6))
    expected = minutes.groupby(minutes.index.floor("D")).agg(AGG)
    expected.index.name = "ts"
    pd.testing.assert_frame_equal(daily, expected, check_freq=False)


def test_hourly_bars_are_the_aggregate_of_their_minutes(provider: SyntheticProvider) -> None:
    minutes = provider.fetch_bars("AMD", "1m", utc(2024, 4, 1), utc(2024, 4, 3))
    hourly = provider.fetch_bars("AMD", "1h", utc(2024, 4, 1), utc(2024, 4, 3))
    # 09:30-09:59 is the first bar; then each clock hour (13:30 UTC is 09:30 New York here).
    session_open = minutes.index.floor("D") + pd.Timedelta(hours=13, minutes=30)
    key = np.maximum(minutes.index.floor("h"), session_open)
    expected = minutes.groupby(key).agg(AGG)
    expected.index.name = "ts"
    pd.testing.assert_frame_equal(hourly, expected, check_freq=False)


def test_request_window_is_half_open(provider: SyntheticProvider) -> None:
    bars = provider.fetch_bars("SPY", "1d", utc(2024, 1, 2), utc(2024, 1, 4))
    assert list(bars.index.day) == [2, 3]


def test_no_bars_before_the_epoch(provider: SyntheticProvider) -> None:
    bars = provider.fetch_bars("SPY", "1d", utc(1995, 1, 1), utc(2000, 1, 10))
    assert bars.index[0] == pd.Timestamp(EPOCH, tz="UTC")
    assert provider.head_timestamp("SPY") == utc(2000, 1, 3)


@pytest.mark.parametrize(
    "now",
    [
        utc(2024, 6, 14, 13, 45),  # 09:45 New York: the first half-hour of the session
        utc(2024, 6, 14, 14, 15),  # 10:15: the 09:30 hourly bar (half an hour long) is done
        utc(2024, 6, 14, 19, 59),  # a minute before the close
        utc(2024, 6, 15, 12, 0),  # a Saturday
    ],
)
def test_end_in_the_future_gives_only_bars_finished_by_now(now: datetime) -> None:
    provider = SyntheticProvider(clock=lambda: now)
    for res in ("1m", "1h", "1d", "1w"):
        bars = provider.fetch_bars("SPY", res, now - timedelta(days=30), now + timedelta(days=30))
        assert len(bars) > 0
        assert bars.index[-1] <= pd.Timestamp(now)
        step = parse_resolution(res).timedelta
        if parse_resolution(res).is_intraday:  # only finished bars: the bar's end has passed
            # An intraday bar ends at the next boundary of its size (the 09:30 hourly bar at 10:00).
            assert bars.index[-1].floor(step) + step <= pd.Timestamp(now)


def test_fixed_clock_hides_the_unfinished_session_and_week() -> None:
    during_session = utc(2024, 6, 14, 15, 0)  # Friday 11:00 New York
    provider = SyntheticProvider(clock=lambda: during_session)
    daily = provider.fetch_bars("SPY", "1d", utc(2024, 6, 1), utc(2024, 7, 1))
    weekly = provider.fetch_bars("SPY", "1w", utc(2024, 5, 1), utc(2024, 7, 1))
    minutes = provider.fetch_bars("SPY", "1m", utc(2024, 6, 14), utc(2024, 7, 1))
    assert daily.index[-1] == pd.Timestamp("2024-06-13", tz="UTC")
    assert weekly.index[-1] == pd.Timestamp("2024-06-03", tz="UTC")
    assert minutes.index[-1] == pd.Timestamp("2024-06-14 14:59", tz="UTC")


def test_empty_window_gives_an_empty_bar_frame(provider: SyntheticProvider) -> None:
    bars = provider.fetch_bars("SPY", "1d", utc(2024, 1, 6), utc(2024, 1, 8))  # a weekend
    assert bars.empty
    assert list(bars.columns) == list(OHLCV_COLUMNS)


def test_describe_says_the_instrument_is_synthetic(provider: SyntheticProvider) -> None:
    info = provider.describe("aapl")
    assert info.symbol == "AAPL"
    assert info.name == "AAPL (synthetic)"
    assert info.timezone == "US/Eastern"
    assert info.sec_type == "STK" and info.currency == "USD"
    assert info == provider.describe("AAPL")
    assert "synthetic" in provider.label


def test_blank_symbol_is_refused(provider: SyntheticProvider) -> None:
    with pytest.raises(InvalidInputError, match="symbol"):
        provider.fetch_bars("  ", "1d", utc(2024, 1, 1), utc(2024, 2, 1))


def test_prices_look_like_a_stock_over_twenty_years(provider: SyntheticProvider) -> None:
    bars = provider.fetch_bars("KO", "1d", utc(2000, 1, 1), utc(2024, 6, 1))
    returns = np.diff(np.log(bars["close"].to_numpy()))
    vol = returns.std() * np.sqrt(252)
    assert 0.1 < vol < 0.8
    assert bars["close"].min() >= 1.0
    # volatility clusters: |returns| are autocorrelated
    r = np.abs(returns)
    assert np.corrcoef(r[1:], r[:-1])[0, 1] > 0.05


NEW_YORK = "America/New_York"


def test_no_bars_on_exchange_holidays(provider: SyntheticProvider) -> None:
    daily = provider.fetch_bars("SPY", "1d", utc(2023, 11, 20), utc(2023, 11, 28))
    assert list(daily.index.day) == [20, 21, 22, 24, 27]  # Thanksgiving (23rd) is closed
    minutes = provider.fetch_bars("SPY", "1m", utc(2024, 7, 4), utc(2024, 7, 5))
    assert minutes.empty  # Independence Day


def test_an_early_close_ends_the_session_at_one_and_its_daily_bar_is_its_minutes(
    provider: SyntheticProvider,
) -> None:
    minutes = provider.fetch_bars("AMD", "1m", utc(2023, 11, 24), utc(2023, 11, 25))
    local = minutes.index.tz_convert(NEW_YORK)
    assert len(minutes) == 210 and local[-1].strftime("%H:%M") == "12:59"
    daily = provider.fetch_bars("AMD", "1d", utc(2023, 11, 24), utc(2023, 11, 25))
    expected = minutes.groupby(minutes.index.floor("D")).agg(AGG)
    expected.index.name = "ts"
    pd.testing.assert_frame_equal(daily, expected, check_freq=False)
    hourly = provider.fetch_bars("AMD", "1h", utc(2023, 11, 24), utc(2023, 11, 25))
    stamps = hourly.index.tz_convert(NEW_YORK).strftime("%H:%M")
    assert list(stamps) == ["09:30", "10:00", "11:00", "12:00"]


def test_extended_hours_run_from_four_to_four_hours_after_the_close(
    provider: SyntheticProvider,
) -> None:
    day = provider.fetch_bars("QQQ", "1m", utc(2024, 6, 12), utc(2024, 6, 13), use_rth=False)
    local = day.index.tz_convert(NEW_YORK).strftime("%H:%M")
    assert (len(day), local[0], local[-1]) == (16 * 60, "04:00", "19:59")
    regular = provider.fetch_bars("QQQ", "1m", utc(2024, 6, 12), utc(2024, 6, 13))
    pd.testing.assert_frame_equal(day.loc[regular.index], regular)  # the same regular session
    outside = day.drop(regular.index)
    assert outside["volume"].sum() < 0.15 * regular["volume"].sum()  # thinly traded
    half = provider.fetch_bars("QQQ", "1h", utc(2023, 11, 24), utc(2023, 11, 25), use_rth=False)
    stamps = half.index.tz_convert(NEW_YORK).strftime("%H:%M")
    assert (stamps[0], stamps[-1], len(half)) == ("04:00", "16:00", 13)  # until 17:00
    assert validate_bars(day).equals(day)


def test_daily_bars_do_not_depend_on_extended_hours(provider: SyntheticProvider) -> None:
    a = provider.fetch_bars("KO", "1d", utc(2024, 5, 1), utc(2024, 6, 1), use_rth=False)
    b = provider.fetch_bars("KO", "1d", utc(2024, 5, 1), utc(2024, 6, 1))
    pd.testing.assert_frame_equal(a, b)


def test_a_window_starting_mid_day_includes_that_days_daily_bar(
    provider: SyntheticProvider,
) -> None:
    bars = provider.fetch_bars("SPY", "1d", utc(2024, 5, 1, 15), utc(2024, 5, 8))
    assert bars.index[0] == pd.Timestamp("2024-05-01", tz="UTC")
    weekly = provider.fetch_bars("SPY", "1w", utc(2024, 5, 1, 15), utc(2024, 6, 1))
    assert weekly.index[0] == pd.Timestamp("2024-04-29", tz="UTC")  # that week's Monday


def _five_years(provider: SyntheticProvider, symbol: str) -> tuple[float, float]:
    """Annualised volatility of daily log returns, and the lowest close over the first."""
    close = provider.fetch_bars(symbol, "1d", utc(2019, 6, 14), utc(2024, 6, 14))["close"]
    returns = np.diff(np.log(close.to_numpy()))
    return float(returns.std() * np.sqrt(252)), float(close.min() / close.iloc[0])


@pytest.mark.parametrize("fund", ["SPY", "QQQ", "IWM", "DIA", "VOO"])
def test_index_funds_move_like_index_funds(provider: SyntheticProvider, fund: str) -> None:
    volatility, lowest = _five_years(provider, fund)
    assert 0.12 <= volatility <= 0.22
    assert lowest > 0.5  # no halving


def test_single_stocks_are_more_volatile_than_the_index(provider: SyntheticProvider) -> None:
    index_vol, _ = _five_years(provider, "SPY")
    for stock in ("AAPL", "MSFT", "TSLA", "JPM", "XOM"):
        volatility, _ = _five_years(provider, stock)
        assert index_vol < volatility < 0.6
