"""Indicator declarations drive the frame columns, the models, the schema and the computation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Float, create_engine, inspect

from algotrader.frames import (
    INDICATOR_COLUMNS,
    STORED_INDICATORS,
    IndicatorSpec,
    spec_for,
)
from algotrader.indicators import compute_indicators
from algotrader.indicators.registry import kernel_of


def make_bars(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, n)))
    high = close * (1.0 + rng.exponential(0.005, n))
    low = close * (1.0 - rng.exponential(0.005, n))
    index = pd.date_range("2015-01-01", periods=n, freq="D", tz="UTC", name="ts")
    return pd.DataFrame({"open": close, "high": high, "low": low, "close": close}, index=index)


def test_every_declared_column_exists_in_the_migrated_schema(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        columns = {c["name"]: c for c in inspect(engine).get_columns("market_prices")}
    finally:
        engine.dispose()
    missing = [name for name in INDICATOR_COLUMNS if name not in columns]
    assert not missing, f"add a migration for {missing}"
    for name in INDICATOR_COLUMNS:
        assert columns[name]["nullable"], name
        assert isinstance(columns[name]["type"], Float), name


def test_frame_columns_and_models_follow_the_declarations() -> None:
    from algotrader.db.models import MarketPrice
    from algotrader.indicators import INDICATOR_COLUMNS as indicator_columns

    declared = tuple(c for spec in STORED_INDICATORS for c in spec.outputs)
    assert indicator_columns == declared == INDICATOR_COLUMNS
    table = MarketPrice.__table__.columns
    assert all(table[name].nullable for name in declared)
    assert len(set(declared)) == len(declared)


def test_every_declared_kernel_is_a_cached_compiled_function() -> None:
    from numba.core.caching import NullCache

    for spec in STORED_INDICATORS:
        kernel = kernel_of(spec)
        assert not isinstance(kernel._cache, NullCache), spec.kernel


@pytest.mark.parametrize("spec", STORED_INDICATORS, ids=lambda s: s.name)
def test_declared_warmup_is_the_number_of_leading_nans(spec: IndicatorSpec) -> None:
    out = compute_indicators(make_bars(400, seed=2), spec.outputs)
    for column in spec.outputs:
        values = out[column].to_numpy()
        assert np.isnan(values[: spec.warmup]).all(), column
        assert np.isfinite(values[spec.warmup :]).all(), column


def test_asking_for_some_columns_computes_only_their_indicators_bit_for_bit() -> None:
    bars = make_bars(1500, seed=9)
    full = compute_indicators(bars)
    part = compute_indicators(bars, ["rsi", "bb_upper"])
    assert list(part.columns) == ["bb_mid", "bb_upper", "bb_lower", "rsi"]
    for column in part.columns:
        assert part[column].to_numpy().tobytes() == full[column].to_numpy().tobytes()


def test_unknown_columns_are_ignored_and_nothing_is_computed() -> None:
    out = compute_indicators(make_bars(30), ["sma_fast"])
    assert out.shape == (30, 0)


def test_spec_for_maps_each_column_to_its_indicator() -> None:
    assert spec_for("macd_signal").name == "macd"
    assert spec_for("bb_lower").param_values == (20, 2.0, 2.0)
    with pytest.raises(KeyError):
        spec_for("close")


def test_a_declaration_must_read_bar_columns() -> None:
    with pytest.raises(ValueError, match="bar columns"):
        IndicatorSpec("x", ("x",), ("ma20",), (), 0, "_sma_into", "reads an indicator")


def test_reading_the_declarations_does_not_import_numba() -> None:
    code = (
        "import sys; import algotrader.db.models, algotrader.indicators.registry as r; "
        "assert r.INDICATOR_COLUMNS; print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
