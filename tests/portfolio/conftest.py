"""Bar frames for the portfolio tests: seeded random walks and tiny hand-made series."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest


def walk_bars(
    symbols: Sequence[str], n: int = 400, *, seed: int = 3, start: str = "2020-01-01",
    freq: str = "B",
) -> dict[str, pd.DataFrame]:
    """One random-walk OHLCV frame per symbol on a shared calendar (different volatilities)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="ts")
    out = {}
    for k, symbol in enumerate(symbols):
        vol = 0.008 + 0.004 * k
        close = 50.0 * (1 + k) * np.exp(np.cumsum(rng.normal(0.0002, vol, n)))
        open_ = close * np.exp(rng.normal(0.0, vol / 3, n))
        out[symbol] = pd.DataFrame(
            {
                "open": open_,
                "high": np.maximum(open_, close) * 1.002,
                "low": np.minimum(open_, close) * 0.998,
                "close": close,
                "volume": np.full(n, 1e6),
            },
            index=index,
        )
    return out


def hand_bars(rows: Sequence[tuple[str, float, float]]) -> pd.DataFrame:
    """A frame from (date, open, close) rows; high/low bracket them."""
    index = pd.DatetimeIndex([pd.Timestamp(d, tz="UTC") for d, _, _ in rows], name="ts")
    open_ = np.array([o for _, o, _ in rows], dtype=np.float64)
    close = np.array([c for _, _, c in rows], dtype=np.float64)
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close), "low": np.minimum(open_, close),
         "close": close, "volume": 100.0},
        index=index,
    )


@pytest.fixture(scope="module")
def five_symbols() -> dict[str, pd.DataFrame]:
    return walk_bars(["AAA", "BBB", "CCC", "DDD", "EEE"], n=400)
