"""Bad input from the command line ends in one short line, exit code 2, no traceback and nothing
written (issue 7, "507 bad inputs"): CSV files, durations, database URLs, logging settings,
event and signal files, data sources, and values too long to echo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from tests.cli.conftest import one_line, run

from algotrader.cli.app import main
from algotrader.db.engine import open_database

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("market_prices", "series_state", "instruments", "market_events", "symbol_events",
          "external_signals", "backtest_runs", "orders")  # fmt: skip
HEADER = "date,open,high,low,close,volume"


def rows(url: str) -> int:
    """Rows in every table of the database."""
    db = open_database(url)
    try:
        with db.engine.connect() as conn:
            return sum(
                int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES
            )
    finally:
        db.dispose()


def bars_csv(path: Path, dates: list[str]) -> Path:
    body = "".join(f"{d},10,11,9,10.5,100\n" for d in dates)
    path.write_text(f"{HEADER}\n{body}", encoding="utf-8")
    return path


def daily(start: str, days: int) -> list[str]:
    import pandas as pd

    return [f"{d:%Y-%m-%d}" for d in pd.bdate_range(start, periods=days)]


# ------------------------------------------------------------------------------------- CSV

_BAD_CSV = {
    "year_0": (f"{HEADER}\n0000-01-02,10,11,9,10.5,1\n", "'0000-01-02' is before 1678-01-01"),
    "year_9999": (f"{HEADER}\n9999-12-31,10,11,9,10.5,1\n", "'9999-12-31' is in the future"),
    "future_bar": (
        f"{HEADER}\n2024-01-02,10,11,9,10.5,1\n2099-01-02,10,11,9,10.5,1\n",
        "line 3, column 'date': '2099-01-02' is in the future",
    ),
    "epoch_1e20": (
        "ts,open,high,low,close,volume\n1700000000,10,11,9,10.5,1\n1e20,10,11,9,10.5,1\n",
        "line 3, column 'ts': '1e20' (epoch milliseconds) is in the future",
    ),
    "epoch_digits": (
        "ts,open,high,low,close,volume\n100000000000000000000,10,11,9,10.5,1\n",
        "is in the future",
    ),
    "epoch_inf": (
        "ts,open,high,low,close,volume\n1700000000,10,11,9,10.5,1\ninf,10,11,9,10.5,1\n",
        "line 3, column 'ts': 'inf' is not a date",
    ),
    "epoch_negative": (
        "ts,open,high,low,close,volume\n-99999999999999,10,11,9,10.5,1\n",
        "is before 1678-01-01",
    ),
}


@pytest.mark.parametrize("case", sorted(_BAD_CSV))
def test_csv_dates_algotrader_cannot_hold_are_one_line_naming_the_row(
    case: str, db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, named = _BAD_CSV[case]
    path = env / f"{case}.csv"
    path.write_text(content, encoding="utf-8")
    line = one_line(*run(capsys, "--database-url", db_url, "ingest", "-s", "X", "--csv",
                         str(path)))  # fmt: skip
    assert f"{case}.csv line" in line and named in line
    assert rows(db_url) == 0


@pytest.mark.parametrize(
    "args", [("events", "import", "a\x00b"), ("ingest", "-s", "A", "--csv", "p\x00.csv")]
)
def test_an_argument_with_a_nul_character_is_one_line(
    args: tuple[str, ...], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "NUL character" in one_line(*run(capsys, *args))


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"date,open,high,low,close\n\x00\x01\x02\xff\xfe binary", "is not a text file"),
        (
            "date,open,high,low,close,name\n2024-01-02,10,11,9,10.5,café\n".encode("latin-1"),
            "line 2 is not UTF-8 text (byte 0xe9)",
        ),
    ],
    ids=["binary", "latin-1"],
)
def test_binary_or_latin1_csv_is_one_line(
    content: bytes, named: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env / "prices.csv"
    path.write_bytes(content)
    line = one_line(*run(capsys, "ingest", "-s", "X", "--csv", str(path)))
    assert line.startswith("error: prices.csv") and named in line


def test_csv_rows_outside_the_window_are_counted_in_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bars_csv(env / "prices.csv", daily("2024-01-01", 30))
    code, out, err = run(capsys, "ingest", "-s", "X", "--csv", str(path), "--start",
                         "2024-01-15", "--end", "2024-01-22")  # fmt: skip
    assert code == 0, err
    assert "Fetched 5 rows from CSV file prices.csv for X." in out
    assert ("Left out 25 rows outside the requested window (drop -d/--start/--end to store the "
            "whole file).") in out.splitlines()  # fmt: skip


def test_csv_entirely_outside_the_window_writes_nothing_and_says_why(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bars_csv(env / "old.csv", daily("2010-01-04", 20))
    line = one_line(*run(capsys, "--database-url", db_url, "ingest", "-s", "X", "--csv",
                         str(path), "-d", "1 Y"))  # fmt: skip
    assert "all 20 bars of X in CSV file old.csv lie outside the requested window" in line
    assert "2010-01-04 to 2010-01-29" in line and "drop -d/--start/--end" in line
    assert rows(db_url) == 0  # no instruments row either


def test_daily_csv_loaded_as_minute_bars_is_refused_suggesting_1d(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bars_csv(env / "daily.csv", daily("2024-01-01", 30))
    line = one_line(*run(capsys, "ingest", "-s", "X", "-r", "1m", "--csv", str(path)))
    assert "daily.csv holds bars 1 day(s) apart, coarser than the requested 1m" in line
    assert line.endswith("load it with -r 1d")
    assert rows(f"sqlite:///{env / 'data' / 'algotrader.db'}") == 0


def test_a_duration_reaching_before_1678_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line(*run(capsys, "ingest", "-s", "X", "-d", "350 Y", "--source", "synthetic"))
    assert "duration '350 Y' reaches back before 1678-01-01" in line


@pytest.mark.parametrize("flag", ["--start", "--end"])
def test_a_window_edge_outside_the_supported_dates_is_one_line(
    flag: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line(*run(capsys, "ingest", "-s", "X", flag, "1500-01-01", "--source",
                         "synthetic"))  # fmt: skip
    assert f"{flag} 1500-01-01 is outside the dates algotrader supports" in line


# -------------------------------------------------------------------------------- database


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql://u:s3cret@127.0.0.1:abc/x", "invalid database URL 'postgresql://***' "
                                                  "(the port is not a number)"),
        ("postgresql+asyncpg://u:s3cret@127.0.0.1/x", "unsupported database URL"),
        ("mysql://u:s3cret@127.0.0.1/x", "stores its data in SQLite or in PostgreSQL"),
        ("sqlite:///", "is an in-memory SQLite database"),
        ("sqlite://", "is an in-memory SQLite database"),
        ("sqlite:///:memory:", "is an in-memory SQLite database"),
    ],
)  # fmt: skip
def test_database_urls_that_cannot_hold_data_are_one_line_without_the_password(
    url: str, named: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line(*run(capsys, "--database-url", url, "db", "check"))
    assert named in line and "s3cret" not in line


def test_an_in_memory_database_from_the_environment_is_refused(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALGOTRADER_DATABASE_URL", "sqlite:///")
    line = one_line(*run(capsys, "ingest", "-s", "X", "-d", "1 M", "--source", "synthetic"))
    assert "in-memory SQLite database, which loses everything" in line


def test_a_data_dir_that_cannot_be_created_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "a_file").write_text("not a folder", encoding="utf-8")
    line = one_line(*run(capsys, "--data-dir", str(env / "a_file" / "data"), "db", "check"))
    assert "cannot create the folder" in line and "a_file" in line
    assert "--data-dir or ALGOTRADER_DATA_DIR" in line


def test_a_missing_postgresql_database_says_how_to_create_it(
    pg_server_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = make_url(pg_server_url).set(password="s3cret", database="algotrader_no_such_db")
    line = one_line(*run(capsys, "--database-url", url.render_as_string(hide_password=False),
                         "db", "check"))  # fmt: skip
    assert 'database "algotrader_no_such_db" does not exist' in line
    assert "createdb algotrader_no_such_db" in line and "s3cret" not in line


# --------------------------------------------------------------------------------- logging


def test_an_unknown_log_level_suggests_the_closest(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line(*run(capsys, "--log-level", "DEBG", "db", "check"))
    assert "unknown log level 'DEBG'; did you mean 'DEBUG'?" in line and "--log-level" in line
    line = one_line(*run(capsys, "--log-level", "BOGUS", "db", "check"))
    assert "unknown log level 'BOGUS'" in line


def test_an_unwritable_log_dir_costs_one_warning_and_the_command_carries_on(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "a_file").write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("ALGOTRADER_LOG_DIR", str(env / "a_file" / "logs"))
    code, out, err = run(capsys, "ingest", "-s", "X", "-d", "1 M", "--source", "synthetic")
    assert code == 0, err
    assert "Ingestion complete." in out
    assert "Logging error" not in err and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: cannot write log files in"), err


def test_a_dotenv_that_is_not_utf8_is_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dotenv = "ALGOTRADER_IB_ACCOUNT=x\nALGOTRADER_IB_HOST=café\n"
    (env / ".env").write_bytes(dotenv.encode("cp1252"))
    line = one_line(*run(capsys, "db", "check"))
    assert ".env line 2 is not UTF-8 text (byte 0xe9)" in line


# ---------------------------------------------------------------------- events and signals

_EVENT = {"ts": "2024-01-02", "kind": "earnings", "name": "Q4", "symbol": "AAPL"}
_BAD_EVENTS = {
    "payload_list": ({**_EVENT, "payload": [1, 2]}, "'payload': expected a JSON object"),
    "symbol_33": ({**_EVENT, "symbol": "A" * 33}, "column 'symbol'"),
    "source_65": ({**_EVENT, "source": "s" * 65}, "'source': 65 characters, more than the 64"),
    "kind_65": ({**_EVENT, "kind": "k" * 65}, "'kind': 65 characters, more than the 64"),
    "name_201": ({**_EVENT, "name": "n" * 201}, "'name': 201 characters, more than the 200"),
    "nul_in_name": ({**_EVENT, "name": "a\u0000b"}, "'name': holds a control character"),
    "payload_nan": ({**_EVENT, "payload": {"eps": float("nan")}}, "'payload': holds nan"),
    "value_huge_int": ({**_EVENT, "value": 10**400}, "is not a finite number"),
    "value_bool": ({**_EVENT, "value": True}, "'value': True is not a number"),
    "ts_number": ({**_EVENT, "ts": 1_700_000_000}, "'ts': 1700000000 is not a date"),
    "ts_year_0": ({**_EVENT, "ts": "0000-01-01"}, "outside the dates algotrader supports"),
}


_EVENT_CASES = [(command, case) for command in ("events", "signals") for case in sorted(_BAD_EVENTS)
                if (command, case) != ("signals", "kind_65")]  # fmt: skip (signals have no kind)


@pytest.mark.parametrize(("command", "case"), _EVENT_CASES)
def test_event_and_signal_rows_the_database_cannot_hold_are_refused_before_writing(
    command: str, case: str, db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {**_EVENT, "name": "good row"}
    bad, named = _BAD_EVENTS[case]
    path = env / "rows.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    line = one_line(*run(capsys, "--database-url", db_url, command, "import", str(path)))
    assert "rows.jsonl line 2" in line and named in line
    assert rows(db_url) == 0


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"ts,kind,name\n2024-01-02,macro,\x00\x9f\x92\x96", "is not a text file"),
        (
            "ts,kind,name\n2024-01-02,macro,Zürich PMI\n".encode("latin-1"),
            "line 2 is not UTF-8 text (byte 0xfc)",
        ),
    ],
    ids=["binary", "latin-1"],
)
@pytest.mark.parametrize("command", ["events", "signals"])
def test_binary_or_latin1_event_files_are_one_line(
    command: str, content: bytes, named: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env / "rows.csv"
    path.write_bytes(content)
    line = one_line(*run(capsys, command, "import", str(path)))
    assert line.startswith("error: rows.csv") and named in line


def test_a_csv_payload_that_is_a_list_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env / "events.csv"
    path.write_text('ts,kind,name,payload\n2024-01-02,macro,CPI,"[1, 2]"\n', encoding="utf-8")
    line = one_line(*run(capsys, "events", "import", str(path)))
    assert "events.csv line 2, column 'payload': expected a JSON object, found list" in line


def _readme_block(marker: str) -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split(f"<!-- {marker} -->", 1)[1].split("```", 2)[1]
    return [" ".join(line.split()) for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize(("command", "marker"), [("events", "events-format"),
                                                  ("signals", "signals-format")])  # fmt: skip
def test_readme_documents_the_import_formats_exactly_as_help_does(
    command: str, marker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "import", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.replace("│", " ").split())
    documented = _readme_block(marker)
    assert len(documented) >= 7
    for line in documented:
        assert line in shown, line


# ------------------------------------------------------------------ sources, long echoes


def test_auto_fetch_with_an_unknown_source_is_refused_even_when_bars_exist(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "ingest", "-s", "SPY", "-d", "1 Y", "--source", "synthetic")
    assert code == 0, err
    line = one_line(*run(capsys, "backtest", "-s", "SPY", "-d", "6 M", "--auto-fetch",
                         "--fetch-duration", "1 Y", "--source", "syntetic"))  # fmt: skip
    assert "unknown data source 'syntetic': did you mean 'synthetic'?" in line


@pytest.mark.parametrize("command", [["ingest", "-s", "X"], ["fetch", "-s", "X"]])
def test_an_unknown_source_is_refused_before_anything_runs(
    command: list[str], env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line(*run(capsys, *command, "--source", "ibrk"))
    assert "unknown data source 'ibrk': did you mean 'ibkr'?" in line
    assert not (env / "data").exists()


LONG = "x" * 6000


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "-s", "X", "-r", LONG],
        ["ingest", "-s", "X", "-d", LONG],
        ["ingest", "-s", "X", "--start", LONG],
        ["ingest", "-s", "X", "--source", LONG],
        ["backtest", "-s", "X", "--source", LONG],
        ["backtest", "-s", "X", "--cash", LONG],
        ["--log-level", LONG, "db", "check"],
        ["--database-url", f"postgresql://{LONG}:1/x", "db", "check"],
        ["instruments", "add", "X", "--exchange", LONG],
    ],
    ids=["resolution", "duration", "start", "ingest-source", "backtest-source", "cash",
         "log-level", "database-url", "exchange"],
)  # fmt: skip
def test_a_long_flag_value_is_echoed_shortened(
    args: list[str], env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line(*run(capsys, *args))
    assert "x" * 30 in line and "x" * 80 not in line


def test_instruments_add_takes_exactly_one_symbol(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line(*run(capsys, "--database-url", db_url, "instruments", "add", "AAPL,MSFT"))
    assert "takes one symbol, got 2" in line
    line = one_line(*run(capsys, "--database-url", db_url, "instruments", "add", "AAPL",
                         "--name", "Apple\u0000Inc"))  # fmt: skip
    assert "invalid --name" in line
    assert rows(db_url) == 0


def test_no_error_line_ever_shows_the_password(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for url in ("postgresql://u:s3cret@127.0.0.1:1/x", "postgresql://u:s3cret@127.0.0.1:abc/x",
                "postgresql+asyncpg://u:s3cret@h/x", "postgres://u:s3cret@[::1/x"):  # fmt: skip
        code, out, err = run(capsys, "--database-url", url, "db", "check")
        assert code == 2 and "s3cret" not in out + err, err
        assert re.fullmatch(r"error: [^\n]+\n", err), err


_GRID = ("--grid", "fast=5,10", "--grid", "slow=30,50")


@pytest.mark.parametrize(
    "argv",
    [
        ("backtest", "-s", "SPY", "--plot"),
        ("backtest", "-s", "SPY,TLT", "--plot"),
        ("portfolio", "-s", "SPY,TLT", "--plot"),
        ("optimize", "-s", "SPY", *_GRID),  # the heatmap is always saved
        ("walkforward", "-s", "SPY", *_GRID, "--train", "2 M", "--test", "1 M"),
    ],
    ids=["backtest", "batch", "portfolio", "optimize", "walkforward"],
)
def test_a_plots_folder_that_cannot_take_the_png_is_one_line_and_stores_no_run(
    argv: tuple[str, ...], env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # checked before the run is stored: a refused --plot leaves nothing behind
    assert run(capsys, "ingest", "-s", "SPY,TLT", "-d", "6 M", "--source", "synthetic")[0] == 0
    (env / "data" / "plots").write_text("a file where the folder goes", encoding="utf-8")
    before = rows(f"sqlite:///{env / 'data' / 'algotrader.db'}")
    line = one_line(*run(capsys, *argv))
    assert "cannot write the plot" in line and "make the plots folder writable" in line
    assert rows(f"sqlite:///{env / 'data' / 'algotrader.db'}") == before


@pytest.mark.parametrize(
    "argv",
    [
        ("backtest", "-s", "SPY", "--report"),
        ("backtest", "-s", "SPY,TLT", "--report"),
        ("portfolio", "-s", "SPY,TLT", "--report"),
        ("optimize", "-s", "SPY", "--grid", "fast=5,10", "--report"),
        ("walkforward", "-s", "SPY", *_GRID, "--train", "2 M", "--test", "1 M", "--report"),
    ],
    ids=["backtest", "batch", "portfolio", "optimize", "walkforward"],
)
def test_a_reports_folder_that_cannot_take_the_html_is_one_line_and_stores_no_run(
    argv: tuple[str, ...], env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "ingest", "-s", "SPY,TLT", "-d", "6 M", "--source", "synthetic")[0] == 0
    (env / "data" / "reports").write_text("a file where the folder goes", encoding="utf-8")
    before = rows(f"sqlite:///{env / 'data' / 'algotrader.db'}")
    line = one_line(*run(capsys, *argv))
    assert "cannot write the report to" in line and "reports" in line
    assert rows(f"sqlite:///{env / 'data' / 'algotrader.db'}") == before
