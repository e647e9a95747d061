"""Portfolio runs on stored data: stored with their basket, sectors from instruments, rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.app.instruments import add_instrument
from algotrader.app.portfolios import PortfolioRequest, run_portfolio
from algotrader.app.runs import get_run, rerun
from algotrader.cli.app import main
from algotrader.config import Settings, load_settings
from algotrader.ports.bars import InstrumentInfo
from algotrader.timeframes import parse_duration, parse_resolution

DAILY = parse_resolution("1d")
BASKET = ("AAPL", "MSFT", "XOM", "TLT")


@pytest.fixture
def settings(db_url: str, workdir: Path) -> Settings:
    made = load_settings(
        database_url=db_url, data_dir=str(workdir / "data"), log_dir=str(workdir / "logs")
    )
    window = IngestWindow(parse_duration("2 Y"))
    ingest(made, IngestRequest((*BASKET, "SPY"), (DAILY,), window, source="synthetic"))
    return made


def test_a_stored_portfolio_run_reruns_to_the_last_bit(settings: Settings) -> None:
    request = PortfolioRequest(
        BASKET, DAILY, "inverse_vol", "monthly", params={"lookback": "40"},
        settings={"commission_bps": 2.0, "benchmark": "SPY"},
    )  # fmt: skip
    stored = run_portfolio(settings, request)
    run = get_run(settings, stored.run_id)
    assert run.kind == "portfolio" and run.symbol == "AAPL,MSFT,XOM,TLT"
    assert run.detail is not None and run.detail["symbols"] == sorted(BASKET)
    assert run.metrics == stored.result.to_dict()["metrics"]
    report = rerun(settings, stored.run_id)
    assert report.identical_metrics and report.identical_trades and report.same_code


def test_sector_caps_use_the_sectors_stored_with_the_instruments(settings: Settings) -> None:
    for symbol in ("AAPL", "MSFT"):
        add_instrument(settings, InstrumentInfo(symbol, sector="Tech", industry="Software"))
    request = PortfolioRequest(BASKET, DAILY, "equal", settings={"sector_caps": {"Tech": 0.3}})
    targets = run_portfolio(settings, request).result.targets
    assert len(targets) > 20
    assert (targets[["AAPL", "MSFT"]].sum(axis=1) <= 0.3 + 1e-12).all()
    assert (targets[["XOM", "TLT"]].sum(axis=1) >= 0.7 - 1e-12).all()


def test_the_portfolio_command_prints_json_and_saves_a_plot(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--database-url", settings.db_url, "--data-dir", str(settings.data_dir),
                 "portfolio", "-s", ",".join(BASKET), "--allocator", "momentum", "--param",
                 "top_n=2", "--plot", "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    document = json.loads(out)
    assert document["symbols"] == sorted(BASKET) and document["run_id"] >= 1
    assert Path(document["plot"]).read_bytes()[:4] == b"\x89PNG"


def test_the_drift_band_and_industry_caps_are_command_line_flags(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    for symbol in ("AAPL", "MSFT"):
        add_instrument(settings, InstrumentInfo(symbol, sector="Tech", industry="Software"))
    base = ["--database-url", settings.db_url, "--data-dir", str(settings.data_dir), "portfolio",
            "-s", ",".join(BASKET), "--rebalance", "drift", "--json"]  # fmt: skip
    runs = {}
    for band in ("0.01", "0.2"):
        code = main([*base, "--drift-threshold", band, "--industry-cap", "Software=0.3"])
        out, err = capsys.readouterr()
        assert code == 0, err
        runs[band] = document = json.loads(out)
        assert document["config"]["drift_threshold"] == float(band)
        assert document["config"]["industry_caps"] == {"Software": 0.3}
        columns = [document["symbols"].index(s) for s in ("AAPL", "MSFT")]
        software = [sum(row[i] for i in columns) for row in document["targets"].values()]
        assert max(software) == pytest.approx(0.3)
    # a narrow band rebalances more often than a wide one
    assert len(runs["0.01"]["targets"]) > len(runs["0.2"]["targets"]) >= 1
    code = main([*base, "--industry-cap", "Software"])
    assert code == 2 and "invalid --industry-cap 'Software'" in capsys.readouterr().err


def test_sectors_imported_from_a_csv_feed_the_sector_caps(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    root = ["--database-url", settings.db_url, "--data-dir", str(settings.data_dir)]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bad = settings.data_dir / "bad.csv"
    bad.write_text("symbol,sector\nAAPL,Tech\nMSFT," + "x" * 65 + "\n", encoding="utf-8")
    assert main([*root, "instruments", "import", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("error: bad.csv line 3, column 'sector': 65")
    good = settings.data_dir / "sectors.csv"
    good.write_text("symbol,sector,industry\nAAPL,Tech,Computers\nMSFT,Tech,Software\n"
                    "NEWCO,Energy,Oil\n", encoding="utf-8")  # fmt: skip
    assert main([*root, "instruments", "import", str(good)]) == 0
    assert "added 1, already there 2" in capsys.readouterr().out  # AAPL, MSFT came with ingest
    request = PortfolioRequest(BASKET, DAILY, "equal", settings={"sector_caps": {"Tech": 0.3}})
    stored = run_portfolio(settings, request)
    assert stored.result.config.sectors[:2] == (
        ("AAPL", "Tech", "Computers"),
        ("MSFT", "Tech", "Software"),
    )
    assert (stored.result.targets[["AAPL", "MSFT"]].sum(axis=1) <= 0.3 + 1e-12).all()
