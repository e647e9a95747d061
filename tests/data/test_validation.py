"""validate_bars: canonical output for good frames, one clear line for bad ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algotrader.data.validation import validate_bars
from algotrader.errors import InvalidInputError
from algotrader.frames import OHLCV_COLUMNS


def bars(
    n: int = 5, start: str = "2024-01-01", freq: str = "D", tz: str | None = "UTC"
) -> pd.DataFrame:
    close = 100.0 + np.arange(n, dtype=float)
    return pd.DataFrame(
        {
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": np.full(n, 1000.0),
        },
        index=pd.DatetimeIndex(
            pd.date_range(start, periods=n, freq=freq, tz=tz, name="ts", unit="us"), freq=None
        ),
    )


def test_valid_frame_passes_unchanged() -> None:
    frame = bars()
    pd.testing.assert_frame_equal(validate_bars(frame), frame)


def test_naive_index_is_taken_as_utc() -> None:
    out = validate_bars(bars(tz=None))
    assert str(out.index.tz) == "UTC"
    assert out.index[0] == pd.Timestamp("2024-01-01", tz="UTC")


def test_index_unit_is_normalised_to_microseconds() -> None:
    frame = bars()
    frame.index = frame.index.as_unit("ns")
    assert validate_bars(frame).index.dtype == "datetime64[us, UTC]"


def test_other_time_zone_is_converted_to_utc() -> None:
    out = validate_bars(bars(freq="h", start="2024-01-02 09:30", tz="America/New_York"))
    assert out.index[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")


def test_unsorted_frame_is_sorted() -> None:
    frame = bars()
    out = validate_bars(frame.iloc[[3, 0, 4, 1, 2]])
    pd.testing.assert_frame_equal(out, frame)


def test_integer_columns_become_float64_and_extra_columns_are_dropped() -> None:
    frame = bars()
    frame["volume"] = frame["volume"].astype(np.int64)
    frame["barCount"] = 3
    out = validate_bars(frame)
    assert list(out.columns) == list(OHLCV_COLUMNS)
    assert (out.dtypes == "float64").all()


def test_ts_column_is_used_as_the_index() -> None:
    frame = bars().reset_index()
    out = validate_bars(frame)
    assert out.index.name == "ts"
    assert len(out) == 5


def test_empty_frame_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        validate_bars(bars().iloc[:0])


def test_missing_column_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInputError, match="'volume'"):
        validate_bars(bars().drop(columns="volume"))


@pytest.mark.parametrize("column", OHLCV_COLUMNS)
def test_nan_is_refused_naming_the_bar_and_column(column: str) -> None:
    frame = bars()
    frame.iloc[2, frame.columns.get_loc(column)] = np.nan
    with pytest.raises(InvalidInputError, match=rf"2024-01-03.*column '{column}'.*NaN"):
        validate_bars(frame)


def test_infinity_is_refused() -> None:
    frame = bars()
    frame.iloc[1, 3] = np.inf
    with pytest.raises(InvalidInputError, match="column 'close': inf is not a finite number"):
        validate_bars(frame)


@pytest.mark.parametrize("column", ["open", "high", "low", "close"])
def test_negative_price_is_refused(column: str) -> None:
    frame = bars()
    frame.loc[frame.index[1], ["open", "high", "low", "close"]] = [1.0, 2.0, 0.5, 1.5]
    frame.loc[frame.index[1], column] = -1.0
    with pytest.raises(InvalidInputError, match=rf"column '{column}': -1 is not a positive price"):
        validate_bars(frame)


def test_zero_price_is_refused() -> None:
    frame = bars()
    frame.loc[frame.index[0], "low"] = 0.0
    with pytest.raises(InvalidInputError, match="column 'low': 0 is not a positive price"):
        validate_bars(frame)


def test_negative_volume_is_refused() -> None:
    frame = bars()
    frame.loc[frame.index[4], "volume"] = -1.0
    with pytest.raises(InvalidInputError, match="column 'volume': -1 is a negative volume"):
        validate_bars(frame)


def test_zero_volume_is_allowed() -> None:
    frame = bars()
    frame["volume"] = 0.0
    assert (validate_bars(frame)["volume"] == 0).all()


def test_high_below_low_is_refused() -> None:
    frame = bars()
    frame.loc[frame.index[2], ["high", "low"]] = [90.0, 110.0]
    with pytest.raises(InvalidInputError, match="column 'high': high 90 is below low 110"):
        validate_bars(frame)


def test_high_below_close_is_refused() -> None:
    frame = bars()
    frame.loc[frame.index[2], "high"] = 101.5  # close is 102
    with pytest.raises(InvalidInputError, match=r"column .high.: high 101\.5 is below close 102"):
        validate_bars(frame)


def test_low_above_open_is_refused() -> None:
    frame = bars()
    frame.loc[frame.index[2], "low"] = 101.6  # open is 101.5
    with pytest.raises(InvalidInputError, match=r"column .low.: low 101\.6 is above open 101\.5"):
        validate_bars(frame)


def test_duplicate_timestamp_is_refused_naming_both_bars() -> None:
    frame = bars()
    frame.index = frame.index[[0, 1, 2, 2, 4]]
    with pytest.raises(
        InvalidInputError, match=r"bar 4, column 'ts': timestamp 2024-01-03.*repeats bar 3"
    ):
        validate_bars(frame)


def test_duplicate_in_unsorted_frame_names_the_later_row() -> None:
    frame = bars()
    frame.index = frame.index[[4, 0, 2, 1, 0]]
    with pytest.raises(InvalidInputError, match=r"bar 5, column .ts.*repeats bar 2"):
        validate_bars(frame)


def test_describe_row_names_the_offending_bar() -> None:
    frame = bars()
    frame.loc[frame.index[3], "close"] = np.nan
    with pytest.raises(InvalidInputError, match=r"^prices.csv line 5, column 'Close': empty"):
        validate_bars(frame, lambda i: f"prices.csv line {i + 2}", {"close": "Close"})


def test_duplicate_with_describe_row_does_not_repeat_the_file_name() -> None:
    frame = bars()
    frame.index = frame.index[[0, 1, 1, 3, 4]]
    with pytest.raises(InvalidInputError) as info:
        validate_bars(frame, lambda i: f"prices.csv line {i + 2}")
    assert "prices.csv line 4, column 'ts'" in str(info.value)
    assert str(info.value).count("prices.csv") == 1
    assert "repeats line 3" in str(info.value)


def test_earliest_bad_row_is_reported_whatever_the_problem() -> None:
    frame = bars()
    frame.loc[frame.index[4], "open"] = np.nan
    frame.loc[frame.index[1], "volume"] = -5.0
    with pytest.raises(InvalidInputError, match=r"2024-01-02.*negative volume"):
        validate_bars(frame)


def test_error_is_one_line_with_a_fix() -> None:
    frame = bars()
    frame.loc[frame.index[0], "close"] = np.nan
    with pytest.raises(InvalidInputError) as info:
        validate_bars(frame)
    assert "\n" not in str(info.value)
    assert info.value.fix


def test_non_numeric_column_is_refused_naming_the_value() -> None:
    frame = bars()
    frame["close"] = frame["close"].astype(object)
    frame.loc[frame.index[2], "close"] = "abc"
    with pytest.raises(InvalidInputError, match="column 'close': 'abc' is not a number"):
        validate_bars(frame)


def test_none_in_an_object_column_is_refused_as_empty() -> None:
    frame = bars()
    frame["open"] = frame["open"].astype(object)
    frame.loc[frame.index[1], "open"] = None
    with pytest.raises(InvalidInputError, match="column 'open': empty or NaN value"):
        validate_bars(frame)


def test_missing_timestamp_is_refused() -> None:
    frame = bars()
    frame.index = pd.DatetimeIndex([*frame.index[:2], pd.NaT, *frame.index[3:]], name="ts")
    with pytest.raises(InvalidInputError, match="bar 3, column 'ts': the timestamp is missing"):
        validate_bars(frame)


def test_a_large_frame_validates_in_one_vectorised_pass() -> None:
    # Speed is measured by benchmarks/data.py; here: a large frame passes unchanged.
    n = 200_000
    close = np.linspace(50, 150, n)
    frame = pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": np.ones(n)},
        index=pd.date_range("2000-01-01", periods=n, freq="min", tz="UTC", name="ts"),
    )
    checked = validate_bars(frame)
    assert len(checked) == n
    np.testing.assert_array_equal(checked["close"].to_numpy(), close)


# ---------------------------------------------------------------------------------------------
# properties

finite_price = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def valid_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=1, max_value=40))
    rows = []
    for _ in range(n):
        a, b = draw(finite_price), draw(finite_price)
        up = draw(st.floats(min_value=0, max_value=100))
        down = draw(st.floats(min_value=0, max_value=0.99))
        body_lo, body_hi = min(a, b), max(a, b)
        rows.append((a, body_hi + up, body_lo * (1 - down), b, float(draw(st.integers(0, 10**9)))))
    offsets = draw(st.lists(st.integers(0, 10**7), min_size=n, max_size=n, unique=True))
    index = pd.DatetimeIndex(
        pd.Timestamp("2010-01-01", tz="UTC") + pd.to_timedelta(sorted(offsets), unit="min"),
        name="ts",
    ).as_unit("us")
    return pd.DataFrame(rows, columns=list(OHLCV_COLUMNS), index=index)


@settings(max_examples=60, deadline=None)
@given(valid_frames())
def test_property_valid_frames_pass_unchanged(frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(validate_bars(frame), frame)


@settings(max_examples=60, deadline=None)
@given(valid_frames(), st.data())
def test_property_shuffled_valid_frames_come_back_sorted(
    frame: pd.DataFrame, data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(frame))))
    pd.testing.assert_frame_equal(validate_bars(frame.iloc[list(order)]), frame)


CORRUPTIONS = [
    "nan",
    "inf",
    "negative_price",
    "zero_price",
    "negative_volume",
    "high_low",
    "high_body",
    "low_body",
    "duplicate",
]


def corrupt(frame: pd.DataFrame, kind: str, i: int, column: str) -> pd.DataFrame:
    frame = frame.copy()
    row = frame.index[i]
    if kind == "nan":
        frame.loc[row, column] = np.nan
    elif kind == "inf":
        frame.loc[row, column] = -np.inf if column == "low" else np.inf
    elif kind == "negative_price":
        frame.loc[row, "low"] = -abs(frame.loc[row, "low"]) - 1
    elif kind == "zero_price":
        frame.loc[row, "low"] = 0.0
    elif kind == "negative_volume":
        frame.loc[row, "volume"] = -1.0
    elif kind == "high_low":
        frame.loc[row, "high"] = frame.loc[row, "low"] * 0.5
    elif kind == "high_body":
        frame.loc[row, "high"] = max(frame.loc[row, "open"], frame.loc[row, "close"]) * 0.999
    elif kind == "low_body":
        frame.loc[row, "low"] = min(frame.loc[row, "open"], frame.loc[row, "close"]) * 1.001
    elif kind == "duplicate":
        index = frame.index.to_numpy().copy()
        index[i] = index[i - 1]
        frame.index = pd.DatetimeIndex(index, name="ts")
    return frame


@settings(max_examples=120, deadline=None)
@given(valid_frames().filter(lambda f: len(f) >= 2), st.data())
def test_property_any_single_corruption_is_refused(
    frame: pd.DataFrame, data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(CORRUPTIONS))
    i = data.draw(st.integers(1, len(frame) - 1))
    column = data.draw(st.sampled_from(OHLCV_COLUMNS))
    with pytest.raises(InvalidInputError) as info:
        validate_bars(corrupt(frame, kind, i, column))
    assert "\n" not in str(info.value)
