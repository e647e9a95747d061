"""Walk-forward training and prediction.

bar frames (one per symbol) -> features and targets -> a panel of rows sorted by (ts, symbol)
-> for every walk-forward period a model fitted on its purged, embargoed training window ->
forecasts of that period's bars only -> out-of-sample metrics.

>>> config = TrainConfig(model="ridge", horizon=5)
>>> result = train_walk_forward({"AAPL": bars}, config)  # doctest: +SKIP
>>> result.metrics["overall"]["rank_ic"]                 # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.ml.evaluation import correlation, evaluate_forecasts, evaluate_regimes
from algotrader.ml.features import DEFAULT_FEATURES, EventTimes, build_features, resolve_features
from algotrader.ml.models import Model, ModelKind, build_model, model_kind
from algotrader.ml.regime import REGIME_FEATURES, RegimeModel
from algotrader.ml.splits import Period, Window, walk_forward_periods
from algotrader.ml.targets import check_target, forward_return, label_end, make_target
from algotrader.timeframes import Duration

MIN_TRAIN_SAMPLES = 100
PREDICTION_COLUMNS = ("symbol", "ts", "period", "forecast", "realised")


@dataclass(frozen=True)
class TrainConfig:
    """What to train: model kind and parameters, target, walk-forward scheme, features."""

    model: str = "lightgbm"
    params: Mapping[str, Any] = field(default_factory=dict)
    target: str = "fwd_return"
    horizon: int = 5
    train: Duration = field(default_factory=lambda: Duration(3, "Y"))
    retrain_every: Duration | None = None
    window: Window = "sliding"
    embargo: int | None = None
    features: tuple[str, ...] | None = None
    seed: int = 0

    @property
    def kind(self) -> ModelKind:
        return model_kind(self.model)

    @property
    def embargo_bars(self) -> int:
        """The gap between a training window and its period (default: the horizon)."""
        return self.horizon if self.embargo is None else self.embargo

    @property
    def feature_names(self) -> tuple[str, ...]:
        if self.features is not None:
            return tuple(f.name for f in resolve_features(self.features))
        return REGIME_FEATURES if self.kind.regime else DEFAULT_FEATURES


# --------------------------------------------------------------------------------- the panel


@dataclass(frozen=True)
class SymbolBlock:
    """One symbol's rows in time order: features, label, realised return, label end."""

    symbol: str
    ts: np.ndarray
    X: np.ndarray
    target: np.ndarray
    realised: np.ndarray
    label_end: np.ndarray


def build_block(
    symbol: str,
    frame: pd.DataFrame,
    features: Sequence[str],
    target: str,
    horizon: int,
    events: EventTimes | None = None,
) -> SymbolBlock:
    table = build_features(frame, features, events)
    close = frame["close"].to_numpy(np.float64)
    ts = np.asarray(pd.DatetimeIndex(frame.index).as_unit("ns").asi8, dtype=np.int64)
    return SymbolBlock(
        symbol=symbol,
        ts=ts,
        X=np.ascontiguousarray(table.to_numpy(np.float64)),
        target=make_target(close, target, horizon),
        realised=forward_return(close, horizon),
        label_end=label_end(ts, horizon),
    )


@dataclass(frozen=True)
class Panel:
    """The rows of several symbols, stacked and sorted by (ts, symbol)."""

    features: tuple[str, ...]
    blocks: tuple[SymbolBlock, ...]
    sym: np.ndarray
    pos: np.ndarray
    ts: np.ndarray
    X: np.ndarray
    target: np.ndarray
    realised: np.ndarray
    label_end: np.ndarray

    @classmethod
    def from_blocks(cls, features: tuple[str, ...], blocks: Sequence[SymbolBlock]) -> Panel:
        sym = np.concatenate([np.full(b.ts.size, k, np.int64) for k, b in enumerate(blocks)])
        pos = np.concatenate([np.arange(b.ts.size) for b in blocks])
        ts = np.concatenate([b.ts for b in blocks])
        order = np.lexsort((sym, ts))

        def stack(name: str) -> np.ndarray:
            return np.concatenate([getattr(b, name) for b in blocks])[order]

        return cls(
            features=features,
            blocks=tuple(blocks),
            sym=sym[order],
            pos=pos[order],
            ts=ts[order],
            X=stack("X"),
            target=stack("target"),
            realised=stack("realised"),
            label_end=stack("label_end"),
        )

    @property
    def times(self) -> pd.DatetimeIndex:
        """The sorted, unique bar timestamps of all symbols."""
        return pd.DatetimeIndex(pd.to_datetime(np.unique(self.ts), unit="ns", utc=True))

    def usable(self, sequence_length: int) -> np.ndarray:
        """Rows whose features (the last ``sequence_length`` rows for sequence models) are all
        known; ``sequence_length`` 0 means a tabular model."""
        if sequence_length == 0:
            return np.isfinite(self.X).all(axis=1)
        ok = []
        for block in self.blocks:
            finite = np.isfinite(block.X).all(axis=1)
            run = np.arange(finite.size) - np.maximum.accumulate(
                np.where(finite, -1, np.arange(finite.size))
            )
            ok.append(run >= sequence_length)
        flags = np.concatenate(ok) if ok else np.zeros(0, bool)
        offsets = np.cumsum([0] + [b.ts.size for b in self.blocks])[:-1]
        return flags[offsets[self.sym] + self.pos]

    def design(self, rows: np.ndarray, sequence_length: int) -> np.ndarray:
        """Model input of ``rows``: (n, features), or (n, length, features) for sequence models
        (``sequence_length`` > 0, the row's own features last)."""
        if sequence_length == 0:
            return self.X[rows]
        steps = np.arange(-sequence_length + 1, 1)
        out = np.empty((rows.size, sequence_length, self.X.shape[1]))
        for code, block in enumerate(self.blocks):
            mine = self.sym[rows] == code
            out[mine] = block.X[self.pos[rows[mine]][:, None] + steps]
        return out

    def rows_frame(
        self, rows: np.ndarray, period: np.ndarray, forecast: np.ndarray
    ) -> pd.DataFrame:
        symbols = np.array([b.symbol for b in self.blocks], dtype=object)
        return pd.DataFrame(
            {
                "symbol": symbols[self.sym[rows]],
                "ts": pd.to_datetime(self.ts[rows], unit="ns", utc=True),
                "period": period,
                "forecast": forecast,
                "realised": self.realised[rows],
            }
        )


def build_panel(
    frames: Mapping[str, pd.DataFrame],
    features: Sequence[str],
    target: str,
    horizon: int,
    events: Mapping[str, EventTimes] | None = None,
) -> Panel:
    """Features, labels and realised returns of every symbol, stacked (see :class:`Panel`)."""
    if not frames:
        raise InvalidInputError("no symbols given", "pass at least one symbol")
    target, horizon = check_target(target, horizon)
    blocks = [
        build_block(symbol, frame, features, target, horizon, (events or {}).get(symbol))
        for symbol, frame in sorted(frames.items())
    ]
    return Panel.from_blocks(tuple(features), blocks)


# ----------------------------------------------------------------------------- trained models


@dataclass
class TrainedModel:
    """Everything needed to forecast again: the period models and how their inputs are built."""

    kind: str
    params: dict[str, Any]
    target: str
    horizon: int
    features: tuple[str, ...]
    periods: tuple[Period, ...]
    models: tuple[Any, ...]
    seed: int

    @property
    def regime(self) -> bool:
        return model_kind(self.kind).regime

    def predict(
        self, frames: Mapping[str, pd.DataFrame], events: Mapping[str, EventTimes] | None = None
    ) -> pd.DataFrame:
        """Forecasts of every bar that falls in a period, each by that period's model."""
        return self.predict_panel(
            build_panel(frames, self.features, self.target, self.horizon, events)
        )

    def predict_panel(self, panel: Panel) -> pd.DataFrame:
        if self.regime:
            return self._label_regimes(panel)
        length = self.models[0].sequence_length
        usable = panel.usable(length)
        forecast = np.full(panel.ts.size, np.nan)
        period = np.zeros(panel.ts.size, np.int64)
        for spec, model in zip(self.periods, self.models, strict=True):
            rows = np.flatnonzero(spec.test_mask(panel.ts) & usable)
            if rows.size:
                forecast[rows] = model.predict(panel.design(rows, length))
                period[rows] = spec.number
        rows = np.flatnonzero(period > 0)
        return panel.rows_frame(rows, period[rows], forecast[rows])

    def _label_regimes(self, panel: Panel) -> pd.DataFrame:
        labels = np.full(panel.ts.size, np.nan)
        period = np.zeros(panel.ts.size, np.int64)
        offsets = np.cumsum([0] + [b.ts.size for b in panel.blocks])[:-1]
        flat = offsets[panel.sym] + panel.pos
        for spec, model in zip(self.periods, self.models, strict=True):
            # The forward filter is causal: filtering the whole block then keeping the period's
            # rows gives each row the state given the bars up to it.
            block_labels = np.concatenate([model.filter(b.X) for b in panel.blocks])
            rows = np.flatnonzero(spec.test_mask(panel.ts))
            labels[rows] = block_labels[flat[rows]]
            period[rows] = spec.number
        rows = np.flatnonzero((period > 0) & np.isfinite(labels))
        return panel.rows_frame(rows, period[rows], labels[rows])


@dataclass(frozen=True)
class WalkForwardResult:
    """A trained model, its out-of-sample forecasts and their metrics."""

    trained: TrainedModel
    predictions: pd.DataFrame
    metrics: dict[str, Any]


PeriodCallback = Callable[[Period, int], None]


def train_walk_forward(
    frames: Mapping[str, pd.DataFrame],
    config: TrainConfig,
    events: Mapping[str, EventTimes] | None = None,
    on_period: PeriodCallback | None = None,
) -> WalkForwardResult:
    """Fit one model per walk-forward period and forecast each period with its own model."""
    kind = config.kind
    params = kind.params(config.params)
    kind.require()
    target, horizon = check_target(config.target, config.horizon)
    features = config.feature_names
    panel = build_panel(frames, features, target, horizon, events)
    periods = walk_forward_periods(
        panel.times,
        config.train,
        config.retrain_every,
        embargo=config.embargo_bars,
        window=config.window,
    )
    models: list[Any] = []
    samples: list[int] = []
    for spec in periods:
        model, count = _fit_period(kind, params, config.seed, target, panel, spec)
        models.append(model)
        samples.append(count)
        if on_period is not None:
            on_period(spec, len(periods))
    trained = TrainedModel(
        kind.name,
        params,
        target,
        horizon,
        tuple(features),
        tuple(periods),
        tuple(models),
        config.seed,
    )
    predictions = trained.predict_panel(panel)
    if kind.regime:
        metrics = evaluate_regimes(predictions, periods, int(params["states"]))
        metrics["state_volatility"] = [m.state_volatility() for m in models]
    else:
        metrics = evaluate_forecasts(predictions, periods, horizon)
        metrics["importance"] = _importance(trained, panel, config.seed)
    for row, count in zip(metrics["periods"], samples, strict=True):
        row["train_samples"] = count
    return WalkForwardResult(trained, predictions, metrics)


def _fit_period(
    kind: ModelKind,
    params: dict[str, Any],
    seed: int,
    target: str,
    panel: Panel,
    spec: Period,
) -> tuple[Any, int]:
    window = (
        f"period {spec.number} (training window "
        f"{pd.Timestamp(spec.train_start, tz='UTC'):%Y-%m-%d} .. "
        f"{pd.Timestamp(spec.train_end, tz='UTC'):%Y-%m-%d})"
    )
    if kind.regime:
        regime = RegimeModel(
            states=int(params["states"]),
            n_iter=int(params["n_iter"]),
            covariance=str(params["covariance"]),
            seed=seed,
        )
        regime.fit(
            [b.X[(b.ts >= spec.train_start) & (b.ts < spec.train_end)] for b in panel.blocks]
        )
        return regime, int(((panel.ts >= spec.train_start) & (panel.ts < spec.train_end)).sum())
    model: Model = build_model(kind, params, target == "direction", seed)
    length = model.sequence_length
    rows = np.flatnonzero(
        spec.train_mask(panel.ts, panel.label_end)
        & panel.usable(length)
        & np.isfinite(panel.target)
    )
    if rows.size < MIN_TRAIN_SAMPLES:
        raise DataNotFoundError(
            f"too little data: {window} has {rows.size} usable training rows, "
            f"at least {MIN_TRAIN_SAMPLES} are needed",
            "ingest a longer history (-d) or lengthen --train",
        )
    model.fit(panel.design(rows, length), panel.target[rows])
    return model, int(rows.size)


def _importance(trained: TrainedModel, panel: Panel, seed: int) -> dict[str, Any]:
    """Mean native importance over the period models, else permutation importance (IC drop)."""
    native = [m.importance() for m in trained.models]
    if all(v is not None for v in native):
        mean = np.mean(np.vstack(native), axis=0)  # type: ignore[arg-type]
        return {"method": "native", "values": _ranked(trained.features, mean)}
    length = trained.models[0].sequence_length
    usable = panel.usable(length) & np.isfinite(panel.realised)
    drops = np.zeros(len(trained.features))
    rng = np.random.default_rng(seed)
    for spec, model in zip(trained.periods, trained.models, strict=True):
        rows = np.flatnonzero(spec.test_mask(panel.ts) & usable)
        if rows.size < 3:
            continue
        design = panel.design(rows, length)
        realised = panel.realised[rows]
        base = correlation(model.predict(design), realised)
        for j in range(len(trained.features)):
            shuffled = design.copy()
            shuffled[..., j] = design[rng.permutation(rows.size)][..., j]
            drop = base - correlation(model.predict(shuffled), realised)
            drops[j] += 0.0 if np.isnan(drop) else drop * rows.size
    total = max(int(usable.sum()), 1)
    return {"method": "permutation (IC drop)", "values": _ranked(trained.features, drops / total)}


def _ranked(names: Sequence[str], values: np.ndarray) -> dict[str, float]:
    order = np.argsort(-values, kind="stable")
    return {names[i]: float(values[i]) for i in order}


__all__ = [
    "MIN_TRAIN_SAMPLES",
    "PREDICTION_COLUMNS",
    "Panel",
    "SymbolBlock",
    "TrainConfig",
    "TrainedModel",
    "WalkForwardResult",
    "build_panel",
    "train_walk_forward",
]
