"""Machine-learning signals: features -> targets -> walk-forward models -> forecasts.

Pure computation on bar frames (no database): the use cases in :mod:`algotrader.app.ml` load
bars, store models in the registry and write forecasts to ``external_signals``.

>>> from algotrader.ml import TrainConfig, train_walk_forward        # doctest: +SKIP
>>> result = train_walk_forward({"AAPL": bars}, TrainConfig(model="ridge", horizon=5))
>>> result.metrics["overall"]["ic"], result.predictions.head()

The names below load on first use, so importing one module of this package (the ``meta``
strategy, say) does not import pandas, numba and the model libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from algotrader.ml.align import align_events, align_signals, attach_signals
    from algotrader.ml.features import (
        DEFAULT_FEATURES,
        FEATURES,
        EventTimes,
        Feature,
        build_features,
    )
    from algotrader.ml.lookahead import LookaheadReport, check_lookahead
    from algotrader.ml.models import KINDS, model_kind
    from algotrader.ml.pipeline import (
        TrainConfig,
        TrainedModel,
        WalkForwardResult,
        train_walk_forward,
    )
    from algotrader.ml.splits import Period, walk_forward_periods
    from algotrader.ml.targets import TARGETS, make_target

_LAZY = {
    "align_events": ".align",
    "align_signals": ".align",
    "attach_signals": ".align",
    "DEFAULT_FEATURES": ".features",
    "FEATURES": ".features",
    "EventTimes": ".features",
    "Feature": ".features",
    "build_features": ".features",
    "LookaheadReport": ".lookahead",
    "check_lookahead": ".lookahead",
    "KINDS": ".models",
    "model_kind": ".models",
    "TrainConfig": ".pipeline",
    "TrainedModel": ".pipeline",
    "WalkForwardResult": ".pipeline",
    "train_walk_forward": ".pipeline",
    "Period": ".splits",
    "walk_forward_periods": ".splits",
    "TARGETS": ".targets",
    "make_target": ".targets",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_FEATURES",
    "FEATURES",
    "KINDS",
    "TARGETS",
    "EventTimes",
    "Feature",
    "LookaheadReport",
    "Period",
    "TrainConfig",
    "TrainedModel",
    "WalkForwardResult",
    "align_events",
    "align_signals",
    "attach_signals",
    "build_features",
    "check_lookahead",
    "make_target",
    "model_kind",
    "train_walk_forward",
    "walk_forward_periods",
]
