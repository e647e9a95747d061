"""Bar frames with known statistical structure for the ML tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest


def ar_bars(n: int, beta: float, seed: int, start: str = "2010-01-04") -> pd.DataFrame:
    """Daily bars whose next log return is ``beta`` x the last one plus noise (beta=0: noise).

    With beta = 0.3 the feature ``ret_1`` (the last log return) predicts the next return with a
    correlation of 0.3: the planted, learnable component.
    """
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 0.01, n)
    ret = np.empty(n)
    ret[0] = noise[0]
    for t in range(1, n):
        ret[t] = beta * ret[t - 1] + noise[t]
    close = 50.0 * np.exp(np.cumsum(ret))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0.0, 0.004, n))
    index = pd.bdate_range(start, periods=n, tz="UTC", name="ts").as_unit("us")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1 + spread),
            "low": np.minimum(open_, close) * (1 - spread),
            "close": close,
            "volume": rng.integers(10_000, 20_000, n).astype(np.float64),
        },
        index=index,
    )


@pytest.fixture
def make_ar_bars() -> Callable[..., pd.DataFrame]:
    return ar_bars
