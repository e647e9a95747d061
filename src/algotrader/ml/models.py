"""Model kinds: scikit-learn, LightGBM, XGBoost, an LSTM (PyTorch) and a regime HMM (hmmlearn).

Every kind is seeded and single-threaded by default so that the same data gives the same model,
and wraps one library estimator behind ``fit(X, y)`` / ``predict(X)`` / ``importance()``. For the
``direction`` target the classifier variant is used and the forecast is ``2 * P(up) - 1``, so a
forecast is positive when the model expects a rise whatever the target.

>>> kind = model_kind("lgbm")          # aliases and did-you-mean suggestions
>>> kind.name, kind.extra
('lightgbm', 'ml')
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from algotrader.errors import DataNotFoundError, InvalidInputError
from algotrader.strategies.base import resolve_params


class Model(Protocol):
    """What the walk-forward loop needs from a model."""

    sequence_length: int

    def fit(self, X: np.ndarray, y: np.ndarray) -> None: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def importance(self) -> np.ndarray | None: ...


Builder = Callable[[dict[str, Any], bool, int], Model]


@dataclass(frozen=True)
class ModelKind:
    """A model users can name: its library, pip extra, default parameters and builder."""

    name: str
    library: str
    extra: str
    defaults: Mapping[str, Any]
    description: str
    build: Builder = field(repr=False)
    regime: bool = False

    def params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``given`` (strings coerced, unknown names refused)."""
        return resolve_params(f"model {self.name}", dict(self.defaults), dict(given))

    def require(self) -> None:
        """Raise a one-line error when the library is not installed."""
        try:
            importlib.import_module(self.library)
        except ImportError:
            raise InvalidInputError(
                f"model {self.name!r} needs the {self.library} package, which is not installed",
                f"pip install 'algotrader[{self.extra}]'",
            ) from None


def _linear_forecast(pipeline: Any, X: np.ndarray, classifier: bool) -> np.ndarray:
    """scaler + linear model, row by row: a BLAS matrix product's last bits depend on the other
    rows of the batch, so a bar's forecast could change when later bars are appended."""
    scaler, final = pipeline[0], pipeline[-1]
    scaled = (X - scaler.mean_) / scaler.scale_
    raw = (scaled * np.ravel(final.coef_)).sum(axis=1) + float(np.ravel(final.intercept_)[0])
    if classifier:
        return 2.0 / (1.0 + np.exp(-raw)) - 1.0
    return raw


def _thread_limit(threads: int) -> Any:
    """Cap OpenMP/BLAS threads: on a busy machine, idle-spinning OpenMP threads cost 5x."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=max(1, int(threads)))


class TabularModel:
    """A scikit-learn-style estimator on one row of features per sample."""

    sequence_length = 0

    def __init__(
        self,
        estimator: Any,
        classifier: bool,
        importance: str | None = None,
        threads: int = 1,
    ) -> None:
        self.estimator = estimator
        self.classifier = classifier
        self.threads = threads
        self._importance = importance

    def fit(self, X: np.ndarray, y: np.ndarray) -> None:
        labels = y
        if self.classifier:
            labels = y.astype(np.int64)
            if np.unique(labels).size < 2:
                raise DataNotFoundError(
                    "too little data: a training window holds only one direction",
                    "use a longer --train window",
                )
        with _thread_limit(self.threads):
            self.estimator.fit(X, labels)

    def predict(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0)
        if self._importance == "coef":
            return _linear_forecast(self.estimator, X, self.classifier)
        with _thread_limit(self.threads):
            if self.classifier:
                up = self.estimator.predict_proba(X)[:, 1]
                return np.asarray(2.0 * up - 1.0, dtype=np.float64)
            return np.asarray(self.estimator.predict(X), dtype=np.float64)

    def importance(self) -> np.ndarray | None:
        if self._importance is None:
            return None
        raw = _IMPORTANCE[self._importance](self.estimator)
        values = np.abs(np.asarray(raw, dtype=np.float64)).ravel()
        total = values.sum()
        return values / total if total > 0 else values


# By name, not as lambdas: the fitted model is pickled into the registry's artefact.
_IMPORTANCE: dict[str, Callable[[Any], Any]] = {
    "coef": lambda est: est[-1].coef_,
    "gain": lambda est: est.booster_.feature_importance("gain"),
    "feature_importances": lambda est: est.feature_importances_,
}


def _ridge(params: dict[str, Any], classifier: bool, seed: int) -> Model:
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    alpha = float(params["alpha"])
    final = LogisticRegression(C=1.0 / alpha, max_iter=1000) if classifier else Ridge(alpha=alpha)
    return TabularModel(make_pipeline(StandardScaler(), final), classifier, "coef")


def _gbr(params: dict[str, Any], classifier: bool, seed: int) -> Model:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if classifier else HistGradientBoostingRegressor
    threads = int(params.pop("threads"))
    # No early stopping: it would hold out a random (not time-ordered) validation split.
    estimator = cls(**params, early_stopping=False, random_state=seed)
    return TabularModel(estimator, classifier, threads=threads)


def _lightgbm(params: dict[str, Any], classifier: bool, seed: int) -> Model:
    import lightgbm

    cls = lightgbm.LGBMClassifier if classifier else lightgbm.LGBMRegressor
    estimator = cls(
        **params,
        random_state=seed,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
    )
    return TabularModel(
        estimator,
        classifier,
        "gain",
        threads=int(params["num_threads"]),
    )


def _xgboost(params: dict[str, Any], classifier: bool, seed: int) -> Model:
    import xgboost

    cls = xgboost.XGBClassifier if classifier else xgboost.XGBRegressor
    estimator = cls(**params, random_state=seed, tree_method="hist", verbosity=0)
    return TabularModel(estimator, classifier, "feature_importances", threads=int(params["n_jobs"]))


def _lstm(params: dict[str, Any], classifier: bool, seed: int) -> Model:
    from algotrader.ml.lstm import LSTMModel

    return LSTMModel(classifier=classifier, seed=seed, **params)


def _no_tabular(params: dict[str, Any], classifier: bool, seed: int) -> Model:
    raise InvalidInputError("the hmm model detects regimes", "it has no tabular form")


_GBM_DEFAULTS = {"n_estimators": 200, "learning_rate": 0.03, "subsample": 0.8}
KINDS: dict[str, ModelKind] = {
    k.name: k
    for k in (
        ModelKind(
            "ridge",
            "sklearn",
            "ml",
            {"alpha": 10.0},
            "ridge regression (logistic for direction)",
            _ridge,
        ),
        ModelKind(
            "gbr",
            "sklearn",
            "ml",
            {
                "max_iter": 200,
                "learning_rate": 0.05,
                "max_leaf_nodes": 15,
                "min_samples_leaf": 50,
                "l2_regularization": 1.0,
                "threads": 1,
            },
            "scikit-learn histogram gradient boosting",
            _gbr,
        ),
        ModelKind(
            "lightgbm",
            "lightgbm",
            "ml",
            {
                **_GBM_DEFAULTS,
                "num_leaves": 15,
                "min_child_samples": 50,
                "subsample_freq": 1,
                "colsample_bytree": 0.8,
                "reg_lambda": 1.0,
                "num_threads": 1,
            },
            "LightGBM gradient boosting (deterministic, row-wise, fixed threads)",
            _lightgbm,
        ),
        ModelKind(
            "xgboost",
            "xgboost",
            "ml-xgboost",
            {
                **_GBM_DEFAULTS,
                "max_depth": 4,
                "colsample_bytree": 0.8,
                "min_child_weight": 5.0,
                "n_jobs": 1,
            },
            "XGBoost gradient boosting (hist)",
            _xgboost,
        ),
        ModelKind(
            "lstm",
            "torch",
            "ml-torch",
            {
                "lookback": 20,
                "hidden": 16,
                "epochs": 10,
                "batch_size": 64,
                "learning_rate": 0.003,
                "threads": 1,
            },
            "LSTM over the last `lookback` feature rows (PyTorch, CPU)",
            _lstm,
        ),
        ModelKind(
            "hmm",
            "hmmlearn",
            "ml",
            {"states": 3, "n_iter": 100, "covariance": "diag"},
            "Gaussian HMM regimes sorted by volatility (filtered state, no look-ahead)",
            _no_tabular,
            regime=True,
        ),
    )
}
_ALIASES = {
    "lgbm": "lightgbm",
    "xgb": "xgboost",
    "gradient_boosting": "gbr",
    "hgb": "gbr",
    "linear": "ridge",
    "regime": "hmm",
}


def model_kind(name: str) -> ModelKind:
    """The model kind called ``name`` (aliases accepted); unknown names raise with suggestions."""
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key in KINDS:
        return KINDS[key]
    names = sorted(KINDS)
    close = difflib.get_close_matches(key, names + sorted(_ALIASES), n=1)
    hint = f"did you mean {_ALIASES.get(close[0], close[0])!r}? " if close else ""
    raise InvalidInputError(f"unknown model {name!r}", f"{hint}use one of {', '.join(names)}")


def build_model(kind: ModelKind, params: Mapping[str, Any], classifier: bool, seed: int) -> Model:
    """A fresh, unfitted model of ``kind``."""
    kind.require()
    return kind.build(dict(params), classifier, seed)


__all__ = ["KINDS", "Model", "ModelKind", "TabularModel", "build_model", "model_kind"]
