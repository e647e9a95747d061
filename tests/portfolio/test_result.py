"""The result object: metrics, contributions, benchmark, fingerprint, JSON, reruns, chart."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from algotrader.backtest.metrics import compute_metrics, sharpe_ratio
from algotrader.portfolio import Portfolio, PortfolioConfig, build_panel, rerun
from algotrader.portfolio.result import PORTFOLIO_METRICS

from .conftest import walk_bars


@pytest.fixture(scope="module")
def result(five_symbols: dict[str, pd.DataFrame]):  # type: ignore[no-untyped-def]
    return Portfolio(five_symbols, "inverse_vol", "monthly", commission_bps=2,
                     commission_min=1).run(lookback=30)


def test_metrics_are_the_single_symbol_ones_plus_the_portfolio_ones(result) -> None:  # type: ignore[no-untyped-def]
    index = pd.date_range("2024-01-01", periods=3, tz="UTC")
    single = compute_metrics(index, np.ones(3), np.ones(3), np.ones(3), np.ones(1), cash=1.0,
                             resolution="1d")
    assert set(result.metrics) == set(single) | set(PORTFOLIO_METRICS)
    periods = result.metrics["periods_per_year"]
    assert periods == pytest.approx(261, abs=2)  # business days: ~261 sessions a year
    assert result.metrics["sharpe"] == sharpe_ratio(result.equity.to_numpy(), periods)
    assert result.metrics["num_trades"] == len(result.trades)


def test_contributions_add_up_to_the_total_return(result) -> None:  # type: ignore[no-untyped-def]
    assert result.per_symbol["contribution"].sum() == pytest.approx(result.total_return,
                                                                     rel=1e-12)
    assert result.per_symbol["fills"].sum() == len(result.fills)
    assert result.per_symbol["commission"].sum() == pytest.approx(
        result.metrics["total_commission"]
    )
    assert result.trades.groupby("symbol")["pnl"].sum().to_numpy() == pytest.approx(
        result.per_symbol["pnl"].to_numpy()
    )


def test_weights_are_values_over_equity(result) -> None:  # type: ignore[no-untyped-def]
    last = result.fills.groupby("symbol")["quantity"].count()
    assert set(last.index) == set(result.symbols)
    held = result.weights.iloc[-1].sum()
    assert held == pytest.approx(1 - result.cash.iloc[-1] / result.equity.iloc[-1])


def test_the_benchmark_symbol_is_bought_at_its_second_open(
    five_symbols: dict[str, pd.DataFrame],
) -> None:
    result = Portfolio(five_symbols, "equal", "monthly", cash=1000, benchmark="CCC").run()
    ccc = five_symbols["CCC"]
    expected = 1000 / ccc["open"].iloc[1] * ccc["close"].to_numpy()
    expected[0] = 1000
    np.testing.assert_allclose(result.benchmark.to_numpy(), expected)
    assert result.metrics["buy_hold_return"] == pytest.approx(expected[-1] / 1000 - 1)


def test_a_benchmark_outside_the_universe_comes_with_its_bars(
    five_symbols: dict[str, pd.DataFrame],
) -> None:
    spy = walk_bars(["SPY"], n=400, seed=99)["SPY"]
    inside = {s: f for s, f in five_symbols.items() if s != "AAA"}
    result = Portfolio(inside, "equal", "monthly", benchmark="SPY", benchmark_bars=spy).run()
    assert result.benchmark.iloc[-1] == pytest.approx(
        100_000 / spy["open"].iloc[1] * spy["close"].iloc[-1]
    )
    assert result.fingerprint != build_panel(inside).fingerprint


def test_the_fingerprint_hashes_each_symbols_timestamps_and_ohlcv_in_symbol_order(
    five_symbols: dict[str, pd.DataFrame],
) -> None:
    digest = hashlib.sha256()
    for symbol in sorted(five_symbols):
        frame = five_symbols[symbol]
        own = hashlib.sha256(frame.index.as_unit("us").asi8.tobytes())
        for column in ("open", "high", "low", "close", "volume"):
            own.update(frame[column].to_numpy(np.float64).tobytes())
        digest.update(symbol.encode() + b"\0" + own.hexdigest().encode())
    shuffled = dict(reversed(list(five_symbols.items())))
    assert build_panel(shuffled).fingerprint == digest.hexdigest()
    changed = dict(five_symbols)
    changed["BBB"] = changed["BBB"].copy()
    changed["BBB"].iloc[7, changed["BBB"].columns.get_loc("volume")] += 1
    assert build_panel(changed).fingerprint != digest.hexdigest()


def test_a_stored_run_reruns_bit_identically(
    result, five_symbols: dict[str, pd.DataFrame]  # type: ignore[no-untyped-def]
) -> None:
    stored = json.loads(json.dumps(result.to_dict(include_series=True), allow_nan=False))
    assert PortfolioConfig.from_dict(stored["config"]) == result.config
    shuffled = dict(reversed(list(five_symbols.items())))
    again = rerun(stored, shuffled)
    np.testing.assert_array_equal(again.equity.to_numpy(), result.equity.to_numpy())
    assert again.to_dict() == result.to_dict()
    assert stored["series"]["equity"][-1] == result.equity.iloc[-1]
    settings = dict(stored["config"])
    by_hand = Portfolio(shuffled, stored["allocator"], settings.pop("rebalance"), **settings)
    assert by_hand.run(**stored["params"]).to_dict() == result.to_dict()


def test_a_rerun_on_other_bars_is_refused(
    result, five_symbols: dict[str, pd.DataFrame]  # type: ignore[no-untyped-def]
) -> None:
    from algotrader.errors import UserError

    shorter = {s: f.iloc[:-1] for s, f in five_symbols.items()}
    with pytest.raises(UserError, match="the bars differ from the stored run's"):
        rerun(result.to_dict(), shorter)


def test_to_dict_is_plain_json(result) -> None:  # type: ignore[no-untyped-def]
    out = result.to_dict()
    text = json.dumps(out, allow_nan=False)
    assert "series" not in out
    assert out["start"].endswith("Z") and out["bars"] == len(result.equity)
    assert set(out["per_symbol"]) == set(result.symbols)
    assert len(out["targets"]) == len(result.targets)
    assert len(text) > 1000


def test_a_wide_panel_gives_the_same_run(five_symbols: dict[str, pd.DataFrame]) -> None:
    wide = pd.concat(five_symbols, axis=1)
    mine = Portfolio(wide, "equal", "monthly").run()
    theirs = Portfolio(five_symbols, "equal", "monthly").run()
    np.testing.assert_array_equal(mine.equity.to_numpy(), theirs.equity.to_numpy())
    swapped = wide.swaplevel(axis=1)
    assert Portfolio(swapped, "equal", "monthly").run().fingerprint == theirs.fingerprint


def test_the_chart_is_a_png_with_three_panels(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.image import imread

    from algotrader.plotting.portfolio_chart import portfolio_chart

    path = portfolio_chart(result, tmp_path / "charts" / "pf.png", top=3)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = imread(path).shape
    assert (width, height) == (1430, 1155)
