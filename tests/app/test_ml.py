"""The ML use cases on a real database (SQLite and PostgreSQL): registry, signals, strategies."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from algotrader.app import ml
from algotrader.app._stores import stores_of
from algotrader.app.ingest import IngestWindow, ingest_symbol
from algotrader.backtest.result import BacktestConfig
from algotrader.data.events import read_events
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.db.engine import Database, open_database
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ml.features import DEFAULT_FEATURES
from algotrader.ml.pipeline import TrainConfig
from algotrader.timeframes import Duration, parse_duration, parse_resolution

DAILY = parse_resolution("1d")
NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def db(db_url: str) -> Database:
    database = open_database(db_url)
    with database.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM ml_models")
    stores = stores_of(database)
    provider = SyntheticProvider(clock=lambda: NOW)
    for symbol in ("AAPL", "MSFT"):
        ingest_symbol(stores, provider, symbol, DAILY, IngestWindow(parse_duration("6 Y"), end=NOW))
    yield database
    database.dispose()


def _request(model: str = "ridge", **config: object) -> ml.TrainRequest:
    base: dict[str, object] = {
        "model": model,
        "horizon": 5,
        "train": Duration(3, "Y"),
        "retrain_every": Duration(1, "Y"),
    }
    return ml.TrainRequest(("AAPL", "MSFT"), DAILY, TrainConfig(**{**base, **config}))  # type: ignore[arg-type]


def test_train_registers_the_model_and_its_hashed_artefact(db: Database, tmp_path: Path) -> None:
    outcome = ml.train(db, tmp_path, _request("lightgbm", params={"n_estimators": 40}))
    info = ml.get_model(db, "lightgbm")
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
    artefact = (tmp_path / info.artefact_path).read_bytes()
    assert hashlib.sha256(artefact).hexdigest() == info.artefact_sha256
    assert info.metrics["overall"]["n"] > 0 and len(info.metrics["periods"]) == 3
    again = ml.train(db, tmp_path, _request("lightgbm", params={"n_estimators": 40}))
    assert again.model.version == 2 and again.model.metrics == info.metrics


def test_predict_writes_the_out_of_sample_forecasts_once(db: Database, tmp_path: Path) -> None:
    trained = ml.train(db, tmp_path, _request("ridge"))
    first = ml.predict(db, tmp_path, "ridge_v1")
    assert first.rows == len(trained.predictions) == first.inserted
    stored = ml.read_signals(db, "AAPL", ["ridge_v1"])
    assert set(stored["name"]) == {"fwd_return_5"}
    expected = trained.predictions[trained.predictions["symbol"] == "AAPL"]
    np.testing.assert_array_equal(stored["value"].to_numpy(), expected["forecast"].to_numpy())
    second = ml.predict(db, tmp_path, "ridge")
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, first.rows)
    assert ml.read_signals(db, "AAPL", ["ridge_v1"]).equals(stored)


def test_strategies_read_stored_forecasts_regimes_and_events(db: Database, tmp_path: Path) -> None:
    ml.train(db, tmp_path, _request("ridge"))
    ml.predict(db, tmp_path, "ridge_v1")
    ml.train(
        db,
        tmp_path,
        _request("hmm", features=("ret_1", "vol_20"), params={"states": 2, "n_iter": 20}),
    )
    ml.predict(db, tmp_path, "hmm_v1", ["AAPL"])
    events = tmp_path / "events.csv"
    events.write_text("symbol,ts,kind,name\nAAPL,2023-05-04T21:00:00Z,earnings,Q2\n")
    market, own = read_events(events)
    stores_of(db).events.upsert("market_events", market)
    stores_of(db).events.upsert("symbol_events", own)
    frame = ml.load_bars_with_signals(db, "AAPL", "1d")
    assert set(frame["regime"].dropna()) == {0.0, 1.0}
    first = frame["signal:ridge_v1"].first_valid_index()
    assert first == pd.Timestamp(ml.get_model(db, "ridge_v1").periods[0]["test_start"])
    assert frame.loc["2023-05-05", "event:earnings"] == 1 and frame["event:earnings"].sum() == 1
    result = ml.backtest_with_signals(
        db, "AAPL", DAILY, "ml_signal", {"signal": "ridge_v1"}, BacktestConfig()
    )
    assert result.metrics["num_trades"] > 0
    report = ml.report(db, tmp_path, "ridge_v1", symbols=["AAPL"])
    assert report.backtests[0].result.metrics["num_trades"] == result.metrics["num_trades"]


def test_a_changed_or_missing_artefact_is_refused(db: Database, tmp_path: Path) -> None:
    info = ml.train(db, tmp_path, _request("ridge")).model
    path = tmp_path / info.artefact_path
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(InvalidInputError, match=r"does not match its SHA-256"):
        ml.predict(db, tmp_path, info.source)
    path.unlink()
    with pytest.raises(DataNotFoundError, match=r"artefact of model ridge_v1 is missing"):
        ml.predict(db, tmp_path, info.source)
    with pytest.raises(DataNotFoundError, match=r"no model 'ridge_v9'.*did you mean 'ridge_v1'"):
        ml.predict(db, tmp_path, "ridge_v9")


def test_too_little_data_registers_nothing(db: Database, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"too little data"):
        ml.train(db, tmp_path, _request("ridge", train=Duration(10, "Y")))
    assert ml.list_models(db) == [] and not (tmp_path / "models").exists()


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
