"""``algotrader report RUN_ID``: one HTML file from a stored run, or one clear error line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from algotrader.cli.app import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _stored_run(capsys: pytest.CaptureFixture[str], db_url: str, symbol: str = "SPY") -> int:
    code, out, _ = _run(capsys, "--database-url", db_url, "backtest", "-s", symbol, "-r", "1d",
                        "--strategy", "macd", "--auto-fetch", "--fetch-duration", "1 Y",
                        "--source", "synthetic")
    assert code == 0, out
    match = re.search(r"Run id: (\d+)", out)
    assert match is not None
    return int(match.group(1))


def test_report_of_a_stored_run_is_written_to_the_given_file(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _stored_run(capsys, db_url)
    _stored_run(capsys, db_url, "QQQ")
    code, out, err = _run(capsys, "--database-url", db_url, "report", str(run_id), "-o",
                          "out/spy.html", "--benchmark", "QQQ")
    assert (code, err) == (0, "")
    assert out.startswith("Saved report: out/spy.html (") and out.rstrip().endswith("MB)")
    html = (workdir / "out" / "spy.html").read_text(encoding="utf-8")
    assert f"run {run_id}," in html and "SPY @ 1d: macd" in html and "QQQ" in html


def test_the_default_path_is_under_the_data_folder(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _stored_run(capsys, db_url)
    code, out, _ = _run(capsys, "--database-url", db_url, "report", str(run_id))
    assert "run_" in out
    assert code == 0
    assert (workdir / "data" / "reports" / f"run_{run_id}_SPY_1d.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "4242"), "error: no backtest run with id 4242: see the runs page"),
        (("report", "0"), "error: Invalid value for 'RUN_ID'"),
        (("report", "x1"), "error: Invalid value for 'RUN_ID'"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
    message: str,
) -> None:
    code, out, err = _run(capsys, "--database-url", db_url, *args)
    assert (code, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1


def test_a_missing_benchmark_says_how_to_ingest_it(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _stored_run(capsys, db_url)
    code, _, err = _run(capsys, "--database-url", db_url, "report", str(run_id), "-b", "IWM")
    assert code == 2 and "algotrader ingest -s IWM -r 1d" in err
    assert not (workdir / "data" / "reports").exists()


def test_backtest_report_writes_what_report_run_id_writes(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "--database-url", db_url, "backtest", "-s", "SPY", "--strategy",
                        "rsi", "--auto-fetch", "--fetch-duration", "1 Y", "--source",
                        "synthetic", "--report")
    match = re.search(r"Run id: (\d+)", out)
    assert code == 0 and match is not None
    run_id = int(match.group(1))
    path = workdir / "data" / "reports" / f"run_{run_id}_SPY_1d.html"
    assert f"Saved report: data/reports/run_{run_id}_SPY_1d.html (" in out
    from_memory = path.read_text(encoding="utf-8")
    code, _, _ = _run(capsys, "--database-url", db_url, "report", str(run_id), "-o", "again.html")
    assert code == 0
    assert (workdir / "again.html").read_text(encoding="utf-8") == from_memory


def test_portfolio_report_path_is_in_the_json(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "--database-url", db_url, "portfolio", "-s", "SPY,QQQ",
                        "--auto-fetch", "--fetch-duration", "1 Y", "--source", "synthetic",
                        "--report", "--json")
    document = json.loads(out)
    assert code == 0
    assert document["report"] == f"data/reports/run_{document['run_id']}_portfolio_1d.html"
    html = (workdir / document["report"]).read_text(encoding="utf-8")
    assert "Portfolio of 2 symbols @ 1d: equal" in html and "Contribution per symbol" in html


def test_optimize_report_then_the_studys_report_from_the_store(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "--database-url", db_url, "optimize", "-s", "SPY", "--grid",
                        "fast=5,10,20", "--grid", "slow=30,50", "--auto-fetch", "--source",
                        "synthetic", "--report")
    match = re.search(r"Study (\d+):", out)
    assert code == 0 and match is not None
    study_id = int(match.group(1))
    assert f"Saved report: data/reports/study_{study_id}_ma_cross.html (" in out
    code, out, _ = _run(capsys, "--database-url", db_url, "report", "--study", str(study_id),
                        "-o", "study.html")
    assert (code, out.split(" (")[0]) == (0, "Saved report: study.html")
    html = (workdir / "study.html").read_text(encoding="utf-8")
    assert f"Study {study_id}: ma_cross on SPY @ 1d" in html and "Points, best first" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report",), "error: give a RUN_ID or --study STUDY_ID: "),
        (("report", "3", "--study", "3"), "error: give a RUN_ID or --study STUDY_ID, not both"),
        (("report", "--study", "4242"), "error: no study with id 4242: see `algotrader studies"),
    ],
)
def test_a_run_or_a_study_is_needed(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
    message: str,
) -> None:
    code, out, err = _run(capsys, "--database-url", db_url, *args)
    assert (code, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1
