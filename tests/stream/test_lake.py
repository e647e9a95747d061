"""The Parquet data lake: layout, idempotent archives, read by pandas and DuckDB without
algotrader, read back by ``ingest --source lake`` (a folder here, s3:// through s3fs too)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.cli.app import main
from algotrader.config import load_settings
from algotrader.timeframes import parse_duration, parse_resolution

from .test_consume import END, assert_same_table, table
from .test_reliability import _s3_env
from .test_reliability import s3_server as s3_server  # a fixture

READER = """
import json, sys
import duckdb, pandas as pd
lake = sys.argv[1]
frame = pd.read_parquet(lake)
con = duckdb.connect()
rows = con.execute(
    "SELECT resolution, symbol, count(*), sum(close), min(ts), max(ts), count(DISTINCT date) "
    f"FROM read_parquet('{lake}/**/*.parquet', hive_partitioning = true) "
    "GROUP BY ALL ORDER BY ALL"
).fetchall()
print(json.dumps({
    "pandas_rows": len(frame),
    "pandas_columns": sorted(frame.columns),
    "duckdb": [[r[0], r[1], r[2], r[3], str(r[4]), str(r[5]), r[6]] for r in rows],
    "imported_algotrader": any(m.startswith("algotrader") for m in sys.modules),
}))
"""


def _ingest(url: str, home: Path, symbols: tuple[str, ...] = ("AAPL", "MSFT")) -> None:
    settings = load_settings(database_url=url, data_dir=str(home), log_dir=str(home / "logs"))
    request = IngestRequest(
        symbols,
        (parse_resolution("1h"), parse_resolution("1d")),
        IngestWindow(duration=parse_duration("3 M"), end=END),
        source="synthetic",
    )
    ingest(settings, request)


def _files(lake: Path) -> dict[str, str]:
    return {
        str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(lake.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A SQLite database with synthetic AAPL and MSFT bars (1h, 1d); commands use it."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    _ingest(url, tmp_path)
    monkeypatch.setenv("ALGOTRADER_DATABASE_URL", url)
    monkeypatch.setenv("ALGOTRADER_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("ALGOTRADER_DATA_DIR", str(tmp_path))
    yield url


def test_archive_partitions_by_resolution_symbol_and_date(stored: str, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    assert main(["stream", "archive", "--to", str(lake)]) == 0
    files = list(_files(lake))
    assert "resolution=1d/symbol=AAPL/date=2024-01-01/part-0.parquet" in files  # a year a file
    assert "resolution=1h/symbol=MSFT/date=2024-06-28/part-0.parquet" in files  # a day a file
    days = {f.split("/")[2] for f in files if f.startswith("resolution=1h/symbol=AAPL/")}
    bars = table(stored)
    hourly = bars[(bars["symbol"] == "AAPL") & (bars["resolution"] == "1h")]
    assert len(days) == hourly["ts"].dt.strftime("%Y-%m-%d").nunique()
    assert not [f for f in files if ".tmp" in f]


def test_archiving_twice_rewrites_nothing(
    stored: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    assert main(["stream", "archive", "--to", str(lake)]) == 0
    before = _files(lake)
    capsys.readouterr()
    assert main(["stream", "archive", "--to", str(lake)]) == 0
    assert _files(lake) == before
    assert " 0 files written" in capsys.readouterr().out


def test_two_archives_of_parts_of_one_day_merge_into_its_file(stored: str, tmp_path: Path) -> None:
    lake, whole = tmp_path / "lake", tmp_path / "whole"
    day = ["-s", "AAPL", "-r", "1h"]
    assert main(["stream", "archive", "--to", str(lake), *day, "--end", "2024-06-27T16:00"]) == 0
    assert main(["stream", "archive", "--to", str(lake), *day, "--start", "2024-06-27T16:00"]) == 0
    assert main(["stream", "archive", "--to", str(whole), *day]) == 0
    assert _files(lake) == _files(whole)


def test_pandas_and_duckdb_read_the_lake_without_algotrader(stored: str, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    assert main(["stream", "archive", "--to", str(lake)]) == 0
    done = subprocess.run([sys.executable, "-c", READER, str(lake)], capture_output=True,
                          text=True, check=True, timeout=300)  # fmt: skip
    seen = json.loads(done.stdout)
    assert not seen["imported_algotrader"]
    bars = table(stored)
    assert seen["pandas_rows"] == len(bars)
    assert {"ts", "open", "close", "volume", "source", "resolution", "symbol", "date"} <= set(
        seen["pandas_columns"]
    )
    expected = bars.groupby(["resolution", "symbol"]).agg(n=("close", "size"), s=("close", "sum"))
    for resolution, symbol, n, total, _first, _last, _dates in seen["duckdb"]:
        assert n == expected.loc[(resolution, symbol), "n"]
        assert total == pytest.approx(expected.loc[(resolution, symbol), "s"], rel=1e-12)


def test_ingest_from_the_lake_rebuilds_the_same_table(
    db_url: str, stored: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    assert main(["stream", "archive", "--to", str(lake)]) == 0
    back = ["ingest", "-s", "AAPL,MSFT", "-r", "1h,1d", "--lake", str(lake)]
    assert main(["--database-url", db_url, *back]) == 0
    assert "synthetic data" in capsys.readouterr().out  # made-up prices stay labelled
    assert_same_table(table(db_url), table(stored))
    # Into the database it came from: nothing changes.
    assert main(back) == 0
    assert "Inserted 0 rows into DB (" in capsys.readouterr().out


def test_an_unknown_symbol_or_a_missing_url_is_one_clear_line(
    stored: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    assert main(["stream", "archive", "--to", str(lake)]) == 0
    capsys.readouterr()
    assert main(["ingest", "-s", "AAPLE", "--lake", str(lake)]) == 2
    assert "holds no bars of AAPLE: did you mean AAPL?" in capsys.readouterr().err
    assert main(["ingest", "-s", "AAPL", "--source", "lake"]) == 2
    assert "pass --lake URL" in capsys.readouterr().err
    assert main(["stream", "archive", "--to", str(lake), "-s", "MSFTT"]) == 2
    assert "did you mean MSFT?" in capsys.readouterr().err


def test_an_s3_lake_round_trips(
    stored: str,
    tmp_path: Path,
    s3_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    for key, value in _s3_env(s3_server).items():
        monkeypatch.setenv(key, value)
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket="lake")
    assert main(["stream", "archive", "--to", "s3://lake/prices", "-s", "AAPL"]) == 0
    url = f"sqlite:///{tmp_path / 'back.db'}"
    command = ["ingest", "-s", "AAPL", "-r", "1h,1d", "--lake", "s3://lake/prices"]
    assert main(["--database-url", url, *command]) == 0
    source = table(stored)
    assert_same_table(table(url), source[source["symbol"] == "AAPL"].reset_index(drop=True))
