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


# ---------------------------------------------------------------------------------------------
# dates algotrader cannot hold, files that are not text, resolutions that do not fit


@pytest.mark.parametrize(
    ("written", "named"),
    [
        ("0000-01-02", "'0000-01-02' is before 1678-01-01, the earliest date"),
        ("01/02/0001", "'01/02/0001' is before 1678-01-01"),
        ("1677-06-01", "'1677-06-01' is before 1678-01-01"),
        ("9999-12-31", "'9999-12-31' is in the future"),
        ("2262-04-12", "'2262-04-12' is in the future"),
        ("2099-01-02", "'2099-01-02' is in the future"),
    ],
)
def test_dates_out_of_range_or_in_the_future_are_refused_by_line(
    tmp_path: Path, written: str, named: str
) -> None:
    path = write(tmp_path, f"{HEADER}{written},10,11,9,10.5\n")
    assert refused(path).startswith(f"prices.csv line 2, column 'date': {named}")


def test_a_bar_later_today_is_not_in_the_future(tmp_path: Path) -> None:
    # A time written without its zone is read as UTC: a day of slack keeps local times east of
    # UTC loadable.
    later = pd.Timestamp.now(tz="UTC").floor("min") + pd.Timedelta(hours=10)
    path = write(tmp_path, f"{HEADER}{later:%Y-%m-%d %H:%M},10,11,9,10.5\n")
    bars = CsvProvider(path).fetch_bars("AAPL", "1m", EARLY, datetime(2262, 1, 1, tzinfo=UTC))
    assert len(bars) == 1


@pytest.mark.parametrize(
    ("first", "second", "named"),
    [
        ("100000000000000000000", "1700000060", "line 2, column 'date': '100000000000000000000' "
                                                "(epoch milliseconds) is in the future"),
        ("1700000000", "1e20", "line 3, column 'date': '1e20' (epoch milliseconds) is in the "
                               "future"),
        ("1700000000", "inf", "line 3, column 'date': 'inf' is not a date"),
        ("1700000000", "-inf", "line 3, column 'date': '-inf' is not a date"),
        ("-99999999999999", "1700000000", "line 2, column 'date': '-99999999999999' (epoch "
                                          "milliseconds) is before 1678-01-01"),
        ("1700000000", "99999999999", "line 3, column 'date': '99999999999' (epoch seconds) is in "
                                      "the future"),
    ],
)  # fmt: skip
def test_epoch_values_beyond_the_supported_dates_are_refused_by_line(
    tmp_path: Path, first: str, second: str, named: str
) -> None:
    path = write(tmp_path, f"{HEADER}{first},10,11,9,10.5\n{second},10,11,9,10.5\n")
    assert refused(path, "1m").startswith(f"prices.csv {named}")


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    assert refused(path).startswith("prices.csv is not a text file (it holds binary data)")


def test_latin1_file_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(f"{HEADER}2024-01-02,10,11,9,10.5\n".encode() + "# Zürich\n".encode("latin-1"))
    message = refused(path)
    assert message.startswith("prices.csv line 3 is not UTF-8 text (byte 0xfc)")
    assert "iconv" in message


def test_non_utf8_beyond_the_first_64_kib_is_refused(tmp_path: Path) -> None:
    rows = "".join(f"{d:%Y-%m-%d},10,11,9,10.5\n" for d in pd.date_range("1990-01-01",
                                                                        periods=3000))  # fmt: skip
    path = tmp_path / "prices.csv"
    path.write_bytes((HEADER + rows).encode() + "2024-01-02,10,11,9,caf\xe9\n".encode("latin-1"))
    assert refused(path).startswith("prices.csv is not UTF-8 text")


def test_a_multibyte_character_cut_at_64_kib_is_not_an_error(tmp_path: Path) -> None:
    # The header sniffer reads 64 KiB; a UTF-8 character that straddles the cut is fine.
    header = "date,open,high,low,close,note\n"
    filler = "x" * (65536 - len(header) - len("2024-01-02,10,11,9,10.5,") - 1)
    path = tmp_path / "prices.csv"
    path.write_text(f"{header}2024-01-02,10,11,9,10.5,{filler}é\n", encoding="utf-8")
    assert load(path)["close"].tolist() == [10.5]


def test_text_true_false_in_a_price_column_is_not_a_number(tmp_path: Path) -> None:
    path = write(tmp_path, "date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,True\n")
    assert refused(path).startswith("prices.csv line 2, column 'volume': 'True' is not a number")


def test_a_header_the_quick_look_cannot_read_is_refused_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '"date,x",open,high,low,close\n"2024-01-02,1",10,11,9,10.5\n')
    message = refused(path)
    assert message.startswith("prices.csv line 1: cannot read the header")


def test_a_long_symbol_list_in_the_file_is_shortened(tmp_path: Path) -> None:
    path = write(tmp_path, f"symbol,{HEADER}{'Z' * 5000},2024-01-02,10,11,9,10.5\n")
    with pytest.raises(DataNotFoundError) as info:
        load(path)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    ("dates", "requested", "found", "suggested"),
    [
        ([f"2024-01-{d:02d}" for d in range(2, 12)], "1m", "1 day(s)", "1d"),
        (["2024-01-02", "2024-01-05"], "1h", "1 day(s)", "1d"),
        ([f"2024-01-02 {h:02d}:30" for h in range(9, 16)], "1m", "60 min", "1h"),
        ([f"2024-01-02 10:{m:02d}" for m in range(0, 60, 5)], "1m", "5 min", "5m"),
        (["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"], "1d", "7 day(s)", "1w"),
        (["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"], "5m", "7 day(s)", "1w"),
    ],
)
def test_a_file_coarser_than_requested_is_refused_suggesting_its_resolution(
    tmp_path: Path, dates: list[str], requested: str, found: str, suggested: str
) -> None:
    path = write(tmp_path, HEADER + "".join(f"{d},10,11,9,10.5\n" for d in dates))
    message = refused(path, requested)
    assert f"holds bars {found} apart, coarser than the requested {requested}" in message
    assert message.endswith(f"load it with -r {suggested}")


@pytest.mark.parametrize(
    ("dates", "requested"),
    [
        (["2024-01-01", "2024-01-08"], "1d"),  # two bars cannot tell weekly from sparse daily
        (["2024-01-02 10:00", "2024-01-02 10:05", "2024-01-02 10:06"], "1m"),  # some 1m apart
        (["2024-01-02 10:00", "2024-01-02 10:07", "2024-01-02 10:20"], "1m"),  # sparse minutes
    ],
)
def test_sparse_files_at_the_requested_resolution_still_load(
    tmp_path: Path, dates: list[str], requested: str
) -> None:
    path = write(tmp_path, HEADER + "".join(f"{d},10,11,9,10.5\n" for d in dates))
    assert len(load(path, requested)) == len(dates)


def test_fetch_bars_says_how_many_bars_it_left_out(tmp_path: Path) -> None:
    rows = "".join(f"2024-01-0{d},10,11,9,10\n" for d in (2, 3, 4, 5))
    path = write(tmp_path, HEADER + rows)
    start, end = datetime(2024, 1, 3, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC)
    bars = CsvProvider(path).fetch_bars("AAPL", "1d", start, end)
    assert bars.attrs["outside_window"] == 2
    first, last = bars.attrs["source_span"]
    assert (first.day, last.day) == (2, 5)
    assert load(path).attrs["outside_window"] == 0


def test_describe_keeps_the_name_within_its_column(tmp_path: Path) -> None:
    info = CsvProvider(tmp_path / ("p" * 250 + ".csv")).describe("AAPL")
    assert info.name is not None and len(info.name) <= 200
