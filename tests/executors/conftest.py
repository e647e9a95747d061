"""Bar frames for the research tests: seeded random walks with noisy opens."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def random_walk(n: int, *, seed: int = 11, freq: str = "B", start: str = "2012-01-02",
                drift: float = 0.0002, unit: str = "us") -> pd.DataFrame:
    """``n`` OHLCV bars; the open differs from the previous close so fills matter."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(drift, 0.012, n)))
    open_ = np.r_[close[:1], close[:-1]] * (1 + rng.normal(0.0, 0.003, n))
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="ts").as_unit(unit)
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.004,
            "low": np.minimum(open_, close) * 0.996,
            "close": close,
            "volume": np.full(n, 1_000.0),
        },
        index=index,
    )


@pytest.fixture(scope="session")
def daily() -> pd.DataFrame:
    """700 business days of bars."""
    return random_walk(700)


@pytest.fixture(scope="session")
def daily_with_indicators() -> pd.DataFrame:
    from algotrader.indicators import compute_indicators

    frame = random_walk(700, seed=5)
    indicators = compute_indicators(frame)
    return frame.join(indicators[[c for c in indicators.columns if c not in frame.columns]])


@pytest.fixture(scope="session")
def walk():  # type: ignore[no-untyped-def]
    """The :func:`random_walk` builder, for tests that need their own bars."""
    return random_walk
