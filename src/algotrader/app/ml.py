"""ML use cases: train (-> model registry), predict (-> external_signals), report, and the bars
with their aligned signals for strategies.

Models are stored twice: a row in ``ml_models`` (what, on which data, how well, library versions)
and an artefact file under ``<data_dir>/models/`` whose SHA-256 the row records and which is
checked before the file is unpickled. A model is referred to as ``NAME_vVERSION`` (its signal
source, e.g. ``lightgbm_v3``), ``NAME`` (latest version) or its numeric id.

>>> outcome = train(db, Path("data"), TrainRequest(("AAPL",), parse_resolution("1d"),
...                 TrainConfig(model="lightgbm", horizon=5)))               # doctest: +SKIP
>>> predict(db, Path("data"), outcome.model.source)                         # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import json
import math
import os
import pickle
import platform
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from algotrader.app._provenance import code_version, fingerprint
from algotrader.app._stores import stores_of
from algotrader.app.bars import fetch_command, load_bars, slice_to_duration
from algotrader.backtest.engine import run_backtest
from algotrader.backtest.result import BacktestConfig, Result
from algotrader.db.engine import Database
from algotrader.db.models import Base, ExternalSignal, MarketEvent, MlModel, SymbolEvent
from algotrader.db.store import SqlBarStore
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ml.align import attach_signals
from algotrader.ml.features import EventTimes
from algotrader.ml.lookahead import LookaheadReport, check_lookahead
from algotrader.ml.models import model_kind
from algotrader.ml.pipeline import TrainConfig, TrainedModel, train_walk_forward
from algotrader.ml.splits import Period
from algotrader.strategies.ml_signal import MLSignal
from algotrader.strategies.registry import get_strategy
from algotrader.timeframes import Duration, Resolution, parse_resolution

MODELS_DIR = "models"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_VERSIONED_RE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)_v(?P<version>[0-9]+)$")
_LIBRARIES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "xgboost",
    "xgboost-cpu",
    "hmmlearn",
    "torch",
    "algotrader",
)


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


# ------------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class ModelInfo:
    """One registry row, as shown to users."""

    id: int
    name: str
    version: int
    kind: str
    params: dict[str, Any]
    target: str
    horizon: int
    resolution: str
    symbols: tuple[str, ...]
    features: tuple[str, ...]
    scheme: dict[str, Any]
    periods: tuple[dict[str, Any], ...]
    train_start: datetime
    train_end: datetime
    metrics: dict[str, Any]
    artefact_path: str
    artefact_sha256: str
    library_versions: dict[str, str]
    created_at: datetime

    @property
    def source(self) -> str:
        """The ``external_signals.source`` of its forecasts (``row["signal:<source>"]``)."""
        return f"{self.name}_v{self.version}"

    @property
    def is_regime(self) -> bool:
        return model_kind(self.kind).regime

    @property
    def signal_name(self) -> str:
        """The ``external_signals.name`` of its forecasts."""
        return "regime" if self.is_regime else f"{self.target}_{self.horizon}"

    @classmethod
    def from_row(cls, row: RowMapping) -> ModelInfo:
        return cls(
            id=int(row["id"]),
            name=row["name"],
            version=int(row["version"]),
            kind=row["kind"],
            params=dict(row["params"]),
            target=row["target"],
            horizon=int(row["horizon"]),
            resolution=row["resolution"],
            symbols=tuple(row["symbols"]),
            features=tuple(row["features"]),
            scheme=dict(row["scheme"]),
            periods=tuple(row["periods"]),
            train_start=row["train_start"],
            train_end=row["train_end"],
            metrics=dict(row["metrics"]),
            artefact_path=row["artefact_path"],
            artefact_sha256=row["artefact_sha256"],
            library_versions=dict(row["library_versions"]),
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class TrainRequest:
    """``algotrader ml train``: which bars, which model (``config``), under which name."""

    symbols: tuple[str, ...]
    resolution: Resolution
    config: TrainConfig
    name: str | None = None
    duration: Duration | None = None


@dataclass(frozen=True)
class TrainOutcome:
    model: ModelInfo
    predictions: pd.DataFrame


@dataclass(frozen=True)
class PredictOutcome:
    model: ModelInfo
    symbols: tuple[str, ...]
    rows: int
    inserted: int
    updated: int
    unchanged: int
    first_ts: datetime | None
    last_ts: datetime | None


@dataclass(frozen=True)
class SymbolBacktest:
    """``ml_signal`` trading one symbol's out-of-sample forecasts, next to buy & hold."""

    symbol: str
    result: Result

    @property
    def metrics(self) -> dict[str, Any]:
        return self.result.metrics


@dataclass(frozen=True)
class ReportOutcome:
    model: ModelInfo
    backtests: tuple[SymbolBacktest, ...]


# ----------------------------------------------------------------------------------- reading


def _load_frames(
    db: Database, symbols: Sequence[str], resolution: str, duration: Duration | None = None
) -> dict[str, pd.DataFrame]:
    store = SqlBarStore(db)
    frames = {}
    for symbol in symbols:
        frame = slice_to_duration(store.load_bars(symbol, resolution), duration)
        if frame.empty:
            raise DataNotFoundError(
                f"no {resolution} bars of {symbol} in the database",
                f"ingest them with `{fetch_command(symbol, resolution, duration)}`",
            )
        frames[symbol] = frame
    return frames


def read_signals(db: Database, symbol: str, sources: Sequence[str] | None = None) -> pd.DataFrame:
    """The stored signals of ``symbol`` (columns ts, source, name, value), all sources or some."""
    table = _table(ExternalSignal)
    query = select(table.c.ts, table.c.source, table.c.name, table.c.value).where(
        table.c.symbol == symbol
    )
    if sources:
        query = query.where(table.c.source.in_(list(sources)))
    with db.engine.connect() as conn:
        rows = conn.execute(query.order_by(table.c.source, table.c.name, table.c.ts)).all()
    frame = pd.DataFrame(rows, columns=["ts", "source", "name", "value"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["value"] = frame["value"].astype(np.float64)
    missing = sorted(set(sources or ()) - set(frame["source"]))
    if missing:
        raise DataNotFoundError(
            f"no signals from {', '.join(map(repr, missing))} for {symbol}",
            f"write them with `algotrader ml predict {missing[0]} -s {symbol}`",
        )
    return frame


def read_events(db: Database, symbol: str) -> pd.DataFrame:
    """Events visible to ``symbol``: its own (scope "symbol") and market-wide ("market")."""
    symbol_table, market_table = _table(SymbolEvent), _table(MarketEvent)
    with db.engine.connect() as conn:
        own = conn.execute(
            select(symbol_table.c.ts, symbol_table.c.kind).where(symbol_table.c.symbol == symbol)
        ).all()
        market = conn.execute(select(market_table.c.ts, market_table.c.kind)).all()
    frame = pd.DataFrame(
        [(ts, kind, "symbol") for ts, kind in own] + [(ts, kind, "market") for ts, kind in market],
        columns=["ts", "kind", "scope"],
    )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def load_bars_with_signals(
    db: Database,
    symbol: str,
    resolution: str | Resolution,
    *,
    sources: Sequence[str] | None = None,
    duration: Duration | None = None,
    regime_source: str | None = None,
    max_age: pd.Timedelta | None = None,
) -> pd.DataFrame:
    """Stored bars (with indicators) plus ``signal:*``, ``regime`` and ``event:*`` columns,
    aligned without look-ahead (:func:`algotrader.ml.align.attach_signals`)."""
    res = resolution if isinstance(resolution, Resolution) else parse_resolution(resolution)
    frame = load_bars(stores_of(db), symbol, res, duration)
    return attach_signals(
        frame,
        read_signals(db, symbol, sources),
        read_events(db, symbol),
        max_age=max_age,
        regime_source=regime_source,
    )


def _event_times(db: Database, symbols: Sequence[str]) -> dict[str, EventTimes]:
    return {s: EventTimes.from_frame(read_events(db, s)) for s in symbols}


# ---------------------------------------------------------------------------------- registry


def _find_row(conn: Connection, ref: str) -> RowMapping:
    table = _table(MlModel)
    text = str(ref).strip()
    query = select(table)
    versioned = _VERSIONED_RE.match(text.lower())
    if text.isdigit():
        query = query.where(table.c.id == int(text))
    elif versioned:
        query = query.where(
            table.c.name == versioned["name"], table.c.version == int(versioned["version"])
        )
    else:
        query = query.where(table.c.name == text.lower()).order_by(table.c.version.desc())
    row = conn.execute(query.limit(1)).mappings().first()
    if row is not None:
        return row
    known = [f"{n}_v{v}" for n, v in conn.execute(select(table.c.name, table.c.version)).all()]
    close = difflib.get_close_matches(
        text.lower(), known + sorted({k.rsplit("_v", 1)[0] for k in known}), n=1
    )
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise DataNotFoundError(
        f"no model {text!r} in the registry",
        f"{hint}see `algotrader ml list`, or train one with `algotrader ml train`",
    )


def get_model(db: Database, ref: str) -> ModelInfo:
    """The registry row of ``ref`` (``NAME_vN``, ``NAME`` for the latest version, or an id)."""
    with db.engine.connect() as conn:
        return ModelInfo.from_row(_find_row(conn, ref))


def list_models(db: Database) -> list[ModelInfo]:
    """Every registered model, newest first."""
    table = _table(MlModel)
    with db.engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.id.desc())).mappings().all()
    return [ModelInfo.from_row(row) for row in rows]


def load_model(db: Database, data_dir: Path, ref: str) -> tuple[ModelInfo, TrainedModel]:
    """The registry row and the trained model, after checking the artefact's SHA-256."""
    info = get_model(db, ref)
    path = Path(data_dir) / info.artefact_path
    if not path.is_file():
        raise DataNotFoundError(
            f"the artefact of model {info.source} is missing ({path})",
            "point --data-dir at the directory it was trained with, or train it again",
        )
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != info.artefact_sha256:
        raise InvalidInputError(
            f"the artefact of model {info.source} ({path}) does not match its SHA-256 "
            "in the registry",
            "it changed after training: train the model again",
        )
    model_kind(info.kind).require()
    trained = pickle.loads(payload)  # trusted: our own file, hash checked above
    return info, trained


def library_versions() -> dict[str, str]:
    """Python and the installed versions of the libraries a model depends on."""
    out = {"python": platform.python_version()}
    for dist in _LIBRARIES:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _json_safe(value: Any) -> Any:
    """NaN/inf as None, numpy scalars as Python ones: PostgreSQL's JSON rejects NaN."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _write_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _register(db: Database, data_dir: Path, values: dict[str, Any], payload: bytes) -> ModelInfo:
    """Insert the row with the next version of its name and write its artefact, atomically."""
    table = _table(MlModel)
    digest = hashlib.sha256(payload).hexdigest()
    for _ in range(5):
        written: Path | None = None
        try:
            with db.engine.begin() as conn:
                last = conn.execute(
                    select(func.max(table.c.version)).where(table.c.name == values["name"])
                ).scalar_one_or_none()
                version = int(last or 0) + 1
                relative = f"{MODELS_DIR}/{values['name']}_v{version}_{digest[:12]}.pkl"
                conn.execute(
                    table.insert().values(
                        **values,
                        version=version,
                        artefact_path=relative,
                        artefact_sha256=digest,
                    )
                )
                written = Path(data_dir) / relative
                _write_atomic(written, payload)
                row = (
                    conn.execute(
                        select(table).where(
                            table.c.name == values["name"], table.c.version == version
                        )
                    )
                    .mappings()
                    .one()
                )
            return ModelInfo.from_row(row)
        except IntegrityError:
            if written is not None:
                written.unlink(missing_ok=True)
            continue  # another process took this version meanwhile
        except BaseException:
            if written is not None:
                written.unlink(missing_ok=True)
            raise
    raise RuntimeError(f"could not allocate a version for model {values['name']!r}")


# ---------------------------------------------------------------------------------- use cases


def _model_name(request: TrainRequest) -> str:
    name = (request.name or request.config.kind.name).strip().lower()
    if not _NAME_RE.match(name) or _VERSIONED_RE.match(name):
        raise InvalidInputError(
            f"invalid model name {name!r}",
            "use lowercase letters, digits and _ (starting with a letter, not ending in _vN)",
        )
    return name


def _scheme(config: TrainConfig) -> dict[str, Any]:
    return {
        "train": str(config.train),
        "retrain_every": str(config.retrain_every) if config.retrain_every else None,
        "window": config.window,
        "embargo": config.embargo_bars,
        "seed": config.seed,
    }


def _data_fingerprint(frames: dict[str, pd.DataFrame]) -> str:
    digest = hashlib.sha256()
    for symbol, frame in sorted(frames.items()):
        digest.update(f"{symbol}:{fingerprint(frame)};".encode())
    return digest.hexdigest()


def _utc(ns: int) -> datetime:
    return pd.Timestamp(ns, tz="UTC").to_pydatetime()


def train(
    db: Database,
    data_dir: Path,
    request: TrainRequest,
    on_period: Callable[[Period, int], None] | None = None,
) -> TrainOutcome:
    """Train walk-forward on the stored bars, store the model (row + artefact), return both."""
    name = _model_name(request)
    kind = request.config.kind
    kind.params(request.config.params)  # refuse a bad parameter before loading any data
    kind.require()
    frames = _load_frames(db, request.symbols, request.resolution.name, request.duration)
    result = train_walk_forward(
        frames, request.config, _event_times(db, request.symbols), on_period
    )
    trained = result.trained
    values = {
        "name": name,
        "kind": trained.kind,
        "params": _json_safe(trained.params),
        "target": trained.target,
        "horizon": trained.horizon,
        "resolution": request.resolution.name,
        "symbols": sorted(request.symbols),
        "features": list(trained.features),
        "scheme": _scheme(request.config),
        "periods": [p.to_dict() for p in trained.periods],
        "train_start": _utc(min(p.train_start for p in trained.periods)),
        "train_end": _utc(max(p.train_end for p in trained.periods)),
        "data_fingerprint": _data_fingerprint(frames),
        "metrics": _json_safe(result.metrics),
        "library_versions": library_versions(),
        "code_version": code_version(),
    }
    info = _register(db, data_dir, values, pickle.dumps(trained, protocol=5))
    return TrainOutcome(info, result.predictions)


def _signal_rows(info: ModelInfo, predictions: pd.DataFrame) -> list[dict[str, Any]]:
    ts = pd.DatetimeIndex(predictions["ts"]).to_pydatetime()
    return [
        {
            "symbol": symbol,
            "ts": when,
            "source": info.source,
            "name": info.signal_name,
            "value": float(value),
            "payload": {"model_id": info.id, "period": int(period), "horizon": info.horizon},
        }
        for symbol, when, value, period in zip(
            predictions["symbol"], ts, predictions["forecast"], predictions["period"], strict=True
        )
    ]


def _key(symbol: str, when: datetime) -> tuple[str, int]:
    return symbol, pd.Timestamp(when).as_unit("us").value


def write_signals(db: Database, info: ModelInfo, predictions: pd.DataFrame) -> tuple[int, int, int]:
    """Upsert forecasts into ``external_signals`` in one transaction: (inserted, updated,
    unchanged). Rows equal to the stored ones are not written again."""
    table = _table(ExternalSignal)
    rows = _signal_rows(info, predictions)
    symbols = sorted({r["symbol"] for r in rows})
    with db.engine.begin() as conn:
        stored = {
            _key(symbol, when): (value, payload)
            for symbol, when, value, payload in conn.execute(
                select(table.c.symbol, table.c.ts, table.c.value, table.c.payload).where(
                    table.c.source == info.source,
                    table.c.name == info.signal_name,
                    table.c.symbol.in_(symbols),
                )
            ).all()
        }
        new, changed = [], []
        for row in rows:
            old = stored.get(_key(row["symbol"], row["ts"]))
            if old is None:
                new.append(row)
            elif old != (row["value"], row["payload"]):
                changed.append({f"b_{k}": v for k, v in row.items()})
        if new:
            conn.execute(table.insert(), new)
        if changed:
            conn.execute(
                table.update()
                .where(
                    table.c.symbol == bindparam("b_symbol"),
                    table.c.source == bindparam("b_source"),
                    table.c.name == bindparam("b_name"),
                    table.c.ts == bindparam("b_ts"),
                )
                .values(value=bindparam("b_value"), payload=bindparam("b_payload")),
                changed,
            )
    return len(new), len(changed), len(rows) - len(new) - len(changed)


def predict(
    db: Database, data_dir: Path, ref: str, symbols: Sequence[str] | None = None
) -> PredictOutcome:
    """Forecast the stored bars of ``symbols`` (default: the model's) and write them to
    ``external_signals`` (source ``NAME_vN``); rerunning writes nothing new."""
    info, trained = load_model(db, data_dir, ref)
    chosen = tuple(symbols or info.symbols)
    frames = _load_frames(db, chosen, info.resolution)
    predictions = trained.predict(frames, _event_times(db, chosen))
    if predictions.empty:
        first_test = info.periods[0]["test_start"] if info.periods else "?"
        raise DataNotFoundError(
            f"no bars of {', '.join(chosen)} to forecast with {info.source} "
            f"(it forecasts bars from {first_test} on, once their features are known)",
            f"ingest more recent bars with `{fetch_command(chosen[0], info.resolution, None)}`",
        )
    inserted, updated, unchanged = write_signals(db, info, predictions)
    ts = predictions["ts"]
    return PredictOutcome(
        info,
        chosen,
        len(predictions),
        inserted,
        updated,
        unchanged,
        ts.min().to_pydatetime(),
        ts.max().to_pydatetime(),
    )


def report(
    db: Database,
    data_dir: Path,
    ref: str,
    *,
    symbols: Sequence[str] | None = None,
    threshold: float = 0.0,
    allow_short: bool = False,
) -> ReportOutcome:
    """The model's stored out-of-sample metrics, plus ``ml_signal`` backtests of its forecasts
    against buy & hold over the forecast span (forecast models only)."""
    info, trained = load_model(db, data_dir, ref)
    if info.is_regime:
        return ReportOutcome(info, ())
    chosen = tuple(symbols or info.symbols)
    frames = _load_frames(db, chosen, info.resolution)
    predictions = trained.predict(frames, _event_times(db, chosen))
    strategy = MLSignal(signal=info.source, threshold=threshold)
    config = BacktestConfig(allow_short=allow_short)
    backtests = []
    for symbol in chosen:
        mine = predictions[predictions["symbol"] == symbol]
        if len(mine) < 2:
            continue
        signals = pd.DataFrame(
            {
                "ts": mine["ts"],
                "source": info.source,
                "name": info.signal_name,
                "value": mine["forecast"],
            }
        )
        frame = attach_signals(frames[symbol], signals)
        frame = frame[frame.index >= mine["ts"].iloc[0]]
        result = run_backtest(frame, strategy, config, resolution=info.resolution)
        backtests.append(SymbolBacktest(symbol, result))
    return ReportOutcome(info, tuple(backtests))


def backtest_with_signals(
    db: Database,
    symbol: str,
    resolution: Resolution,
    strategy: str,
    params: dict[str, Any],
    config: BacktestConfig,
    *,
    duration: Duration | None = None,
) -> Result:
    """Backtest a strategy on stored bars with every stored signal and event aligned."""
    frame = load_bars_with_signals(db, symbol, resolution, duration=duration)
    return run_backtest(frame, get_strategy(strategy, **params), config, resolution=resolution)


def check_features(
    db: Database, symbol: str, resolution: Resolution, features: Sequence[str] | None = None
) -> LookaheadReport:
    """The truncation check of the features on the stored bars (and events) of ``symbol``."""
    frame = load_bars(stores_of(db), symbol, resolution, None)
    return check_lookahead(frame, features, read_events(db, symbol))


def dumps_metrics(info: ModelInfo) -> str:
    """The registry row as JSON (for ``--json``)."""
    document = {
        "id": info.id,
        "model": info.source,
        "kind": info.kind,
        "target": info.target,
        "horizon": info.horizon,
        "resolution": info.resolution,
        "symbols": list(info.symbols),
        "features": list(info.features),
        "scheme": info.scheme,
        "periods": list(info.periods),
        "metrics": info.metrics,
        "artefact": info.artefact_path,
        "artefact_sha256": info.artefact_sha256,
        "library_versions": info.library_versions,
    }
    return json.dumps(document, indent=2, default=str)


__all__ = [
    "ModelInfo",
    "PredictOutcome",
    "ReportOutcome",
    "SymbolBacktest",
    "TrainOutcome",
    "TrainRequest",
    "backtest_with_signals",
    "check_features",
    "get_model",
    "list_models",
    "load_bars_with_signals",
    "load_model",
    "predict",
    "read_events",
    "read_signals",
    "report",
    "train",
    "write_signals",
]
