from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algotrader.indicators import compute_indicators
from algotrader.research.lookahead import check_lookahead
from algotrader.strategies import Strategy, list_strategies


class PeeksInPrepare(Strategy):
    """Deliberately biased: trades on tomorrow's close."""

    name = "peeks_in_prepare"

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(tomorrow=frame["close"].shift(-1))

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> str:
        return "BUY" if row["tomorrow"] > row["close"] else "SELL"


class PeeksInSignals(Strategy):
    """Honest on_bar, biased vectorised signals."""

    name = "peeks_in_signals"

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> None:
        return None

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        close = frame["close"]
        return np.where(close.shift(-1) > close, 1, 0).astype(np.int8)


class CentredMean(Strategy):
    """A centred rolling mean: every value uses two future bars."""

    name = "centred"

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(mid=frame["close"].rolling(5, center=True).mean())

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> str:
        return "BUY" if row["close"] > row["mid"] else "SELL"


def test_shift_minus_one_in_prepare_is_caught(daily: pd.DataFrame) -> None:
    report = check_lookahead(daily, PeeksInPrepare)
    assert report.biased
    assert any(f.kind == "column" and f.name == "tomorrow" for f in report.findings)
    assert report.verdict.startswith("peeks_in_prepare: LOOK-AHEAD BIAS: column 'tomorrow'")


def test_shift_minus_one_in_signals_is_caught(daily: pd.DataFrame) -> None:
    report = check_lookahead(daily, PeeksInSignals)
    assert report.biased
    kinds = {f.kind for f in report.findings}
    assert "signal" in kinds and "paths" in kinds


def test_a_centred_window_is_caught(daily: pd.DataFrame) -> None:
    report = check_lookahead(daily, CentredMean)
    probes = {f.probe for f in report.findings if f.name == "mid"}
    assert probes == {"cut", "perturb"}


@pytest.mark.parametrize(
    "name", [i.name for i in list_strategies() if i.source == "builtin"]
)
def test_every_builtin_passes(daily_with_indicators: pd.DataFrame, name: str) -> None:
    report = check_lookahead(daily_with_indicators, name, max_cuts=6)
    assert not report.biased, report.verdict
    assert report.paths_compared
    assert "no look-ahead found" in report.verdict


def test_indicators_can_be_checked_too(daily: pd.DataFrame) -> None:
    def with_indicators(frame: pd.DataFrame) -> pd.DataFrame:
        computed = compute_indicators(frame)
        return frame.join(computed[[c for c in computed.columns if c not in frame.columns]])

    report = check_lookahead(daily, "rsi", max_cuts=4, indicators=with_indicators)
    assert not report.biased and "rsi" in report.columns and "supertrend" in report.columns
    assert report.to_dict()["verdict"] == report.verdict
