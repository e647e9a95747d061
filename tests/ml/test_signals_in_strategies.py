"""Signals and events aligned to bars without look-ahead, read by strategies on both paths."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.backtest.engine import run_backtest
from algotrader.errors import InvalidInputError
from algotrader.ml.align import attach_signals
from algotrader.strategies import Strategy, get_strategy

BARS = pd.DatetimeIndex(
    ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"], tz="UTC", name="ts"
)


def _signals(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["ts", "source", "name", "value"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame


def _bars(make_frame: Callable[..., pd.DataFrame], n: int) -> pd.DataFrame:
    from algotrader.indicators import compute_indicators

    frame = make_frame(100 + np.sin(np.arange(n) / 3.0) * 5 + np.arange(n) * 0.05)
    return pd.concat([frame, compute_indicators(frame)], axis=1)


def test_a_forecast_made_at_t_is_usable_at_t_and_not_before() -> None:
    signals = _signals(
        [
            ("2024-01-03", "lgbm_v1", "fwd_return_5", 0.5),
            ("2024-01-04 15:00", "lgbm_v1", "fwd_return_5", -0.2),  # known after the 4th starts
            ("2024-01-08", "lgbm_v1", "fwd_return_5", 0.1),
        ]
    )
    frame = attach_signals(pd.DataFrame({"close": np.ones(5)}, index=BARS), signals)
    expected = [np.nan, 0.5, 0.5, -0.2, 0.1]
    np.testing.assert_array_equal(frame["signal:lgbm_v1"].to_numpy(), expected)
    np.testing.assert_array_equal(frame["signal:lgbm_v1:fwd_return_5"].to_numpy(), expected)


def test_stale_signals_expire_after_max_age() -> None:
    signals = _signals([("2024-01-02", "s", "x", 1.0)])
    frame = attach_signals(
        pd.DataFrame({"close": np.ones(5)}, index=BARS), signals, max_age=pd.Timedelta(days=1)
    )
    np.testing.assert_array_equal(frame["signal:s"].to_numpy(), [1.0, 1.0, np.nan, np.nan, np.nan])


def test_events_show_on_the_first_bar_at_or_after_their_timestamp() -> None:
    events = pd.DataFrame(
        {
            "ts": pd.to_datetime(
                ["2024-01-04T00:00", "2024-01-05T21:00", "2024-01-06T00:00"], utc=True
            ),
            "kind": ["earnings", "earnings", "cpi"],
        }
    )
    frame = attach_signals(pd.DataFrame({"close": np.ones(5)}, index=BARS), events=events)
    assert frame["event:earnings"].tolist() == [0, 0, 1, 0, 1]
    assert frame["event:cpi"].tolist() == [0, 0, 0, 0, 1]


def test_a_source_with_several_names_gets_qualified_columns_and_regime_its_own() -> None:
    signals = _signals(
        [
            ("2024-01-02", "sentiment", "score", 0.3),
            ("2024-01-02", "sentiment", "volume", 7.0),
            ("2024-01-03", "hmm_v2", "regime", 2.0),
        ]
    )
    frame = attach_signals(pd.DataFrame({"close": np.ones(5)}, index=BARS), signals)
    assert "signal:sentiment" not in frame.columns
    assert frame["signal:sentiment:volume"].iloc[-1] == 7.0
    assert frame["regime"].tolist()[1:] == [2.0, 2.0, 2.0, 2.0]
    assert np.isnan(frame["regime"].iloc[0])


class ReadsSignals(Strategy):
    """A user strategy reading the aligned columns through ``row``."""

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> str | None:
        if row["regime"] == 0 and row["signal:model_v1"] > 0:
            return "BUY"
        if row["regime"] != 0 or row["signal:model_v1"] < 0:
            return "SELL"
        return None

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        regime = frame["regime"].to_numpy()
        forecast = frame["signal:model_v1"].to_numpy()
        buy = (regime == 0) & (forecast > 0)
        sell = ~buy & ((regime != 0) | (forecast < 0))
        return buy.astype(np.int8) - sell.astype(np.int8)


def _with_model_signals(bars: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = bars.index[5:]
    signals = pd.concat(
        [
            pd.DataFrame(
                {
                    "ts": ts,
                    "source": "model_v1",
                    "name": "fwd_return_1",
                    "value": rng.normal(0, 1, ts.size),
                }
            ),
            pd.DataFrame(
                {
                    "ts": ts[::7],
                    "source": "hmm_v1",
                    "name": "regime",
                    "value": rng.integers(0, 2, ts[::7].size).astype(float),
                }
            ),
        ]
    )
    return attach_signals(bars, signals)


@pytest.mark.parametrize("strategy", ["user", "ml_signal", "meta"])
def test_both_execution_paths_read_signals_and_trade_identically(
    make_frame: Callable[..., pd.DataFrame], strategy: str
) -> None:
    frame = _with_model_signals(_bars(make_frame, 200), seed=1)
    instance: Any = {
        "user": ReadsSignals,
        "ml_signal": lambda: get_strategy("ml_signal", signal="model_v1", threshold="0.2"),
        "meta": lambda: get_strategy("meta", members="ma_cross=1,signal:model_v1=2,rsi=1"),
    }[strategy]()
    on_bar = run_backtest(frame, instance, path="on_bar")
    vectorised = run_backtest(frame, instance, path="vectorized")
    assert len(on_bar.trades) > 5
    pd.testing.assert_frame_equal(on_bar.trades, vectorised.trades, check_exact=True)


def test_ml_signal_goes_long_above_the_threshold_and_short_below_the_exit(
    make_frame: Callable[..., pd.DataFrame],
) -> None:
    frame = _bars(make_frame, 6)
    frame["signal:m_v1"] = [np.nan, 0.5, 0.05, -0.5, 0.0, 0.9]
    strategy = get_strategy("ml_signal", threshold=0.1, exit=-0.1)
    result = run_backtest(frame, strategy, allow_short_config(), path="on_bar")
    # BUY on bar 1 (fills bar 2's open), SELL on bar 3 (short from bar 4), BUY on bar 5 (no bar 6).
    assert result.position.tolist() == [0, 0, 1, 1, -1, -1]
    # buy & hold is the same for every strategy: in at the second bar's open.
    assert result.buy_hold.iloc[0] == 100_000.0 and result.buy_hold.iloc[1] != 100_000.0


def allow_short_config() -> Any:
    from algotrader.backtest.result import BacktestConfig

    return BacktestConfig(allow_short=True)


def test_meta_scores_are_weighted_votes(make_frame: Callable[..., pd.DataFrame]) -> None:
    frame = _bars(make_frame, 4)
    frame["signal:a"] = [1.0, -1.0, np.nan, 0.5]
    frame["signal:b"] = [-2.0, -1.0, 3.0, np.nan]
    meta = get_strategy("meta", members="signal:a=1,signal:b=3", threshold=0.4)
    prepared = meta.prepare(frame)
    # (1*1 + 3*-1)/4, (-1 - 3)/4, (0 + 3)/4, (1 + 0)/4
    assert prepared["meta_score"].tolist() == [-0.5, -1.0, 0.75, 0.25]
    assert meta.signals(prepared).tolist() == [-1, -1, 1, 0]


def test_ml_signal_names_a_missing_signal_in_one_line_and_stays_flat_without_any(
    make_frame: Callable[..., pd.DataFrame],
) -> None:
    bars = _bars(make_frame, 20)
    with pytest.raises(InvalidInputError, match=r"no signal 'lgbm_v1'.*algotrader ml predict"):
        run_backtest(bars, get_strategy("ml_signal", signal="lgbm_v1"))
    assert run_backtest(bars, get_strategy("ml_signal")).metrics["num_trades"] == 0


def test_meta_refuses_a_member_that_is_not_a_column_or_strategy(
    make_frame: Callable[..., pd.DataFrame],
) -> None:
    with pytest.raises(InvalidInputError, match=r"signal:nope.*not a column"):
        run_backtest(_bars(make_frame, 20), get_strategy("meta", members="signal:nope=1"))
    with pytest.raises(InvalidInputError, match=r"unknown strategy 'ma_crosss'"):
        run_backtest(_bars(make_frame, 20), get_strategy("meta", members="ma_crosss"))
