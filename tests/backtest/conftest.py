"""Hand-built bar frames for engine tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest


def build_frame(
    close: Sequence[float], open_: Sequence[float] | None = None, **extra: Sequence[float]
) -> pd.DataFrame:
    """Daily bars with the given closes (opens default to the previous close, first = close)."""
    c = np.asarray(close, dtype=np.float64)
    o = np.asarray(open_, dtype=np.float64) if open_ is not None else np.r_[c[:1], c[:-1]]
    index = pd.date_range("2024-01-01", periods=c.size, freq="D", tz="UTC", name="ts")
    frame = pd.DataFrame(
        {
            "open": o,
            "high": np.maximum(o, c) + 1.0,
            "low": np.minimum(o, c) - 1.0,
            "close": c,
            "volume": np.full(c.size, 1000.0),
        },
        index=index,
    )
    for name, values in extra.items():
        frame[name] = np.asarray(values, dtype=np.float64)
    return frame


@pytest.fixture
def make_frame() -> Callable[..., pd.DataFrame]:
    return build_frame


def synthetic_indicator_frame(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    """A random walk with plausible indicator columns (pandas approximations, warm-up NaNs)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, n)))
    frame = build_frame(close, np.r_[close[:1], close[:-1]] * (1 + rng.normal(0, 0.003, n)))
    c = frame["close"]
    frame["ma20"] = c.rolling(20).mean()
    frame["ma50"] = c.rolling(50).mean()
    frame["ema_fast"] = c.ewm(span=12, adjust=False).mean()
    frame["ema_slow"] = c.ewm(span=26, adjust=False).mean()
    macd = frame["ema_fast"] - frame["ema_slow"]
    frame["macd"] = macd.where(np.arange(n) >= 25)
    frame["macd_signal"] = frame["macd"].ewm(span=9, adjust=False).mean()
    sd = c.rolling(20).std(ddof=0)
    frame["bb_mid"] = frame["ma20"]
    frame["bb_upper"] = frame["ma20"] + 2 * sd
    frame["bb_lower"] = frame["ma20"] - 2 * sd
    delta = c.diff()
    gain = delta.clip(lower=0).rolling(14).mean()
    loss = (-delta.clip(upper=0)).rolling(14).mean()
    frame["rsi"] = 100 - 100 / (1 + gain / loss)
    frame["tr"] = (frame["high"] - frame["low"]).where(np.arange(n) > 0)
    frame["atr"] = frame["tr"].rolling(14).mean()
    frame["ath"] = frame["high"].cummax()
    trend = np.where(c > frame["ma20"], 1.0, -1.0)
    trend[:19] = np.nan
    frame["supertrend_trend"] = trend
    band = frame["ma20"] - np.where(trend > 0, 1.0, -1.0) * frame["atr"]
    frame["supertrend"] = band
    frame["supertrend_upper"] = frame["ma20"] + frame["atr"]
    frame["supertrend_lower"] = frame["ma20"] - frame["atr"]
    return frame


@pytest.fixture(scope="session")
def indicator_frame() -> pd.DataFrame:
    return synthetic_indicator_frame()
