"""Results to report on, and a headless Chromium (Debian's, never a downloaded one)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

CHROMIUM = Path(os.environ.get("ALGOTRADER_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="session")
def minute_frame() -> pd.DataFrame:
    """About 100,000 synthetic 1-minute bars with indicators (a year of RTH sessions)."""
    from algotrader.data.providers.synthetic import SyntheticProvider
    from algotrader.indicators import compute_indicators
    from algotrader.timeframes import parse_resolution

    bars = SyntheticProvider().fetch_bars(
        "QQQ", parse_resolution("1m"), datetime(2023, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    return pd.concat([bars, compute_indicators(bars)], axis=1)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium for the module (CI: required; elsewhere skipped when absent).

    Never wider than a module: Playwright's sync API runs an event loop in this thread while
    it is open, which would break other modules' ``asyncio.run`` on the same worker.
    """
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
