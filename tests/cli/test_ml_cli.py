"""``algotrader ml`` end to end, and forecasts traded by ``algotrader backtest`` like any input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from algotrader.app._stores import open_stores
from algotrader.cli.app import main
from algotrader.config import load_settings
from algotrader.ports.stores import SignalRow


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _train_and_predict(capsys: pytest.CaptureFixture[str], *root: str) -> None:
    code, _, err = _run(
        capsys, *root, "ingest", "-s", "AAPL,MSFT", "-r", "1d", "-d", "5 Y", "--source", "synthetic"
    )
    assert code == 0, err
    code, out, err = _run(
        capsys, *root, "ml", "train", "-s", "AAPL,MSFT", "--model", "ridge", "--train", "3 Y",
        "--retrain-every", "1 Y",
    )  # fmt: skip
    assert code == 0, err
    assert "Trained ridge_v1 (id " in out and "Out-of-sample: IC " in out
    artefact = Path(out.split("Artefact: ")[1].split("\n")[0])
    assert artefact.is_file() and artefact.parent.name == "models"
    code, out, err = _run(capsys, *root, "ml", "predict", "ridge_v1")
    assert code == 0, err
    rows = int(out.split(": ")[1].split(" rows")[0])
    assert f"inserted {rows}, updated 0, unchanged 0." in out
    assert "algotrader backtest -s AAPL -r 1d --strategy ml_signal --param signal=ridge_v1" in out
    code, out, _ = _run(capsys, *root, "ml", "predict", "ridge")
    assert code == 0 and f"inserted 0, updated 0, unchanged {rows}." in out


def _expected_trades(index: pd.DatetimeIndex, forecasts: pd.DataFrame) -> list[tuple[str, str]]:
    """ml_signal's rule worked out by hand: a bar uses the latest forecast stamped at or before
    it; BUY when flat and > 0, SELL when long and < 0; filled at the next bar's open."""
    latest = pd.Series(forecasts["value"].to_numpy(), index=pd.DatetimeIndex(forecasts["ts"]))
    values = latest.reindex(index, method="ffill").to_numpy()
    trades, entry = [], None
    for t in range(len(index) - 1):
        if entry is None and values[t] > 0:
            entry = index[t + 1]
        elif entry is not None and values[t] < 0:
            trades.append((entry.isoformat(), index[t + 1].isoformat()))
            entry = None
    if entry is not None:
        trades.append((entry.isoformat(), "open"))
    return trades


def test_backtest_trades_stored_forecasts_stores_the_run_and_reruns_it_bit_for_bit(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = ("--database-url", db_url, "--data-dir", str(workdir / "data"))
    _train_and_predict(capsys, *root)
    code, out, err = _run(
        capsys, *root, "backtest", "-s", "AAPL", "--strategy", "ml_signal", "--param",
        "signal=ridge_v1", "--json",
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    settings = load_settings(database_url=db_url)
    with open_stores(settings) as stores:
        index = stores.bars.load_bars("AAPL", "1d").index
        forecasts = stores.events.signals("AAPL", ["ridge_v1"])
    # An open trade is marked to the last close: its exit_time is the last bar, "open" says so.
    traded = [
        (pd.Timestamp(t["entry_time"]).isoformat(),
         "open" if t["open"] else pd.Timestamp(t["exit_time"]).isoformat())
        for t in document["trades"]
    ]  # fmt: skip
    assert len(traded) > 5 and traded == _expected_trades(index, forecasts)

    run_id = str(document["run_id"])
    code, out, _ = _run(capsys, *root, "runs", "show", run_id)
    assert code == 0 and "strategy ml_signal signal=ridge_v1" in out
    code, out, err = _run(capsys, *root, "runs", "rerun", run_id)
    assert code == 0, err
    assert f"Run {run_id} reproduced" in out and "Warning" not in out

    # Other forecasts for the same bars: the rerun sees that its inputs changed.
    with open_stores(settings) as stores:
        rows = stores.events.signals("AAPL", ["ridge_v1"])
        flipped = [
            SignalRow("AAPL", ts.to_pydatetime(), "ridge_v1", name, -value)
            for ts, name, value in zip(rows["ts"], rows["name"], rows["value"], strict=True)
        ]
        assert stores.events.upsert_signals(flipped).updated == len(flipped)
    code, out, err = _run(capsys, *root, "runs", "rerun", run_id)
    assert code == 2 and "changed since it ran (fingerprint differs)" in out
    assert "the data changed" in err


def test_report_list_features_and_check_print_what_they_found(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _train_and_predict(capsys)
    code, out, _ = _run(capsys, "ml", "report", "ridge_v1", "-s", "AAPL")
    assert code == 0
    for part in (
        "Out-of-sample by period",
        "Calibration",
        "Feature importance (",
        "ml_signal on AAPL",
        "buy & hold",
    ):
        assert part in out
    code, out, _ = _run(capsys, "ml", "report", "ridge", "--json")
    document = json.loads(out)
    assert code == 0 and document["model"] == "ridge_v1"
    assert set(document["backtests"]) == {"AAPL", "MSFT"}
    code, out, _ = _run(capsys, "ml", "list")
    assert code == 0 and "ridge_v1" in out
    code, out, _ = _run(capsys, "ml", "features")
    assert code == 0 and "ret_1" in out and "vol_20" in out
    code, out, _ = _run(capsys, "ml", "check", "-s", "MSFT")
    assert code == 0 and "No look-ahead: 26 features" in out


def test_the_model_option_names_every_model_kind() -> None:
    from algotrader.cli.ml import MODEL_KINDS
    from algotrader.ml.models import KINDS

    assert tuple(KINDS) == MODEL_KINDS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ml", "train", "-s", "AAPL", "--model", "lgbmm"), "unknown model 'lgbmm'"),
        (("ml", "train", "-s", "AAPL", "--features", "ret_1,ret_7"), "unknown feature 'ret_7'"),
        (("ml", "train", "-s", "AAPL", "--train", "30 Y"), "too little data"),
        (("ml", "train", "-s", "AAPL", "--target", "return"), "unknown target 'return'"),
        (("ml", "train", "-s", "AAPL", "--window", "growing"), "invalid window 'growing'"),
        (("ml", "train", "-s", "AAPL", "--param", "alpha"), "invalid --param 'alpha'"),
        (("ml", "train", "-s", "NOPE"), "no 1d bars of NOPE in the database"),
        (("ml", "predict", "nothing_v1"), "no model 'nothing_v1' in the registry"),
        (("ml", "report", "7"), "no model '7' in the registry"),
        (("ml", "train", "-s", "AAPL", "--name", "Bad Name"), "invalid model name"),
        (("ml", "check", "-s", "AAPL", "--features", "ret_1,nope"), "unknown feature 'nope'"),
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


def test_ml_backtest_is_gone_in_favour_of_backtest(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "ml", "backtest", "-s", "AAPL")
    assert code == 2 and "No such command 'backtest'" in err
