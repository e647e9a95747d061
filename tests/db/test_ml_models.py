"""The model registry (``ml_models`` + artefact files) and the signal upserts of the event store."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from algotrader.db.engine import Database, open_database
from algotrader.db.events import SqlEventStore
from algotrader.db.ml_models import SqlModelStore
from algotrader.errors import DataNotFoundError
from algotrader.ports.stores import ModelSpec, SignalRow

T0 = datetime(2024, 1, 2, tzinfo=UTC)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


def _spec(name: str = "ridge", kind: str = "ridge") -> ModelSpec:
    return ModelSpec(
        name=name,
        kind=kind,
        params={"alpha": 10.0},
        target="fwd_return",
        horizon=5,
        resolution="1d",
        symbols=("AAPL", "MSFT"),
        features=("ret_1", "vol_20"),
        scheme={"train": "3 Y", "retrain_every": None},
        periods=({"number": 1, "test_start": T0.isoformat(), "test_end": None},),
        train_start=T0 - timedelta(days=1000),
        train_end=T0,
        data_fingerprint="f" * 64,
        metrics={"overall": {"ic": 0.05}},
        library_versions={"python": "3.11"},
        code_version="0.1.0+test",
    )


def test_versions_count_per_name_and_every_reference_finds_its_model(
    db: Database, tmp_path: Path
) -> None:
    store = SqlModelStore(db, tmp_path)
    first = store.register(_spec(), b"one")
    second = store.register(_spec(), b"two")
    other = store.register(_spec("regime", "hmm"), b"three")
    assert [m.source for m in (first, second, other)] == ["ridge_v1", "ridge_v2", "regime_v1"]
    assert store.find("ridge") == second and store.find("RIDGE_V1") == first
    assert store.find(str(other.id)) == other and other.is_regime and not first.is_regime
    assert first.symbols == ("AAPL", "MSFT") and first.periods == _spec().periods
    assert [m.id for m in store.list()] == [other.id, second.id, first.id]
    assert store.artefact(second) == b"two"
    assert hashlib.sha256(b"two").hexdigest() == second.artefact_sha256
    with pytest.raises(DataNotFoundError, match=r"no model 'rigde'.*did you mean 'ridge'"):
        store.find("rigde")


def test_a_model_whose_artefact_cannot_be_written_is_not_registered(
    db: Database, tmp_path: Path
) -> None:
    blocker = tmp_path / "models"
    blocker.write_text("a file where the models directory should be")
    store = SqlModelStore(db, tmp_path)
    with pytest.raises(OSError):
        store.register(_spec(), b"payload")
    assert store.list() == []


def test_signal_upserts_insert_update_and_skip_what_is_already_stored(db: Database) -> None:
    events = SqlEventStore(db)
    rows = [SignalRow("AAPL", T0 + timedelta(days=k), "m_v1", "x", float(k)) for k in range(3)]
    first = events.upsert_signals(rows)
    assert (first.inserted, first.updated, first.unchanged) == (3, 0, 0)
    changed = [rows[0], SignalRow("AAPL", rows[1].ts, "m_v1", "x", 7.0, {"why": "refit"})]
    second = events.upsert_signals([*changed, SignalRow("MSFT", T0, "m_v1", "x", None)])
    assert (second.inserted, second.updated, second.unchanged) == (1, 1, 1)
    stored = events.signals("AAPL", ["m_v1"])
    assert stored["value"].tolist() == [0.0, 7.0, 2.0]
    assert events.signals("AAPL", end=rows[1].ts)["value"].tolist() == [0.0, 7.0]
    assert events.signals("MSFT")["value"].isna().all() and events.signals("AAPL", ["no"]).empty
