"""CsvProvider: layouts and formats it understands, and one clear line for each bad file."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from algotrader.data.providers.csv import CsvProvider
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.frames import OHLCV_COLUMNS

EARLY, LATE = datetime(1990, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC)


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, resolution: str = "1d", symbol: str = "AAPL") -> pd.DataFrame:
    return CsvProvider(path).fetch_bars(symbol, resolution, EARLY, LATE)


def refused(path: Path, resolution: str = "1d") -> str:
    with pytest.raises(InvalidInputError) as info:
        load(path, resolution)
    message = str(info.value)
    assert "\n" not in message
    return message


def stamps(frame: pd.DataFrame) -> list[str]:
    return [ts.isoformat() for ts in frame.index]


# ---------------------------------------------------------------------------------------------
# layouts


def test_yahoo_layout_uses_close_not_adj_close(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-01-02,10,11,9,10.5,10.4,100\n"
        "2024-01-03,10.5,12,10,11,10.9,200\n",
    )
    bars = load(path)
    assert list(bars.columns) == list(OHLCV_COLUMNS)
    assert bars["close"].tolist() == [10.5, 11.0]
    assert bars["volume"].tolist() == [100.0, 200.0]
    assert stamps(bars) == ["2024-01-02T00:00:00+00:00", "2024-01-03T00:00:00+00:00"]


def test_adj_close_is_the_close_when_it_is_the_only_one(tmp_path: Path) -> None:
    path = write(tmp_path, "date,open,high,low,adj close,volume\n2024-01-02,10,11,9,10.5,100\n")
    assert load(path)["close"].tolist() == [10.5]


def test_short_lower_case_names_are_recognised(tmp_path: Path) -> None:
    path = write(tmp_path, "ts,o,h,l,c,v\n2024-01-02,10,11,9,10.5,7\n")
    bars = load(path)
    assert bars.iloc[0].tolist() == [10.0, 11.0, 9.0, 10.5, 7.0]


def test_upper_case_names_and_last_as_close_are_recognised(tmp_path: Path) -> None:
    path = write(tmp_path, "DATETIME,OPEN,HIGH,LOW,LAST,VOL\n2024-01-02 14:30:00,10,11,9,10.5,7\n")
    bars = load(path, "1m")
    assert bars["close"].tolist() == [10.5]
    assert bars["volume"].tolist() == [7.0]


def test_price_column_is_a_close(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,open,high,low,price\n2024-01-02,10,11,9,10.5\n")
    assert load(path)["close"].tolist() == [10.5]


def test_missing_volume_column_loads_as_zero_volume(tmp_path: Path) -> None:
    path = write(tmp_path, "date,open,high,low,close\n2024-01-02,10,11,9,10.5\n")
    assert load(path)["volume"].tolist() == [0.0]


def test_semicolon_separator_with_decimal_commas(tmp_path: Path) -> None:
    path = write(tmp_path, "Date;Open;High;Low;Close;Volume\n2024-01-02;10,5;11,25;9;10;100\n")
    assert load(path).iloc[0].tolist() == [10.5, 11.25, 9.0, 10.0, 100.0]


def test_tab_separator(tmp_path: Path) -> None:
    path = write(tmp_path, "date\topen\thigh\tlow\tclose\n2024-01-02\t10\t11\t9\t10.5\n")
    assert load(path)["close"].tolist() == [10.5]


def test_separate_date_and_time_columns_are_joined(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Date,Time,Open,High,Low,Close\n2024-01-02,14:30,10,11,9,10.5\n2024-01-02,14:31,10,11,9,10\n",
    )
    assert stamps(load(path, "1m")) == ["2024-01-02T14:30:00+00:00", "2024-01-02T14:31:00+00:00"]


def test_symbol_column_selects_the_requested_symbol(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "symbol,date,open,high,low,close\n"
        "AAPL,2024-01-02,10,11,9,10.5\n"
        "MSFT,2024-01-02,20,21,19,20.5\n"
        "aapl,2024-01-03,11,12,10,11.5\n",
    )
    assert load(path, symbol="AAPL")["close"].tolist() == [10.5, 11.5]
    assert load(path, symbol="msft")["close"].tolist() == [20.5]


def test_symbol_missing_from_the_symbol_column_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "ticker,date,open,high,low,close\nMSFT,2024-01-02,20,21,19,20.5\n")
    with pytest.raises(DataNotFoundError, match=r"no rows for symbol AAPL.*MSFT"):
        load(path, symbol="AAPL")


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfDate,Open,High,Low,Close\n2024-01-02,10,11,9,10.5\n")
    assert load(path)["close"].tolist() == [10.5]


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path, "date,open,high,low,close\n2024-01-02,10,11,9,10.5\n\n2024-01-03,10,11,9,10\n\n"
    )
    assert len(load(path)) == 2


def test_rows_come_back_sorted(tmp_path: Path) -> None:
    path = write(
        tmp_path, "date,open,high,low,close\n2024-01-03,10,11,9,10\n2024-01-02,10,11,9,10.5\n"
    )
    assert stamps(load(path))[0].startswith("2024-01-02")


def test_window_is_half_open(tmp_path: Path) -> None:
    rows = "".join(f"2024-01-0{d},10,11,9,10\n" for d in (2, 3, 4, 5))
    path = write(tmp_path, "date,open,high,low,close\n" + rows)
    start, end = datetime(2024, 1, 3, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC)
    bars = CsvProvider(path).fetch_bars("AAPL", "1d", start, end)
    assert [ts.day for ts in bars.index] == [3, 4]


def test_label_and_describe_name_the_file(tmp_path: Path) -> None:
    provider = CsvProvider(tmp_path / "prices.csv")
    assert provider.label == "CSV file prices.csv"
    assert provider.name == "csv"
    info = provider.describe("aapl")
    assert info.symbol == "AAPL"
    assert info.con_id is None


# ---------------------------------------------------------------------------------------------
# time formats

HEADER = "date,open,high,low,close\n"


@pytest.mark.parametrize(
    ("written", "resolution", "expected"),
    [
        ("2024-01-31", "1d", "2024-01-31T00:00:00+00:00"),
        ("2024-01-31 15:30:00", "1m", "2024-01-31T15:30:00+00:00"),
        ("2024-01-31T15:30:00Z", "1m", "2024-01-31T15:30:00+00:00"),
        ("2024-01-31T10:30:00-05:00", "1m", "2024-01-31T15:30:00+00:00"),
        ("01/31/2024", "1d", "2024-01-31T00:00:00+00:00"),
        ("01/31/2024 15:30", "1m", "2024-01-31T15:30:00+00:00"),
        ("31.01.2024 15:30:00.000", "1m", "2024-01-31T15:30:00+00:00"),
        ("31.01.2024 17:30:00.000 GMT+0200", "1m", "2024-01-31T15:30:00+00:00"),
        ("20240131", "1d", "2024-01-31T00:00:00+00:00"),
        ("20240131  15:30:00", "1m", "2024-01-31T15:30:00+00:00"),
        ("2024/01/31", "1d", "2024-01-31T00:00:00+00:00"),
        ("2024.01.31 15:30", "1m", "2024-01-31T15:30:00+00:00"),
        ("1706715000", "1m", "2024-01-31T15:30:00+00:00"),
        ("1706715000000", "1m", "2024-01-31T15:30:00+00:00"),
    ],
)
def test_time_format_is_detected(
    tmp_path: Path, written: str, resolution: str, expected: str
) -> None:
    path = write(tmp_path, f"{HEADER}{written},10,11,9,10.5\n")
    assert stamps(load(path, resolution)) == [expected]


def test_gmt_time_column_of_dukascopy_exports(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Gmt time,Open,High,Low,Close,Volume\n"
        "02.01.2024 14:30:00.000,10,11,9,10.5,1.5\n"
        "02.01.2024 14:31:00.000,10,11,9,10.5,2\n",
    )
    assert stamps(load(path, "1m"))[1] == "2024-01-02T14:31:00+00:00"


def test_local_time_column_with_offset_is_converted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Local time,Open,High,Low,Close,Volume\n02.01.2024 09:30:00.000 GMT-0500,10,11,9,10.5,1\n",
    )
    assert stamps(load(path, "1m")) == ["2024-01-02T14:30:00+00:00"]


def test_daily_bars_keep_the_written_date_whatever_the_zone(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}2024-01-31T00:00:00+02:00,10,11,9,10.5\n")
    assert stamps(load(path, "1d")) == ["2024-01-31T00:00:00+00:00"]


def test_weekly_bars_are_keyed_by_the_written_date(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}2024-01-29,10,11,9,10.5\n2024-02-05,10,11,9,10.5\n")
    assert stamps(load(path, "1w"))[0] == "2024-01-29T00:00:00+00:00"


# ---------------------------------------------------------------------------------------------
# bad files: one line naming file, line and column


def test_missing_file_is_refused_with_the_flag_to_fix(tmp_path: Path) -> None:
    message = refused(tmp_path / "nope.csv")
    assert "nope.csv" in message and "--csv" in message


def test_empty_file_is_refused(tmp_path: Path) -> None:
    assert re.match(r"prices\.csv is empty", refused(write(tmp_path, "")))


def test_whitespace_only_file_is_refused_as_empty(tmp_path: Path) -> None:
    assert "is empty" in refused(write(tmp_path, "\n \n"))


def test_header_only_file_is_refused(tmp_path: Path) -> None:
    message = refused(write(tmp_path, HEADER))
    assert message.startswith("prices.csv has a header but no bars")


def test_unknown_layout_says_what_was_found_and_expected(tmp_path: Path) -> None:
    message = refused(write(tmp_path, "when,first,max,min,final\n2024-01-02,1,2,0.5,1\n"))
    assert message.startswith("prices.csv line 1: unknown column layout")
    assert "'when', 'first', 'max', 'min', 'final'" in message
    assert "open" in message and "close" in message


def test_single_column_file_is_refused(tmp_path: Path) -> None:
    message = refused(write(tmp_path, "date open high low close\n"))
    assert message.startswith("prices.csv line 1: found a single column")


def test_unparseable_date_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}2024-01-02,10,11,9,10.5\n2024-13-45,10,11,9,10.5\n")
    message = refused(path)
    assert message.startswith("prices.csv line 3, column 'date': '2024-13-45' is not a date")
    assert "ISO" in message


def test_date_in_another_format_than_the_first_row_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}01/02/2024,10,11,9,10.5\n2024-01-03,10,11,9,10.5\n")
    assert refused(path).startswith("prices.csv line 3, column 'date': '2024-01-03' is not a date")


def test_garbage_date_in_the_first_row_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}yesterday,10,11,9,10.5\n")
    assert refused(path).startswith("prices.csv line 2, column 'date': 'yesterday' is not a date")


def test_empty_date_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}2024-01-02,10,11,9,10.5\n,10,11,9,10.5\n")
    assert refused(path).startswith("prices.csv line 3, column 'date': the date is empty")


def test_text_in_a_price_column_names_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Date,Open,High,Low,Close\n"
        + "".join(f"2024-01-{d:02d},10,11,9,10\n" for d in range(2, 7))
        + "2024-01-08,10,11,9,abc\n",
    )
    assert refused(path).startswith("prices.csv line 7, column 'Close': 'abc' is not a number")


def test_empty_value_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}2024-01-02,10,11,9,10.5\n2024-01-03,10,,9,10.5\n")
    assert refused(path).startswith("prices.csv line 3, column 'high': the value is empty")


def test_nan_value_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}2024-01-02,10,11,9,NaN\n")
    assert refused(path).startswith("prices.csv line 2, column 'close': 'NaN' is not a number")


def test_infinite_value_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}2024-01-02,10,inf,9,10\n")
    assert refused(path).startswith("prices.csv line 2, column 'high': inf is not a finite")


def test_negative_price_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}2024-01-02,10,11,9,10.5\n2024-01-03,10,11,-9,10.5\n")
    assert refused(path).startswith("prices.csv line 3, column 'low': -9 is not a positive price")


def test_negative_volume_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "date,open,high,low,close,Volume\n2024-01-02,10,11,9,10.5,-3\n")
    assert refused(path).startswith("prices.csv line 2, column 'Volume': -3 is a negative volume")


def test_high_below_low_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}2024-01-02,10,11,9,10.5\n2024-01-03,10,8,12,10.5\n")
    message = refused(path)
    assert message.startswith("prices.csv line 3, column 'high': high 8 is below low 12")


def test_duplicate_timestamps_name_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"{HEADER}2024-01-02,10,11,9,10.5\n2024-01-03,10,11,9,10.5\n2024-01-03,10,11,9,10.5\n",
    )
    message = refused(path)
    assert message.startswith("prices.csv line 4, column 'date': timestamp 2024-01-03")
    assert "repeats line 3" in message


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}2024-01-02,10,11,9,10.5\n\n2024-01-03,10,11,9,x\n")
    assert refused(path).startswith("prices.csv line 4, column 'close'")


def test_line_with_too_many_fields_is_refused_by_line(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}2024-01-02,10,11,9,10.5\n2024-01-03,10,11,9,10.5,7,8\n")
    assert refused(path).startswith("prices.csv line 3: 7 fields where the header has 5")


def test_intraday_file_loaded_as_daily_is_refused_with_the_right_resolution(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path, f"{HEADER}2024-01-02 14:30,10,11,9,10.5\n2024-01-02 14:35,10,11,9,10.5\n"
    )
    message = refused(path, "1d")
    assert "5 min apart" in message and "-r 5m" in message


def test_a_quarter_million_rows_load_in_well_under_two_seconds(tmp_path: Path) -> None:

    n = 250_000  # speed is measured by benchmarks/data.py
    ts = pd.date_range("2010-01-01", periods=n, freq="min")
    close = np.round(100 + np.sin(np.arange(n) / 1000.0), 2)
    frame = pd.DataFrame(
        {
            "Date": ts.strftime("%Y-%m-%d %H:%M:%S"),
            "Open": close,
            "High": close + 0.1,
            "Low": close - 0.1,
            "Close": close,
            "Volume": 100,
        }
    )
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    bars = load(path, "1m")
    assert len(bars) == n
    np.testing.assert_array_equal(bars["close"].to_numpy(), close)
