from __future__ import annotations

from pathlib import Path

import pytest

from algotrader.cli.app import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _ingest(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        capsys, "ingest", "-s", "AAPL,MSFT", "-r", "1d", "-d", "5 Y", "--source", "synthetic"
    )
    assert code == 0, err


def test_train_predict_report_list_and_backtest_from_the_command_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ingest(capsys)
    code, out, err = _run(
        capsys,
        "ml",
        "train",
        "-s",
        "AAPL,MSFT",
        "-r",
        "1d",
        "--model",
        "lightgbm",
        "--target",
        "fwd_return",
        "--horizon",
        "5",
        "--train",
        "3 Y",
        "--retrain-every",
        "6 M",
        "--param",
        "n_estimators=30",
    )
    assert code == 0, err
    assert "Trained lightgbm_v1 (id 1): lightgbm on AAPL, MSFT @ 1d" in out
    assert "Out-of-sample: IC " in out and "rank IC" in out
    artefact = Path(out.split("Artefact: ")[1].split("\n")[0])
    assert artefact.is_file() and artefact.parent == Path("data/models")

    code, out, _ = _run(capsys, "ml", "predict", "lightgbm_v1", "-s", "AAPL,MSFT")
    rows = int(out.split(": ")[1].split(" rows")[0])
    assert code == 0 and f"inserted {rows}, updated 0, unchanged 0." in out
    code, out, _ = _run(capsys, "ml", "predict", "lightgbm")
    assert code == 0 and f"inserted 0, updated 0, unchanged {rows}." in out

    code, out, _ = _run(capsys, "ml", "report", "lightgbm_v1", "-s", "AAPL")
    assert code == 0
    for part in (
        "Out-of-sample by period",
        "Calibration",
        "Feature importance (native)",
        "ml_signal on AAPL",
        "buy & hold",
    ):
        assert part in out
    code, out, _ = _run(capsys, "ml", "list")
    assert code == 0 and "lightgbm_v1" in out
    code, out, _ = _run(
        capsys,
        "ml",
        "backtest",
        "-s",
        "AAPL",
        "--strategy",
        "ml_signal",
        "--param",
        "signal=lightgbm_v1",
    )
    assert code == 0 and "Backtest complete for AAPL @ 1d" in out
    code, out, _ = _run(capsys, "ml", "check", "-s", "MSFT")
    assert code == 0 and "No look-ahead: 26 features" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ml", "train", "-s", "AAPL", "--model", "lgbmm"), "unknown model 'lgbmm'"),
        (("ml", "train", "-s", "AAPL", "--features", "ret_1,ret_7"), "unknown feature 'ret_7'"),
        (("ml", "train", "-s", "AAPL", "--train", "30 Y"), "too little data"),
        (("ml", "train", "-s", "AAPL", "--target", "return"), "unknown target 'return'"),
        (("ml", "train", "-s", "NOPE"), "no 1d bars of NOPE in the database"),
        (("ml", "predict", "nothing_v1"), "no model 'nothing_v1' in the registry"),
        (("ml", "train", "-s", "AAPL", "--name", "Bad Name"), "invalid model name"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    if "NOPE" not in args:
        code, _, _ = _run(
            capsys, "ingest", "-s", "AAPL", "-r", "1d", "-d", "1 Y", "--source", "synthetic"
        )
    code, out, err = _run(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
