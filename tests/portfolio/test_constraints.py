"""Caps per symbol, sector and industry: clip and redistribute until none binds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from algotrader.portfolio import Portfolio, PortfolioConfig
from algotrader.portfolio.constraints import apply_caps, caps_for

SECTORS = {
    "AAA": ("Tech", "Software"),
    "BBB": ("Tech", "Hardware"),
    "CCC": ("Energy", "Oil"),
    "DDD": ("Energy", "Gas"),
    "EEE": ("Health", "Pharma"),
}


def _capped(weights: list[float], symbols: list[str], **config: object) -> np.ndarray:
    cfg = PortfolioConfig.from_kwargs(**config)
    return apply_caps(np.array(weights), caps_for(cfg, symbols))


def test_a_symbol_cap_passes_the_excess_to_the_others_pro_rata() -> None:
    out = _capped([0.5, 0.3, 0.2], ["A", "B", "C"], max_weight=0.4)
    np.testing.assert_allclose(out, [0.4, 0.3 + 0.1 * 0.6, 0.2 + 0.1 * 0.4])


def test_redistribution_repeats_until_no_cap_binds() -> None:
    # 0.6 -> 0.35 gives 0.25 to B and C (0.1875, 0.0625); B then exceeds and passes 0.1375 to C.
    out = _capped([0.6, 0.3, 0.1], ["A", "B", "C"], max_weight=0.35)
    np.testing.assert_allclose(out, [0.35, 0.35, 0.30])


def test_what_no_symbol_can_take_stays_in_cash() -> None:
    out = _capped([0.5, 0.5], ["A", "B"], max_weight=0.3)
    np.testing.assert_allclose(out, [0.3, 0.3])


def test_a_sector_cap_scales_the_sector_and_feeds_the_rest() -> None:
    symbols = ["AAA", "BBB", "CCC"]
    out = _capped([0.4, 0.4, 0.2], symbols, sectors=SECTORS, sector_caps={"Tech": 0.5})
    np.testing.assert_allclose(out, [0.25, 0.25, 0.5])
    both = _capped([0.4, 0.4, 0.2], symbols, sectors=SECTORS, sector_caps={"Tech": 0.5},
                   max_weight=0.4)
    np.testing.assert_allclose(both, [0.25, 0.25, 0.4])


def test_a_star_cap_applies_to_every_sector_and_industry_caps_too() -> None:
    symbols = list(SECTORS)
    out = _capped([0.3, 0.3, 0.2, 0.1, 0.1], symbols, sectors=SECTORS, sector_caps=0.45,
                  industry_caps={"Software": 0.2})
    assert out[:2].sum() <= 0.45 + 1e-12 and out[2:4].sum() <= 0.45 + 1e-12
    assert out[0] <= 0.2 + 1e-12
    assert out.sum() == pytest.approx(1.0)


def test_caps_hold_on_every_rebalance_of_a_run(five_symbols: dict[str, pd.DataFrame]) -> None:
    result = Portfolio(
        five_symbols, "inverse_vol", "monthly", max_weight=0.3, sectors=SECTORS,
        sector_caps={"Energy": 0.35},
    ).run(lookback=20)
    targets = result.targets.iloc[2:]
    assert (targets.to_numpy() <= 0.3 + 1e-12).all()
    assert (targets[["CCC", "DDD"]].sum(axis=1) <= 0.35 + 1e-12).all()
    np.testing.assert_allclose(targets.sum(axis=1), 1.0)
    assert np.isclose(targets["AAA"], 0.3).any()  # the least volatile: the cap binds


def test_sector_caps_without_sectors_are_refused() -> None:
    from algotrader.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="need the symbols' sectors"):
        PortfolioConfig(sector_caps={"Tech": 0.3})
