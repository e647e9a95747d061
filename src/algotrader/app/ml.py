"""ML use cases: train (-> model registry), predict (-> ``external_signals``), report, list, and the
look-ahead check of the features.

A model is referred to as ``NAME_vVERSION`` (its signal source, e.g. ``lightgbm_v3``), ``NAME``
(its latest version) or its numeric id. Strategies read its forecasts in every backtest: the bar
loader (:func:`algotrader.app.bars.load_bars`) attaches them as ``row["signal:lightgbm_v3"]``.

>>> outcome = train(settings, TrainRequest(("AAPL",), parse_resolution("1d"),
...                 TrainConfig(model="lightgbm", horizon=5)))               # doctest: +SKIP
>>> predict(settings, PredictRequest(outcome.model.source))                  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import math
import pickle
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from algotrader.app._provenance import code_version, fingerprint
from algotrader.app._stores import Stores, open_stores
from algotrader.app.bars import fetch_command, slice_to_duration
from algotrader.backtest.engine import run_backtest
from algotrader.backtest.result import BacktestConfig, Result
from algotrader.config import Settings
from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ml.align import attach_signals
from algotrader.ml.features import EventTimes
from algotrader.ml.lookahead import LookaheadReport, check_lookahead
from algotrader.ml.models import model_kind
from algotrader.ml.pipeline import TrainConfig, TrainedModel, train_walk_forward
from algotrader.ml.splits import Period
from algotrader.ml.targets import check_target
from algotrader.ports.stores import ModelInfo, ModelSpec, SignalRow
from algotrader.strategies.ml_signal import MLSignal
from algotrader.timeframes import Duration, Resolution

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_VERSIONED_RE = re.compile(r"^[a-z][a-z0-9_]*_v[0-9]+$")
_WINDOWS = ("sliding", "expanding")
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


# ------------------------------------------------------------------------- requests, results


@dataclass(frozen=True)
class TrainRequest:
    """``algotrader ml train``: which bars (the last ``duration`` of them, default all), which
    model (``config``), under which registry name (default: the model kind)."""

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
class PredictRequest:
    """``algotrader ml predict``: the model and the symbols to forecast (default: its own)."""

    model: str
    symbols: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PredictOutcome:
    model: ModelInfo
    symbols: tuple[str, ...]
    rows: int
    inserted: int
    updated: int
    unchanged: int
    first_ts: datetime
    last_ts: datetime


@dataclass(frozen=True)
class ReportRequest:
    """``algotrader ml report``: the model, and how ``ml_signal`` trades its forecasts."""

    model: str
    symbols: tuple[str, ...] | None = None
    threshold: float = 0.0
    allow_short: bool = False


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


@dataclass(frozen=True)
class CheckRequest:
    """``algotrader ml check``: the features (default: all) on one stored series."""

    symbol: str
    resolution: Resolution
    features: tuple[str, ...] | None = None


# ---------------------------------------------------------------------------------- use cases


def train(
    settings: Settings,
    request: TrainRequest,
    on_period: Callable[[Period, int], None] | None = None,
) -> TrainOutcome:
    """Train walk-forward on the stored bars and register the model (row + artefact file);
    ``on_period`` hears of every period trained. Bad names and parameters fail before any data
    is read; nothing is registered when training fails."""
    name = _checked(request)
    with open_stores(settings) as stores:
        frames = _load_frames(stores, request.symbols, request.resolution.name, request.duration)
        events = _event_times(stores, request.symbols)
        result = train_walk_forward(frames, request.config, events, on_period)
        spec = _spec(name, request, result.trained, result.metrics, frames)
        info = stores.models.register(spec, pickle.dumps(result.trained, protocol=5))
    return TrainOutcome(info, result.predictions)


def predict(settings: Settings, request: PredictRequest) -> PredictOutcome:
    """Forecast the stored bars of the request's symbols and write the forecasts to
    ``external_signals`` (source ``NAME_vN``); rerunning writes nothing new."""
    with open_stores(settings) as stores:
        info, trained = _load_model(stores, request.model)
        chosen = tuple(request.symbols or info.symbols)
        frames = _load_frames(stores, chosen, info.resolution)
        predictions = trained.predict(frames, _event_times(stores, chosen))
        if predictions.empty:
            first_test = info.periods[0]["test_start"] if info.periods else "?"
            raise DataNotFoundError(
                f"no bars of {', '.join(chosen)} to forecast with {info.source} "
                f"(it forecasts bars from {first_test} on, once their features are known)",
                f"ingest more recent bars with `{fetch_command(chosen[0], info.resolution, None)}`",
            )
        written = stores.events.upsert_signals(_signal_rows(info, predictions))
    ts = predictions["ts"]
    return PredictOutcome(
        info,
        chosen,
        len(predictions),
        written.inserted,
        written.updated,
        written.unchanged,
        ts.min().to_pydatetime(),
        ts.max().to_pydatetime(),
    )


def report(settings: Settings, request: ReportRequest) -> ReportOutcome:
    """The model's stored out-of-sample metrics, plus ``ml_signal`` backtests of its forecasts
    against buy & hold over the forecast span (forecast models only; not stored as runs)."""
    with open_stores(settings) as stores:
        info, trained = _load_model(stores, request.model)
        if info.is_regime:
            return ReportOutcome(info, ())
        chosen = tuple(request.symbols or info.symbols)
        frames = _load_frames(stores, chosen, info.resolution)
        predictions = trained.predict(frames, _event_times(stores, chosen))
    strategy = MLSignal(signal=info.source, threshold=request.threshold)
    config = BacktestConfig(allow_short=request.allow_short)
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


def list_models(settings: Settings) -> list[ModelInfo]:
    """Every registered model, newest first."""
    with open_stores(settings) as stores:
        return stores.models.list()


def get_model(settings: Settings, ref: str) -> ModelInfo:
    """The registry row of ``ref`` (``NAME_vN``, ``NAME`` for the latest version, or an id)."""
    with open_stores(settings) as stores:
        return stores.models.find(ref)


def check_features(settings: Settings, request: CheckRequest) -> LookaheadReport:
    """The truncation check of the features on the stored bars (and events) of one symbol."""
    with open_stores(settings) as stores:
        (frame,) = _load_frames(stores, (request.symbol,), request.resolution.name).values()
        events = stores.events.events(request.symbol)
    return check_lookahead(frame, request.features, events)


# ------------------------------------------------------------------------------------ helpers


def _checked(request: TrainRequest) -> str:
    """The registry name, after refusing every bad input that needs no data."""
    name = (request.name or request.config.kind.name).strip().lower()
    if not _NAME_RE.match(name) or _VERSIONED_RE.match(name):
        raise InvalidInputError(
            f"invalid model name {name!r}",
            "use lowercase letters, digits and _ (starting with a letter, not ending in _vN)",
        )
    config = request.config
    if config.window not in _WINDOWS:
        raise InvalidInputError(f"invalid window {config.window!r}", 'use "sliding" or "expanding"')
    config.kind.params(config.params)
    check_target(config.target, config.horizon)
    config.feature_names  # noqa: B018 (resolving the names refuses unknown features)
    config.kind.require()
    return name


def _load_frames(
    stores: Stores, symbols: Sequence[str], resolution: str, duration: Duration | None = None
) -> dict[str, pd.DataFrame]:
    """The stored bars (with indicators, without signals: features never read them)."""
    frames = {}
    for symbol in symbols:
        frame = slice_to_duration(stores.bars.load_bars(symbol, resolution), duration)
        if frame.empty:
            raise DataNotFoundError(
                f"no {resolution} bars of {symbol} in the database",
                f"ingest them with `{fetch_command(symbol, resolution, duration)}`",
            )
        frames[symbol] = frame
    return frames


def _event_times(stores: Stores, symbols: Sequence[str]) -> dict[str, EventTimes]:
    return {s: EventTimes.from_frame(stores.events.events(s)) for s in symbols}


def _load_model(stores: Stores, ref: str) -> tuple[ModelInfo, TrainedModel]:
    """The registry row and the trained model, its artefact's SHA-256 checked first."""
    info = stores.models.find(ref)
    payload = stores.models.artefact(info)
    model_kind(info.kind).require()
    trained: TrainedModel = pickle.loads(payload)  # trusted: our own file, hash checked
    return info, trained


def _spec(
    name: str,
    request: TrainRequest,
    trained: TrainedModel,
    metrics: dict[str, Any],
    frames: dict[str, pd.DataFrame],
) -> ModelSpec:
    config = request.config
    return ModelSpec(
        name=name,
        kind=trained.kind,
        params=_json_safe(trained.params),
        target=trained.target,
        horizon=trained.horizon,
        resolution=request.resolution.name,
        symbols=tuple(sorted(request.symbols)),
        features=tuple(trained.features),
        scheme={
            "train": str(config.train),
            "retrain_every": str(config.retrain_every) if config.retrain_every else None,
            "window": config.window,
            "embargo": config.embargo_bars,
            "seed": config.seed,
        },
        periods=tuple(p.to_dict() for p in trained.periods),
        train_start=_utc(min(p.train_start for p in trained.periods)),
        train_end=_utc(max(p.train_end for p in trained.periods)),
        data_fingerprint=_data_fingerprint(frames),
        metrics=_json_safe(metrics),
        library_versions=library_versions(),
        code_version=code_version(),
    )


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


def _data_fingerprint(frames: dict[str, pd.DataFrame]) -> str:
    digest = hashlib.sha256()
    for symbol, frame in sorted(frames.items()):
        digest.update(f"{symbol}:{fingerprint(frame)};".encode())
    return digest.hexdigest()


def _utc(ns: int) -> datetime:
    return pd.Timestamp(ns, tz="UTC").to_pydatetime()


def _signal_rows(info: ModelInfo, predictions: pd.DataFrame) -> list[SignalRow]:
    ts = pd.DatetimeIndex(predictions["ts"]).to_pydatetime()
    return [
        SignalRow(
            symbol=symbol,
            ts=when,
            source=info.source,
            name=info.signal_name,
            value=float(value),
            payload={"model_id": info.id, "period": int(period), "horizon": info.horizon},
        )
        for symbol, when, value, period in zip(
            predictions["symbol"], ts, predictions["forecast"], predictions["period"], strict=True
        )
    ]


__all__ = [
    "CheckRequest",
    "ModelInfo",
    "PredictOutcome",
    "PredictRequest",
    "ReportOutcome",
    "ReportRequest",
    "SymbolBacktest",
    "TrainOutcome",
    "TrainRequest",
    "check_features",
    "get_model",
    "library_versions",
    "list_models",
    "predict",
    "report",
    "train",
]
