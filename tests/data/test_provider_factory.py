"""get_provider: names to providers, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from algotrader.config import Settings
from algotrader.data.providers import PROVIDER_NAMES, BarProvider, get_provider
from algotrader.data.providers.csv import CsvProvider
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.errors import InvalidInputError


def test_synthetic_by_name() -> None:
    provider = get_provider("synthetic", Settings())
    assert isinstance(provider, SyntheticProvider)
    assert isinstance(provider, BarProvider)


def test_name_is_case_insensitive() -> None:
    assert get_provider(" Synthetic ", Settings()).name == "synthetic"


def test_csv_by_name_with_a_path(tmp_path: Path) -> None:
    provider = get_provider("csv", Settings(), csv_path=tmp_path / "prices.csv")
    assert isinstance(provider, CsvProvider)
    assert provider.label == "CSV file prices.csv"


def test_csv_without_a_path_says_to_pass_csv() -> None:
    with pytest.raises(InvalidInputError, match="--csv PATH"):
        get_provider("csv", Settings())


def test_unknown_name_suggests_the_closest_and_lists_all() -> None:
    with pytest.raises(InvalidInputError) as info:
        get_provider("synthetc", Settings())
    message = str(info.value)
    assert "did you mean 'synthetic'" in message
    for name in PROVIDER_NAMES:
        assert name in message


def test_ibkr_is_a_known_name() -> None:
    assert "ibkr" in PROVIDER_NAMES
