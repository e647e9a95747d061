from __future__ import annotations

import json
from pathlib import Path

import pytest

from algotrader.cli.app import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_auto_fetch_on_an_empty_database_then_a_run_without_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys,
        "backtest",
        "-s",
        "SPY",
        "-r",
        "1d",
        "--auto-fetch",
        "--fetch-duration",
        "2 Y",
        "--source",
        "synthetic",
    )
    assert code == 0
    assert "Fetched" in out and "Backtest complete for SPY @ 1d: bars=" in out
    code, out, _ = _run(capsys, "backtest", "-s", "SPY", "-r", "1d")
    assert code == 0 and "Fetched" not in out
    assert "total_return=" in out and "sharpe=" in out and "buy & hold" in out


def test_missing_data_without_auto_fetch_is_one_line_with_the_fix(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "backtest", "-s", "SPY", "-r", "1d")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: no 1d bars of SPY")
    assert "algotrader ingest -s SPY" in err and "--auto-fetch" in err


def test_plot_and_full_plot_are_saved_as_png(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = (
        "backtest",
        "-s",
        "TSLA",
        "-r",
        "1d",
        "--strategy",
        "supertrend",
        "--auto-fetch",
        "--fetch-duration",
        "1 Y",
        "--source",
        "synthetic",
    )
    _, out, _ = _run(capsys, *base, "--plot")
    simple = Path(out.split("Saved plot: ")[1].strip())
    _, out, _ = _run(capsys, *base, "--plot", "full")
    full = Path(out.split("Saved plot: ")[1].strip())
    assert simple.name.startswith("TSLA_1d_") and simple.suffix == ".png"
    assert full.name.endswith("_full.png") and full.parent == Path("data/plots")
    assert simple.read_bytes()[:8] == full.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_prints_parameters_metrics_and_trades(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys,
        "backtest",
        "-s",
        "SPY",
        "--auto-fetch",
        "--source",
        "synthetic",
        "--fetch-duration",
        "2 Y",
        "--json",
        "--param",
        "fast=10",
    )
    assert code == 0
    document = json.loads(out[out.index("{") :])
    assert document["params"] == {"fast": 10, "slow": 50}
    assert {"total_return", "sharpe", "cagr", "max_drawdown"} <= set(document["metrics"])
    assert isinstance(document["trades"], list) and document["run_id"] >= 1


def test_bad_parameter_name_suggests_the_right_one(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "ingest", "-s", "SPY", "-r", "1d", "-d", "1 Y", "--source", "synthetic")
    code, _, err = _run(capsys, "backtest", "-s", "SPY", "--param", "fats=10")
    assert code == 2 and "fast" in err and err.count("\n") == 1


def test_runs_list_show_and_rerun(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(
        capsys,
        "backtest",
        "-s",
        "SPY",
        "--auto-fetch",
        "--fetch-duration",
        "1 Y",
        "--source",
        "synthetic",
    )
    code, out, _ = _run(capsys, "runs", "list")
    assert code == 0 and "ma_cross" in out and "SPY" in out
    code, out, _ = _run(capsys, "runs", "show", "1")
    assert code == 0 and "fingerprint" in out and "Code: 0.1.0+" in out
    code, out, _ = _run(capsys, "runs", "rerun", "1")
    assert code == 0 and "identical to the last bit" in out


def test_strategies_list_shows_every_builtin_with_its_rule(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "strategies", "list")
    assert code == 0
    for name in (
        "ma_cross",
        "db_ma_cross",
        "rsi",
        "bollinger",
        "macd",
        "supertrend",
        "ath_breakout",
        "streak",
        "hello_world",
    ):
        assert name in out
    assert "BUY" in out


def test_demo_ranks_every_builtin_and_saves_the_best_full_plot(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "demo", "-s", "AAPL")
    assert code == 0
    assert "best first" in out and out.count("Saved plot:") == 2
    full = next(line for line in out.splitlines() if "_full.png" in line)
    assert Path(full.split("Saved plot: ")[1].split(" (best")[0]).is_file()


def _fetch_args(symbol: str = "SPY", duration: str = "2 Y") -> tuple[str, ...]:
    return ("-s", symbol, "--auto-fetch", "--fetch-duration", duration, "--source", "synthetic")


def test_summary_line_says_when_the_data_is_synthetic(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "backtest", *_fetch_args())
    assert code == 0
    summary = next(line for line in out.splitlines() if line.startswith("Backtest complete"))
    assert summary.endswith("[synthetic data]")


def test_several_symbols_run_one_backtest_each_in_one_ranked_table(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "backtest", *_fetch_args("SPY,AAPL,MSFT"), "--strategy", "rsi")
    assert code == 0
    assert "rsi per symbol, best first" in out and "Saved plot" not in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [r.split("│")[2].split()[0] for r in rows] and len(rows) == 3
    code, out, _ = _run(capsys, "runs", "list", "--json")
    runs = json.loads(out)
    assert sorted(r["symbol"] for r in runs) == ["AAPL", "MSFT", "SPY"]


def test_a_universe_file_names_the_symbols(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("universe.txt").write_text("# my list\nSPY\nAAPL  # apple\n\n", encoding="utf-8")
    code, out, _ = _run(
        capsys, "backtest", "--universe", "universe.txt", "--auto-fetch", "--source",
        "synthetic", "--fetch-duration", "1 Y", "--json",
    )  # fmt: skip
    assert code == 0
    assert sorted(d["symbol"] for d in json.loads(out)) == ["AAPL", "SPY"]


def test_json_has_the_final_equity_and_the_data_label(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _code, out, _ = _run(capsys, "backtest", *_fetch_args(), "--json")
    document = json.loads(out)
    assert document["final_equity"] == pytest.approx(
        100_000 * (1 + document["metrics"]["total_return"])
    )
    assert document["synthetic"] is True


def test_runs_list_shows_parameters_and_runs_show_says_how_many_trades_are_listed(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "backtest", *_fetch_args(duration="5 Y"), "--strategy", "macd")
    _run(capsys, "backtest", "-s", "SPY", "--param", "fast=5", "--param", "slow=20")
    code, out, _ = _run(capsys, "runs", "list")
    assert code == 0 and "fast=5 slow=20" in out
    code, out, _ = _run(capsys, "runs", "show", "1")
    trades = int(out.split("Trades: ")[1].split()[0])
    assert trades > 20 and f"Trades: {trades} (the last 20 shown;" in out
    code, out, _ = _run(capsys, "runs", "show", "1", "--all-trades")
    assert f"Trades: {trades}\n" in out


def test_runs_show_lists_a_trade_still_open_at_the_end_as_open(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "backtest", *_fetch_args(), "--strategy", "hello_world")
    code, out, _ = _run(capsys, "runs", "show", "1")
    row = out.split("Trades: 1\n")[1].splitlines()[-2]
    assert code == 0 and "│ open " in row and "long" in row


def test_sizing_and_exit_flags_reach_the_engine_and_the_stored_run(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys, "backtest", *_fetch_args(), "--sizing", "percent", "--size", "0.5",
        "--stop-loss", "0.03", "--take-profit", "0.1", "--json",
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    assert document["config"]["sizing"] == "percent" and document["config"]["stop_loss"] == 0.03
    reasons = {t["exit_reason"] for t in document["trades"]}
    assert reasons <= {"signal", "stop_loss", "take_profit", "open"} and reasons & {"stop_loss"}
    code, _, err = _run(capsys, "backtest", "-s", "SPY", "--sizing", "pct")
    assert code == 2 and "did you mean 'percent'" in err


def test_runs_list_puts_every_value_under_its_own_header(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "backtest", *_fetch_args(duration="1 Y"))
    code, out, _ = _run(capsys, "runs", "list", "--json")
    assert code == 0 and json.loads(out)[0]["kind"] == "backtest"
    code, out, _ = _run(capsys, "runs", "list")
    lines = [line for line in out.splitlines() if line.startswith(("┃", "│"))]
    header = [cell.strip() for cell in lines[0].strip("┃").split("┃")]
    row = [cell.strip() for cell in lines[1].strip("│").split("│")]
    cells = dict(zip(header, row, strict=True))
    assert cells["kind"] == "backtest" and cells["symbol"] == "SPY"
    assert cells["strategy"] == "ma_cross" and cells["res"] == "1d"
