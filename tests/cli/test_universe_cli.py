"""``algotrader universe`` and ``--universe NAME`` on backtest, portfolio and jobs submit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from algotrader.cli.app import main


def _run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    code = main(["--database-url", url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_universe_commands_save_show_list_and_remove(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, db_url, "universe", "add", "Tech", "AAPL,msft")[1] == (
        "Saved universe tech: 2 symbols.\n"
    )
    _code, out, _ = _run(capsys, db_url, "universe", "add", "tech", "NVDA,AAPL")
    assert out == "Added 1 symbol to universe tech (now 3).\n"
    Path("bonds.txt").write_text("TLT\nIEF # 7-10 y\n", encoding="utf-8")
    assert _run(capsys, db_url, "universe", "add", "bonds", "--file", "bonds.txt")[0] == 0
    _code, out, _ = _run(capsys, db_url, "universe", "show", "tech")
    assert out == "AAPL\nMSFT\nNVDA\n"
    _code, out, _ = _run(capsys, db_url, "universe", "list", "--json")
    assert json.loads(out) == {"bonds": ["TLT", "IEF"], "tech": ["AAPL", "MSFT", "NVDA"]}
    _code, out, _ = _run(capsys, db_url, "universe", "remove", "tech", "MSFT")
    assert out == "Universe tech now has 2 symbols.\n"
    assert _run(capsys, db_url, "universe", "remove", "bonds")[1] == "Removed universe bonds.\n"
    _code, out, _ = _run(capsys, db_url, "universe", "list")
    assert "tech" in out and "AAPL, NVDA" in out and "bonds" not in out


def test_backtest_and_portfolio_run_on_a_stored_list(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, db_url, "universe", "add", "pair", "SPY,TLT")
    code, out, _ = _run(
        capsys, db_url, "backtest", "--universe", "pair", "--auto-fetch", "--source",
        "synthetic", "--fetch-duration", "1 Y", "--json", "--jobs", "1",
    )  # fmt: skip
    assert code == 0
    assert sorted(d["symbol"] for d in json.loads(out)) == ["SPY", "TLT"]
    code, out, _ = _run(capsys, db_url, "portfolio", "--universe", "pair", "--json")
    assert code == 0 and sorted(json.loads(out)["symbols"]) == ["SPY", "TLT"]
    Path("pair").write_text("SPY\n", encoding="utf-8")  # an existing file wins
    code, out, _ = _run(capsys, db_url, "backtest", "--universe", "pair", "--json")
    assert code == 0 and json.loads(out)["symbol"] == "SPY"


@pytest.mark.parametrize(
    "command",
    [("backtest",), ("portfolio",), ("jobs", "submit", "batch")],
)
def test_an_unknown_universe_is_one_line_with_the_closest_name(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    _run(capsys, db_url, "universe", "add", "tech", "AAPL")
    code, out, err = _run(capsys, db_url, *command, "--universe", "tehc")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: no universe file or stored list named tehc:")
    assert "(did you mean tech?)" in err


def test_bad_universe_input_is_one_line(
    db_url: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, problem in (
        (("add", "x"), "give either SYMBOLS or --file FILE"),
        (("add", "x", "SPY", "--file", "f.txt"), "give either SYMBOLS or --file FILE"),
        (("add", "x", "A$B"), "invalid symbol"),
        (("add", "a b", "SPY"), "invalid universe name"),
        (("show", "nope"), "no stored universe named nope"),
        (("add", "x", "--file", "missing.txt"), "cannot read the universe file"),
    ):
        code, _out, err = _run(capsys, db_url, "universe", *args)
        assert code == 2 and err.count("\n") == 1 and problem in err, (args, err)
