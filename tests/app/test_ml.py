"""The ML use cases on a real database (SQLite and PostgreSQL): registry, forecasts, reports."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from algotrader.app import ml
from algotrader.app._stores import open_stores, stores_of
from algotrader.app.ingest import IngestWindow, ingest_symbol
from algotrader.config import Settings, load_settings
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.db.engine import open_database
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ml.features import DEFAULT_FEATURES
from algotrader.ml.pipeline import TrainConfig
from algotrader.timeframes import Duration, parse_duration, parse_resolution

DAILY = parse_resolution("1d")
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def ingest_fixed(url: str, symbols: tuple[str, ...], duration: str = "6 Y") -> None:
    """Synthetic daily bars ending on a fixed day, so every run sees the same numbers."""
    database = open_database(url)
    try:
        provider = SyntheticProvider(clock=lambda: NOW)
        window = IngestWindow(parse_duration(duration), end=NOW)
        for symbol in symbols:
            ingest_symbol(stores_of(database), provider, symbol, DAILY, window)
    finally:
        database.dispose()


@pytest.fixture
def settings(db_url: str, workdir: Path) -> Iterator[Settings]:
    ingest_fixed(db_url, ("AAPL", "MSFT"))
    yield load_settings(
        database_url=db_url, data_dir=str(workdir / "data"), log_dir=str(workdir / "logs")
    )


def train_request(model: str = "ridge", **config: object) -> ml.TrainRequest:
    base: dict[str, object] = {
        "model": model,
        "horizon": 5,
        "train": Duration(3, "Y"),
        "retrain_every": Duration(1, "Y"),
    }
    return ml.TrainRequest(("AAPL", "MSFT"), DAILY, TrainConfig(**{**base, **config}))  # type: ignore[arg-type]


def test_train_registers_the_model_and_its_hashed_artefact(settings: Settings) -> None:
    outcome = ml.train(settings, train_request("lightgbm", params={"n_estimators": 40}))
    info = ml.get_model(settings, "lightgbm")
    assert info == outcome.model and info.source == "lightgbm_v1"
    assert info.symbols == ("AAPL", "MSFT") and info.features == DEFAULT_FEATURES
    assert info.scheme == {
        "train": "3 Y",
        "retrain_every": "1 Y",
        "window": "sliding",
        "embargo": 5,
        "seed": 0,
    }
    assert len(info.periods) == 3 and info.train_start < info.train_end
    assert info.params["num_threads"] == 1 and info.params["n_estimators"] == 40
    assert {"python", "numpy", "lightgbm", "scikit-learn"} <= set(info.library_versions)
    artefact = (settings.data_dir / info.artefact_path).read_bytes()
    assert hashlib.sha256(artefact).hexdigest() == info.artefact_sha256
    assert info.metrics["overall"]["n"] > 0 and len(info.metrics["periods"]) == 3
    again = ml.train(settings, train_request("lightgbm", params={"n_estimators": 40}))
    assert again.model.version == 2 and again.model.metrics == info.metrics
    assert [m.source for m in ml.list_models(settings)] == ["lightgbm_v2", "lightgbm_v1"]


def test_predict_writes_the_out_of_sample_forecasts_once(settings: Settings) -> None:
    trained = ml.train(settings, train_request("ridge"))
    first = ml.predict(settings, ml.PredictRequest("ridge_v1"))
    assert first.rows == len(trained.predictions) == first.inserted
    with open_stores(settings) as stores:
        stored = stores.events.signals("AAPL", ["ridge_v1"])
    assert set(stored["name"]) == {"fwd_return_5"}
    expected = trained.predictions[trained.predictions["symbol"] == "AAPL"]
    np.testing.assert_array_equal(stored["value"].to_numpy(), expected["forecast"].to_numpy())
    np.testing.assert_array_equal(stored["ts"].to_numpy(), expected["ts"].to_numpy())
    second = ml.predict(settings, ml.PredictRequest("ridge"))
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, first.rows)
    with open_stores(settings) as stores:
        assert stores.events.signals("AAPL", ["ridge_v1"]).equals(stored)


def test_the_report_backtests_the_forecasts_it_describes(settings: Settings) -> None:
    ml.train(settings, train_request("ridge"))
    outcome = ml.report(settings, ml.ReportRequest("ridge_v1", ("AAPL",)))
    (test,) = outcome.backtests
    first_forecast = pd.Timestamp(outcome.model.periods[0]["test_start"])
    assert test.symbol == "AAPL" and test.result.equity.index[0] >= first_forecast
    assert test.metrics["num_trades"] > 0 and "buy_hold_return" in test.metrics


def test_a_regime_model_labels_bars_with_its_states(settings: Settings) -> None:
    request = train_request("hmm", features=("ret_1", "vol_20"), params={"states": 2, "n_iter": 20})
    info = ml.train(settings, request).model
    assert info.is_regime and info.signal_name == "regime"
    ml.predict(settings, ml.PredictRequest(info.source, ("AAPL",)))
    with open_stores(settings) as stores:
        labels = stores.events.signals("AAPL", [info.source])
    assert set(labels["name"]) == {"regime"} and set(labels["value"]) == {0.0, 1.0}
    assert ml.report(settings, ml.ReportRequest(info.source)).backtests == ()


def test_a_changed_or_missing_artefact_is_refused(settings: Settings) -> None:
    info = ml.train(settings, train_request("ridge")).model
    path = settings.data_dir / info.artefact_path
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(InvalidInputError, match=r"does not match its SHA-256"):
        ml.predict(settings, ml.PredictRequest(info.source))
    path.unlink()
    with pytest.raises(DataNotFoundError, match=r"artefact of model ridge_v1 is missing"):
        ml.predict(settings, ml.PredictRequest(info.source))
    with pytest.raises(DataNotFoundError, match=r"no model 'ridge_v9'.*did you mean 'ridge_v1'"):
        ml.predict(settings, ml.PredictRequest("ridge_v9"))


def test_too_little_data_registers_nothing(settings: Settings) -> None:
    with pytest.raises(DataNotFoundError, match=r"too little data"):
        ml.train(settings, train_request("ridge", train=Duration(10, "Y")))
    assert ml.list_models(settings) == [] and not (settings.data_dir / "models").exists()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"window": "slidng"}, "invalid window 'slidng'"),
        ({"model": "lgbmm"}, "unknown model 'lgbmm'"),
        ({"params": {"alpah": 1}}, "alpah"),
        ({"features": ("ret_1", "ret_7")}, "unknown feature 'ret_7'"),
        ({"target": "next_return"}, "next_return has a horizon of 1 bar"),
    ],
)
def test_bad_requests_fail_before_any_data_is_read(
    workdir: Path, config: dict[str, object], message: str
) -> None:
    # No bars are stored: each request must be refused on its own before "no bars" could be.
    settings = load_settings(data_dir=str(workdir / "data"), log_dir=str(workdir / "logs"))
    with pytest.raises(InvalidInputError, match=message):
        ml.train(settings, train_request(**config))  # type: ignore[arg-type]


def test_the_look_ahead_check_runs_on_the_stored_bars(settings: Settings) -> None:
    report = ml.check_features(settings, ml.CheckRequest("MSFT", DAILY, ("ret_1", "vol_20")))
    assert report.ok and report.features == ("ret_1", "vol_20") and report.bars > 1000


def test_the_migration_creates_the_table_the_model_declares(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from algotrader.db.models import Base

    database = open_database(db_url)
    try:
        with database.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        database.dispose()
    assert [d for d in diffs if "ml_models" in repr(d)] == []
