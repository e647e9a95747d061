"""The ingest-side commands as users type them: ``ingest``, ``db check``, ``events import``,
``signals import``, ``instruments``, ``demo`` and the seed's ``python -m scripts.*`` shims.

Most runs are in-process (``main([...])`` returns the exit code); a few go through the real
console script or ``python -m`` in a subprocess to prove the entry points behave the same.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from algotrader.calendars import exchange_sessions
from algotrader.cli.app import main
from algotrader.db.engine import open_database
from algotrader.db.store import SqlBarStore

ROOT = Path(__file__).resolve().parents[2]
ALGOTRADER = str(Path(sys.executable).with_name("algotrader"))
SYNTHETIC = "synthetic data (not market prices)"
UNREACHABLE = "postgresql+psycopg://u:secret@127.0.0.1:1/x"


@pytest.fixture
def env(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory whose data and logs stay in it."""
    monkeypatch.setenv("ALGOTRADER_DATA_DIR", str(workdir / "data"))
    monkeypatch.setenv("ALGOTRADER_LOG_DIR", str(workdir / "logs"))
    return workdir


def _run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    code = main(["--database-url", url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def _subprocess_env(tmp: Path, url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    env.update(ALGOTRADER_DATA_DIR=str(tmp / "data"), ALGOTRADER_LOG_DIR=str(tmp / "logs"))
    if url is not None:
        env["ALGOTRADER_DATABASE_URL"] = url
    return env


def _scalar(url: str, query: str) -> object:
    db = open_database(url)
    try:
        with db.engine.connect() as conn:
            return conn.execute(text(query)).scalar_one()
    finally:
        db.dispose()


def _count(url: str, table: str, where: str = "") -> int:
    return int(_scalar(url, f"SELECT count(*) FROM {table} {where}"))  # type: ignore[arg-type]


def _assert_one_error_line(code: int, out: str, err: str) -> None:
    assert code == 2
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err


def _ingest(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> list[str]:
    code, out, err = _run(capsys, url, "ingest", *args, "--source", "synthetic")
    assert code == 0, err
    return out.splitlines()


# ------------------------------------------------------------------------------ bad input

_HEADER = "date,open,high,low,close,volume"
_GOOD_ROW = "2024-01-02,10.0,11.0,9.5,10.5,1000"
_BAD_CSV = {
    "empty_file": "",
    "nan_value": f"{_HEADER}\n{_GOOD_ROW}\n2024-01-03,10,11,9.5,NaN,1000\n",
    "blank_value": f"{_HEADER}\n{_GOOD_ROW}\n2024-01-03,10,11,,10.5,1000\n",
    "negative_price": f"{_HEADER}\n{_GOOD_ROW}\n2024-01-03,-10,11,9.5,10.5,1000\n",
    "high_below_low": f"{_HEADER}\n{_GOOD_ROW}\n2024-01-03,10,9,11,10,1000\n",
    "duplicate_timestamps": f"{_HEADER}\n{_GOOD_ROW}\n{_GOOD_ROW}\n",
    "unparseable_date": f"{_HEADER}\n{_GOOD_ROW}\nsoon,10,11,9.5,10.5,1000\n",
    "unknown_layout": "when,first,top,bottom,last_trade\n2024-01-02,10,11,9.5,10.5\n",
}


@pytest.mark.parametrize("case", sorted(_BAD_CSV))
def test_malformed_csv_is_one_error_line_and_writes_nothing(
    case: str, db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env / f"{case}.csv"
    path.write_text(_BAD_CSV[case], encoding="utf-8")
    code, out, err = _run(
        capsys,
        db_url,
        "ingest",
        "-s",
        "AAPL",
        "-r",
        "1d",
        "-d",
        "5 Y",
        "--source",
        "csv",
        "--csv",
        str(path),
    )
    _assert_one_error_line(code, out, err)
    assert path.name in err
    assert (_count(db_url, "market_prices"), _count(db_url, "instruments")) == (0, 0)


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [("-r", "7x", "unknown resolution '7x'"), ("-d", "5 Years", "invalid duration '5 Years'")],
)
def test_bad_resolution_or_duration_is_one_error_line_and_writes_nothing(
    flag: str,
    value: str,
    named: str,
    db_url: str,
    env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = {"-r": "1d", "-d": "1 Y", flag: value}
    code, out, err = _run(
        capsys,
        db_url,
        "ingest",
        "-s",
        "AAPL",
        "-r",
        args["-r"],
        "-d",
        args["-d"],
        "--source",
        "synthetic",
    )
    _assert_one_error_line(code, out, err)
    assert named in err
    assert (_count(db_url, "market_prices"), _count(db_url, "instruments")) == (0, 0)


def test_unreachable_database_is_one_error_line_without_the_password(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, UNREACHABLE, "ingest", "-s", "AAPL", "--source", "synthetic")
    _assert_one_error_line(code, out, err)
    assert "cannot reach the database" in err and "127.0.0.1:1" in err
    assert "secret" not in out + err


def test_console_script_refuses_a_bad_resolution_with_exit_code_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    done = subprocess.run(
        [ALGOTRADER, "--database-url", url, "ingest", "-s", "AAPL", "-r", "7x"],
        env=_subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    _assert_one_error_line(done.returncode, done.stdout, done.stderr)
    assert "7x" in done.stderr


def test_console_script_names_an_unreachable_database_without_its_password(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [
            ALGOTRADER,
            "--database-url",
            UNREACHABLE,
            "ingest",
            "-s",
            "AAPL",
            "-d",
            "1 Y",
            "--source",
            "synthetic",
        ],
        env=_subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    _assert_one_error_line(done.returncode, done.stdout, done.stderr)
    assert "secret" not in done.stdout + done.stderr
    assert "***" in done.stderr


# --------------------------------------------------------------------------------- ingest


def test_ingest_prints_the_seed_lines(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _ingest(capsys, db_url, "-s", "AAPL", "-r", "1d", "-d", "5 Y")
    n = _count(db_url, "market_prices", "WHERE symbol='AAPL' AND resolution='1d'")
    assert n > 1200
    assert lines == [
        "Running ingest pipeline: AAPL / 1d / duration=5 Y",
        f"Fetched {n} rows from {SYNTHETIC} for AAPL.",
        f"Inserted {n} rows into DB.",
        f"Computed indicators for AAPL @ 1d: {n} rows updated.",
        "Ingestion complete.",
    ]


def test_rerun_inserts_nothing_and_says_how_many_were_unchanged(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ingest(capsys, db_url, "-s", "AAPL", "-r", "1d", "-d", "5 Y")
    lines = _ingest(capsys, db_url, "-s", "AAPL", "-r", "1d", "-d", "5 Y")
    n = _count(db_url, "market_prices")
    assert lines[1:] == [
        f"Fetched {n} rows from {SYNTHETIC} for AAPL.",
        f"Inserted 0 rows into DB ({n} unchanged).",
        "Computed indicators for AAPL @ 1d: 0 rows updated (nothing changed).",
        "Ingestion complete.",
    ]


def test_several_symbols_are_ingested_in_order(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _ingest(capsys, db_url, "-s", "AAPL,MSFT,SPY", "-r", "1d", "-d", "1 Y")
    running = [line for line in lines if line.startswith("Running ingest pipeline")]
    assert running == [
        f"Running ingest pipeline: {s} / 1d / duration=1 Y" for s in ("AAPL", "MSFT", "SPY")
    ]
    assert lines[-1] == "Ingestion complete." and lines.count("Ingestion complete.") == 1
    for symbol in ("AAPL", "MSFT", "SPY"):
        n = _count(db_url, "market_prices", f"WHERE symbol='{symbol}'")
        assert f"Fetched {n} rows from {SYNTHETIC} for {symbol}." in lines
        assert f"Inserted {n} rows into DB." in lines
    assert _count(db_url, "instruments") == 3


def test_several_resolutions_are_stored_side_by_side(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resolutions = ["1m", "5m", "15m", "30m", "1h", "1d", "1w"]
    lines = _ingest(capsys, db_url, "-s", "AAPL", "-r", ",".join(resolutions), "-d", "30 D")
    counts = []
    for res in resolutions:
        n = _count(db_url, "market_prices", f"WHERE symbol='AAPL' AND resolution='{res}'")
        assert f"Running ingest pipeline: AAPL / {res} / duration=30 D" in lines
        assert f"Computed indicators for AAPL @ {res}: {n} rows updated." in lines
        counts.append(n)
    assert counts == sorted(counts, reverse=True) and counts[-1] >= 1
    # Every whole session has its regular minutes as one-minute bars (390, fewer on an early
    # close); today's session may still be running.
    db = open_database(db_url)
    try:
        days = SqlBarStore(db).load_bars("AAPL", "1d").index.tz_convert(None).to_numpy()
    finally:
        db.dispose()
    minutes = int(exchange_sessions().minutes_of(days.astype("datetime64[D]")).sum())
    assert minutes <= counts[0] < minutes + 390


def test_incremental_run_fetches_only_the_tail(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ingest(capsys, db_url, "-s", "AAPL", "-r", "1h", "-d", "30 D")
    before = _count(db_url, "market_prices")
    lines = _ingest(capsys, db_url, "-s", "AAPL", "-r", "1h", "--incremental")
    assert lines[0] == "Running ingest pipeline: AAPL / 1h / incremental"
    fetched = int(re.fullmatch(r"Fetched (\d+) rows from .* for AAPL\.", lines[1]).group(1))
    inserted = int(re.match(r"Inserted (\d+) rows", lines[2]).group(1))
    assert 1 <= fetched <= 2  # the last stored bar again, and at most one finished since
    assert _count(db_url, "market_prices") == before + inserted


# ------------------------------------------------------------------------------- db check


def test_db_check_prints_backend_version_tables_and_counts(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ingest(capsys, db_url, "-s", "AAPL", "-r", "1d", "-d", "1 Y")
    n = _count(db_url, "market_prices")
    url = db_url
    if url.startswith("postgresql"):
        url = make_url(db_url).set(password="s3cret").render_as_string(hide_password=False)
    code, out, err = _run(capsys, url, "db", "check")
    assert code == 0, err
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    assert re.search(rf"^Backend: {backend.lower()} \({backend} \d+(\.\d+)+", out, re.M), out
    assert re.search(rf"^\s+market_prices\s+{n:,}$", out, re.M), out
    assert re.search(r"^\s+instruments\s+1$", out, re.M), out
    assert "Database connection OK." in out
    assert "s3cret" not in out + err
    if url.startswith("postgresql"):
        assert "postgres:***@" in out


def test_db_check_script_runs_from_the_repo_root(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'check.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "scripts.test_db_connection"],
        cwd=ROOT,
        env=_subprocess_env(tmp_path, url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Backend: sqlite" in done.stdout and "Database connection OK." in done.stdout


def test_ingest_script_runs_from_the_repo_root(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ingest.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.ingest",
            "-s",
            "AAPL",
            "-r",
            "1d",
            "-d",
            "5 Y",
            "--source",
            "synthetic",
        ],
        cwd=ROOT,
        env=_subprocess_env(tmp_path, url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    n = _count(url, "market_prices")
    assert done.stdout.splitlines()[0] == "Running ingest pipeline: AAPL / 1d / duration=5 Y"
    assert f"Inserted {n} rows into DB." in done.stdout and n > 1200


# ------------------------------------------------------------------------ events, signals

_EVENTS_CSV = (
    "ts,kind,name,symbol,value,payload\n"
    '2024-01-02T14:30:00Z,earnings,Q4 results,AAPL,1.5,"{""eps"": 2.18}"\n'
    "2024-01-31,macro,FOMC,,,\n"
)
_EVENTS_JSONL = (
    json.dumps(
        {
            "ts": "2024-01-02T14:30:00Z",
            "kind": "earnings",
            "name": "Q4 results",
            "symbol": "AAPL",
            "value": 1.5,
            "payload": {"eps": 2.18},
        }
    )
    + "\n"
    + json.dumps({"ts": "2024-01-31", "kind": "macro", "name": "FOMC"})
    + "\n"
)
_SIGNALS_CSV = (
    "ts,symbol,name,value,source\n"
    "2024-01-02,AAPL,sentiment,0.4,model_a\n"
    "2024-01-03,AAPL,sentiment,-0.1,model_a\n"
)
_SIGNALS_JSONL = "".join(
    json.dumps(row) + "\n"
    for row in (
        {"ts": "2024-01-02", "symbol": "AAPL", "name": "sentiment", "value": 0.4},
        {"ts": "2024-01-03", "symbol": "AAPL", "name": "sentiment", "value": -0.1},
    )
)


@pytest.mark.parametrize(("suffix", "content"), [("csv", _EVENTS_CSV), ("jsonl", _EVENTS_JSONL)])
def test_events_import_is_idempotent(
    suffix: str, content: str, db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env / f"events.{suffix}"
    path.write_text(content, encoding="utf-8")
    code, out, err = _run(capsys, db_url, "events", "import", str(path))
    assert code == 0, err
    assert out.splitlines() == [
        "market_events: inserted 1, updated 0, unchanged 0.",
        "symbol_events: inserted 1, updated 0, unchanged 0.",
    ]
    code, out, err = _run(capsys, db_url, "events", "import", str(path))
    assert code == 0, err
    assert out.splitlines() == [
        "market_events: inserted 0, updated 0, unchanged 1.",
        "symbol_events: inserted 0, updated 0, unchanged 1.",
    ]
    assert (_count(db_url, "market_events"), _count(db_url, "symbol_events")) == (1, 1)


@pytest.mark.parametrize(("suffix", "content"), [("csv", _SIGNALS_CSV), ("jsonl", _SIGNALS_JSONL)])
def test_signals_import_is_idempotent(
    suffix: str, content: str, db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env / f"signals.{suffix}"
    path.write_text(content, encoding="utf-8")
    code, out, err = _run(capsys, db_url, "signals", "import", str(path))
    assert (code, out.strip()) == (0, "external_signals: inserted 2, updated 0, unchanged 0."), err
    code, out, err = _run(capsys, db_url, "signals", "import", str(path))
    assert (code, out.strip()) == (0, "external_signals: inserted 0, updated 0, unchanged 2."), err
    assert _count(db_url, "external_signals") == 2


@pytest.mark.parametrize(
    ("command", "suffix", "content", "line"),
    [
        ("events", "csv", _EVENTS_CSV + "2024-02-01,macro,CPI,,not-a-number,\n", 4),
        ("events", "jsonl", _EVENTS_JSONL + '{"ts": "2024-02-01", "kind": "macro"}\n', 3),
        ("signals", "csv", _SIGNALS_CSV.replace("2024-01-03,AAPL", "2024-01-03,"), 3),
        (
            "signals",
            "jsonl",
            _SIGNALS_JSONL + '{"ts": "yesterday-ish", "symbol": "AAPL", "name": "x"}\n',
            3,
        ),
    ],
    ids=["events-csv", "events-jsonl", "signals-csv", "signals-jsonl"],
)
def test_import_with_a_bad_row_names_its_line_and_writes_nothing(
    command: str,
    suffix: str,
    content: str,
    line: int,
    db_url: str,
    env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = env / f"{command}.{suffix}"
    path.write_text(content, encoding="utf-8")
    code, out, err = _run(capsys, db_url, command, "import", str(path))
    _assert_one_error_line(code, out, err)
    assert f"{path.name} line {line}" in err
    for table in ("market_events", "symbol_events", "external_signals"):
        assert _count(db_url, table) == 0


# ---------------------------------------------------------------------------- instruments


def test_instruments_add_is_idempotent_and_list_shows_it(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, db_url, "instruments", "add", "AAPL", "--name", "Apple")
    assert (code, out.strip()) == (0, "Added instrument AAPL.")
    code, out, _ = _run(capsys, db_url, "instruments", "add", "AAPL", "--name", "Apple")
    assert (code, out.strip()) == (0, "Instrument AAPL already exists.")
    code, out, _ = _run(capsys, db_url, "instruments", "list")
    assert code == 0
    assert re.search(r"AAPL\W+Apple\W+STK\W+SMART\W+USD", out), out
    assert _count(db_url, "instruments") == 1


def test_instruments_list_shows_stored_bars_per_resolution(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ingest(capsys, db_url, "-s", "MSFT", "-r", "1d", "-d", "1 Y")
    n = _count(db_url, "market_prices")
    code, out, _ = _run(capsys, db_url, "instruments", "list")
    assert code == 0 and f"1d:{n}" in out and "MSFT" in out


def test_instruments_list_of_an_empty_database_says_what_to_do(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, f"sqlite:///{env / 'empty.db'}", "instruments", "list")
    assert code == 0 and "algotrader ingest -s AAPL" in out


def test_add_instrument_script_takes_the_seed_flags(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'instruments.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "scripts.add_instrument", "--symbol", "AAPL", "--name", "Apple"],
        cwd=ROOT,
        env=_subprocess_env(tmp_path, url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Added instrument AAPL."
    assert _scalar(url, "SELECT name FROM instruments WHERE symbol='AAPL'") == "Apple"


# ----------------------------------------------------------------------------------- demo


def test_demo_finishes_and_saves_a_png(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, f"sqlite:///{env / 'demo.db'}", "demo")
    assert code == 0, err
    plots = [
        line.split("Saved plot: ", 1)[1].split(" (", 1)[0]
        for line in out.splitlines()
        if line.startswith("Saved plot: ")
    ]
    assert plots
    for plot in plots:
        path = Path(plot) if Path(plot).is_absolute() else env / plot
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -------------------------------------------------------------------- whole files, data labels


def _old_daily_csv(path: Path, start: str = "1986-03-13", days: int = 400) -> Path:
    dates = pd.bdate_range(start, periods=days)
    close = 10 + np.arange(days) * 0.01
    rows = [f"{d:%Y-%m-%d},{c:.2f},{c + 0.5:.2f},{c - 0.5:.2f},{c + 0.1:.2f},1000"
            for d, c in zip(dates, close, strict=True)]  # fmt: skip
    path.write_text(_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_csv_file_is_stored_whole_unless_a_window_is_given(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _old_daily_csv(env / "msft_1986.csv")
    code, out, err = _run(capsys, db_url, "ingest", "-s", "MSFT", "--csv", str(path))
    assert code == 0, err
    assert "Fetched 400 rows from CSV file msft_1986.csv for MSFT." in out
    assert _count(db_url, "market_prices") == 400
    code, out, err = _run(
        capsys, db_url, "ingest", "-s", "XYZ", "--csv", str(path), "--start", "1986-06-01"
    )
    assert code == 0, err
    assert 0 < _count(db_url, "market_prices", "WHERE symbol = 'XYZ'") < 400


def test_synthetic_bars_never_overwrite_market_data_unless_asked(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _old_daily_csv(env / "prices.csv", start="2024-01-02", days=100)
    assert _run(capsys, db_url, "ingest", "-s", "ACME", "--csv", str(path))[0] == 0
    code, out, err = _run(
        capsys, db_url, "ingest", "-s", "ACME", "-d", "1 Y", "--source", "synthetic"
    )
    _assert_one_error_line(code, out, err)
    assert "holds market data from csv" in err and "--replace-real-data" in err
    assert _count(db_url, "market_prices", "WHERE source = 'synthetic'") == 0
    code, _, err = _run(capsys, db_url, "ingest", "-s", "ACME", "-d", "1 Y", "--source",
                        "synthetic", "--replace-real-data")  # fmt: skip
    assert code == 0, err
    assert _count(db_url, "market_prices", "WHERE source = 'synthetic'") > 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["-s", "ß"], "invalid symbol 'ß'"),
        (["-s", "AAPL", "-r", ""], "no resolution given"),
        (["-s", "AAPL", "--csv", "x.csv", "--source", "synthetic"], "--csv reads a file"),
        (["-s", "A" * 6000], "invalid symbol 'AAAAAAAAA"),
    ],
)
def test_input_that_cannot_mean_anything_is_refused_in_one_short_line(
    args: list[str], named: str, db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, db_url, "ingest", *args)
    _assert_one_error_line(code, out, err)
    assert named in err and len(err) < 300
    assert _count(db_url, "instruments") == 0


def test_fetch_exports_only_the_duration_and_says_where(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ingest(capsys, db_url, "-s", "SPY", "-d", "3 Y")
    code, out, err = _run(capsys, db_url, "fetch", "-s", "SPY", "-d", "1 Y", "--source",
                          "synthetic")  # fmt: skip
    assert code == 0, err
    saved = next(line for line in out.splitlines() if line.startswith("Saved data: "))
    path = Path(saved.split("Saved data: ")[1].split(" (")[0])
    document = json.loads(path.read_text(encoding="utf-8"))
    assert 240 <= len(document["bars"]) <= 260 and document["synthetic"] is True
    assert f"({len(document['bars'])} bars)" in saved
