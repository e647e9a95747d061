"""Bar frames for chart tests: daily from the shared fixture, hourly from the synthetic source."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.indicators import compute_indicators
from algotrader.timeframes import parse_resolution


@pytest.fixture(scope="session")
def hourly_frame() -> pd.DataFrame:
    """Three weeks of synthetic 1-hour RTH bars (nights and two weekends between sessions)."""
    bars = SyntheticProvider().fetch_bars(
        "SPY", parse_resolution("1h"), datetime(2024, 3, 4, tzinfo=UTC),
        datetime(2024, 3, 23, tzinfo=UTC),
    )
    indicators = compute_indicators(bars)
    return pd.concat([bars, indicators], axis=1)
