from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.backtest.engine import run_backtest
from algotrader.backtest.result import BacktestConfig
from algotrader.errors import InvalidInputError
from algotrader.strategies import Strategy, get_strategy, list_strategies


class Script(Strategy):
    """Emits a fixed signal per bar: {bar: "BUY"/"SELL"}."""

    name = "script"

    def __init__(self, plan: dict[int, str]) -> None:
        super().__init__()
        self.plan = plan

    def on_bar(self, i: int, row: Any, df: Any) -> str | None:
        return self.plan.get(i)


def run(frame: pd.DataFrame, plan: dict[int, str], **config: Any) -> Any:
    return run_backtest(frame, Script(plan), BacktestConfig(**config))


def test_signal_on_bar_t_fills_at_next_bar_open(make_frame: Any) -> None:
    frame = make_frame([10, 11, 12, 13], open_=[10, 10.5, 11.5, 12.5])
    result = run(frame, {0: "BUY", 2: "SELL"}, cash=1000)
    assert list(result.fills["price"]) == [10.5, 12.5]
    assert list(result.fills["ts"]) == [frame.index[1], frame.index[3]]
    assert result.trades["pnl"].iloc[0] == pytest.approx(1000 / 10.5 * 2.0)


def test_fill_close_executes_at_signal_bar_close(make_frame: Any) -> None:
    frame = make_frame([10, 11, 12, 13], open_=[10, 10.5, 11.5, 12.5])
    result = run(frame, {0: "BUY", 2: "SELL"}, cash=1000, fill="close")
    assert list(result.fills["price"]) == [10.0, 12.0]
    assert list(result.fills["ts"]) == [frame.index[0], frame.index[2]]


def test_signal_on_last_bar_never_fills(make_frame: Any) -> None:
    frame = make_frame([10, 11, 12])
    result = run(frame, {2: "BUY"})
    assert result.fills.empty
    assert result.trades.empty
    assert result.equity.iloc[-1] == 100_000


def test_open_position_is_marked_to_last_close_and_flagged(make_frame: Any) -> None:
    frame = make_frame([10, 11, 12, 15])
    result = run(frame, {0: "BUY"}, cash=100)
    trade = result.trades.iloc[0]
    assert bool(trade["open"]) and trade["exit_price"] == 15
    assert trade["exit_time"] == frame.index[-1]
    assert result.equity.iloc[-1] == pytest.approx(150.0)


def test_equity_is_cash_plus_position_at_each_close(make_frame: Any) -> None:
    frame = make_frame([10, 20, 40, 20])
    result = run(frame, {0: "BUY", 2: "SELL"}, cash=100)
    # Buy 10 shares at bar 1's open (10); sell them at bar 3's open (40).
    assert list(result.equity) == [100.0, 200.0, 400.0, 400.0]
    assert list(result.position) == [0, 1, 1, 0]


def test_repeated_buy_while_long_is_ignored(make_frame: Any) -> None:
    frame = make_frame([10, 11, 12, 13, 14])
    result = run(frame, {0: "BUY", 1: "BUY", 2: "BUY"})
    assert len(result.fills) == 1


def test_sell_while_flat_does_nothing_long_only(make_frame: Any) -> None:
    frame = make_frame([10, 11, 12])
    assert run(frame, {0: "SELL"}).fills.empty


def test_short_selling_profits_when_price_falls(make_frame: Any) -> None:
    frame = make_frame([100, 100, 80, 80])
    result = run(frame, {0: "SELL", 2: "BUY"}, cash=1000, allow_short=True)
    # Short 10 at 100 (bar 1 open), cover at 80 (bar 3 open), then go long with what is left.
    assert list(result.trades["side"]) == ["short", "long"]
    assert result.trades["pnl"].iloc[0] == pytest.approx(200.0)
    assert result.equity.iloc[2] == pytest.approx(1200.0)


def test_reversal_closes_then_opens_at_same_price(make_frame: Any) -> None:
    frame = make_frame([10, 10, 20, 20])
    result = run(frame, {0: "BUY", 1: "SELL"}, cash=100, allow_short=True)
    assert list(result.fills["action"]) == ["BUY", "SELL", "SELL"]
    assert list(result.fills["price"]) == [10.0, 10.0, 10.0]
    assert list(result.trades["side"]) == ["long", "short"]


def test_whole_shares_floors_the_quantity(make_frame: Any) -> None:
    frame = make_frame([30, 30, 30])
    result = run(frame, {0: "BUY"}, cash=100, whole_shares=True)
    assert result.fills["quantity"].iloc[0] == 3
    assert result.equity.iloc[-1] == pytest.approx(100.0)


def test_fractional_shares_by_default(make_frame: Any) -> None:
    frame = make_frame([30, 30, 30])
    result = run(frame, {0: "BUY"}, cash=100)
    assert result.fills["quantity"].iloc[0] == pytest.approx(100 / 30)


def test_commission_per_share_and_minimum(make_frame: Any) -> None:
    frame = make_frame([10, 10, 10, 10])
    result = run(
        frame, {0: "BUY", 1: "SELL"}, cash=1000, whole_shares=True,
        commission_per_share=0.01, commission_min=1.0,
    )
    # floor(1000 / 10.01) = 99 shares; 0.99 per order -> the 1.00 minimum applies twice.
    assert list(result.fills["quantity"]) == [99, 99]
    assert list(result.fills["commission"]) == [1.0, 1.0]
    assert result.equity.iloc[-1] == pytest.approx(998.0)


def test_commission_bps_all_in_sizing_spends_exactly_the_cash(make_frame: Any) -> None:
    frame = make_frame([10, 10, 10])
    result = run(frame, {0: "BUY"}, cash=1001, commission_bps=10)
    qty, fee = result.fills["quantity"].iloc[0], result.fills["commission"].iloc[0]
    assert qty == pytest.approx(100.0)
    assert fee == pytest.approx(1.0)


def test_slippage_is_adverse_on_both_sides(make_frame: Any) -> None:
    frame = make_frame([100, 100, 100, 100])
    result = run(frame, {0: "BUY", 1: "SELL"}, cash=1000, slippage_bps=50)
    assert list(result.fills["price"]) == pytest.approx([100.5, 99.5])
    assert result.trades["pnl"].iloc[0] == pytest.approx(1000 / 100.5 * -1.0)


def test_trade_pnl_sums_to_final_equity_change(indicator_frame: pd.DataFrame) -> None:
    cfg = BacktestConfig(commission_bps=5, slippage_bps=3, commission_min=1, allow_short=True)
    result = run_backtest(indicator_frame, get_strategy("db_ma_cross"), cfg)
    assert result.trades["pnl"].sum() == pytest.approx(result.equity.iloc[-1] - cfg.cash)


def test_runs_are_bit_for_bit_deterministic(indicator_frame: pd.DataFrame) -> None:
    cfg = BacktestConfig(commission_bps=3, slippage_bps=2)
    a = run_backtest(indicator_frame, get_strategy("macd"), cfg)
    b = run_backtest(indicator_frame, get_strategy("macd"), cfg)
    assert a.equity.to_numpy().tobytes() == b.equity.to_numpy().tobytes()
    assert a.trades.equals(b.trades)
    assert a.metrics == b.metrics


@pytest.mark.parametrize(
    "name", [info.name for info in list_strategies() if info.source == "builtin"]
)
@pytest.mark.parametrize("allow_short", [False, True])
def test_fast_path_equals_on_bar_path(
    indicator_frame: pd.DataFrame, name: str, allow_short: bool
) -> None:
    cfg = BacktestConfig(allow_short=allow_short, commission_bps=2)
    slow = run_backtest(indicator_frame, get_strategy(name), cfg, path="on_bar")
    fast = run_backtest(indicator_frame, get_strategy(name), cfg, path="vectorized")
    pd.testing.assert_frame_equal(slow.trades, fast.trades, check_exact=True)
    assert slow.equity.to_numpy().tobytes() == fast.equity.to_numpy().tobytes()


class Peeker(Strategy):
    """Buys when the next close would be higher -- if it could see it."""

    name = "peeker"

    def on_bar(self, i: int, row: Any, df: Any) -> str | None:
        closes = df["close"]
        assert len(df) == i + 1 and closes.index[-1] == df.index[-1]
        with pytest.raises(IndexError):
            df.iloc[i + 1]
        return "BUY" if closes.iloc[-1] > closes.iloc[0] else "SELL"


def test_df_exposes_only_rows_up_to_the_current_bar(make_frame: Any) -> None:
    frame = make_frame([10, 12, 9, 14, 8, 15, 16])
    full = run_backtest(frame, Peeker(), path="on_bar")
    for cut in range(2, len(frame)):
        part = run_backtest(frame.iloc[:cut], Peeker(), path="on_bar")
        decided = full.fills[full.fills["ts"] < frame.index[cut - 1]]
        assert list(part.fills["ts"][: len(decided)]) == list(decided["ts"])


def test_row_keys_are_case_insensitive(make_frame: Any) -> None:
    seen: list[tuple[float, float, float]] = []

    class Reader(Strategy):
        def on_bar(self, i: int, row: Any, df: Any) -> None:
            seen.append((row["MA20"], row["ma20"], row["Close"]))

    run_backtest(make_frame([1, 2, 3], ma20=[5, 6, 7]), Reader())
    assert seen == [(5, 5, 1), (6, 6, 2), (7, 7, 3)]


def test_unknown_row_key_names_the_closest_column(make_frame: Any) -> None:
    class Typo(Strategy):
        def on_bar(self, i: int, row: Any, df: Any) -> None:
            return row["clsoe"]

    with pytest.raises(InvalidInputError, match="did you mean 'close'"):
        run_backtest(make_frame([1, 2, 3]), Typo())


class SeedMACrossStrategy:
    """Seed 000's example, verbatim: a plain class with on_bar(date, row, portfolio)."""

    def __init__(self, short_window: int = 20, long_window: int = 50) -> None:
        self.short = short_window
        self.long = long_window

    def on_bar(self, date: Any, row: Any, portfolio: Any) -> str | None:
        if row["MA20"] > row["MA50"]:
            return "BUY"
        if row["MA20"] < row["MA50"]:
            return "SELL"
        return None


def test_seed_plain_class_with_portfolio_signature_matches_builtin(
    indicator_frame: pd.DataFrame,
) -> None:
    seed = run_backtest(indicator_frame, SeedMACrossStrategy())
    builtin = run_backtest(indicator_frame, get_strategy("db_ma_cross"))
    pd.testing.assert_frame_equal(seed.trades, builtin.trades, check_exact=True)


def test_portfolio_reflects_fills_before_the_next_decision(make_frame: Any) -> None:
    seen: list[tuple[Any, int, float]] = []

    class Watcher:
        def on_bar(self, date: Any, row: Any, portfolio: Any) -> str | None:
            seen.append((date, portfolio.side, portfolio.equity))
            return "BUY" if not portfolio.in_position else None

    frame = make_frame([10, 10, 20])
    run_backtest(frame, Watcher(), BacktestConfig(cash=100))
    ts = frame.index
    assert seen == [(ts[0], 0, 100.0), (ts[1], 1, 100.0), (ts[2], 1, 200.0)]


def test_bad_on_bar_answer_is_a_clear_error(make_frame: Any) -> None:
    class Wrong(Strategy):
        def on_bar(self, i: int, row: Any, df: Any) -> Any:
            return "LONG"

    with pytest.raises(InvalidInputError, match="returned 'LONG' on bar 0"):
        run_backtest(make_frame([1, 2]), Wrong())


def test_buy_hold_starts_on_the_first_bar_that_can_trade_whatever_the_warmup(
    make_frame: Any,
) -> None:
    frame = make_frame(
        [10, 20, 40, 80], ma20=[np.nan, np.nan, 1, 1], ma50=[np.nan, np.nan, 0, 0],
        rsi=[np.nan, 50, 50, 50],
    )
    runs = [
        run_backtest(frame, get_strategy(name), BacktestConfig(cash=100))
        for name in ("db_ma_cross", "rsi", "streak")
    ]
    # A signal on bar 0 fills at bar 1's open (10): the same curve for every strategy.
    for result in runs:
        assert list(result.buy_hold) == [100.0, 200.0, 400.0, 800.0]
        assert result.metrics["buy_hold_return"] == pytest.approx(7.0)


def test_buy_hold_with_fill_close_buys_the_first_close(make_frame: Any) -> None:
    frame = make_frame([10, 20, 40, 80])
    result = run_backtest(frame, get_strategy("rsi"), BacktestConfig(cash=100, fill="close"))
    assert list(result.buy_hold) == [100.0, 200.0, 400.0, 800.0]
    assert result.metrics["buy_hold_return"] == pytest.approx(7.0)


def test_hello_world_equals_buy_and_hold(indicator_frame: pd.DataFrame) -> None:
    result = run_backtest(indicator_frame, get_strategy("hello_world"))
    assert result.metrics["alpha"] == 0.0
    np.testing.assert_array_equal(result.equity.to_numpy(), result.buy_hold.to_numpy())


def test_to_dict_is_json_serialisable_with_iso_utc_times(indicator_frame: pd.DataFrame) -> None:
    result = run_backtest(indicator_frame, get_strategy("rsi"))
    data = json.loads(json.dumps(result.to_dict(include_series=True), allow_nan=False))
    assert data["trades"][0]["entry_time"].endswith("Z")
    assert data["config"]["fill"] == "open"
    assert len(data["series"]["equity"]) == len(indicator_frame)


def test_invalid_config_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="invalid fill"):
        BacktestConfig(fill="tomorrow")  # type: ignore[arg-type]


def test_backtest_facade_runs_a_named_strategy_with_params(indicator_frame: pd.DataFrame) -> None:
    from algotrader import Backtest

    result = Backtest(indicator_frame, "ma_cross", cash=10_000, resolution="1d").run(fast="10")
    assert result.params == {"fast": 10, "slow": 50}
    assert result.config.cash == 10_000
    assert result.equity.iloc[0] == 10_000


def test_backtest_facade_rejects_unknown_settings(indicator_frame: pd.DataFrame) -> None:
    from algotrader import Backtest

    with pytest.raises(InvalidInputError, match="did you mean 'slippage_bps'"):
        Backtest(indicator_frame, "rsi", slipage_bps=1)


def test_backtest_facade_computes_missing_indicators(make_frame: Any) -> None:
    from algotrader import Backtest

    frame = make_frame(np.linspace(10, 30, 120) + np.sin(np.arange(120)))
    result = Backtest(frame, "db_ma_cross").run()
    assert result.metrics["num_trades"] >= 1
