"""``ml_signal``: trade a stored forecast (an ``external_signals`` source aligned to the bars).

Rule: BUY when the forecast > ``threshold``; SELL when it < ``exit`` (default: the threshold).
SELL closes a long, or opens a short when the backtest allows shorts. Bars without a forecast
(NaN) do nothing. The forecast column is ``signal:<source>`` (``signal`` parameter: the source,
e.g. ``lightgbm_v3``, or the full column name; empty = the only signal column of the bars, and
on bars without any it stays flat, with a warning in the log). A
forecast made at bar t is visible from bar t on (see :mod:`algotrader.ml.align`), decided on t's
close and, by default, filled at t+1's open.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from algotrader.errors import InvalidInputError
from algotrader.strategies._util import column, to_signals, with_columns
from algotrader.strategies.base import BUY, SELL, Signal, Strategy, first_valid_bar
from algotrader.strategies.registry import register

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

FORECAST = "ml_forecast"
_PREFIX = "signal:"


def signal_column(frame: pd.DataFrame, wanted: str) -> str | None:
    """The frame column a ``signal`` parameter names (one clear error when it is missing);
    ``None`` when no signal is named and the bars carry none."""
    columns = [str(c) for c in frame.columns]
    signals = [c for c in columns if c.startswith(_PREFIX)]
    lower = {c.lower(): c for c in columns}
    text = wanted.strip()
    if text:
        for candidate in (text, f"{_PREFIX}{text}"):
            if candidate.lower() in lower:
                return lower[candidate.lower()]
        raise InvalidInputError(
            f"the bars have no signal {text!r}",
            f"signals present: {', '.join(signals) or 'none'}; write forecasts with "
            "`algotrader ml predict MODEL -s SYMBOL`",
        )
    # Without a name: the one source present (its alias column has no second colon).
    sources = [c for c in signals if ":" not in c[len(_PREFIX) :]] or signals
    if not sources:
        return None
    if len(sources) == 1:
        return sources[0]
    raise InvalidInputError(
        "no signal chosen", f"pass --param signal=SOURCE (present: {', '.join(sources)})"
    )


@register("ml_signal")
class MLSignal(Strategy):
    """Long (or short) on an ML forecast crossing a threshold."""

    rule = "BUY when the forecast > threshold, SELL when it < exit (default: threshold)"
    params: ClassVar[Mapping[str, Any]] = {"signal": "", "threshold": 0.0, "exit": None}

    signal: str
    threshold: float
    exit: float | None

    def validate(self) -> None:
        try:
            self._exit = self.threshold if self.exit in (None, "") else float(self.exit)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"invalid value {self.exit!r} for parameter 'exit'", "use a number like -0.001"
            ) from None
        if not (math.isfinite(self.threshold) and math.isfinite(self._exit)):
            raise InvalidInputError("ml_signal thresholds must be finite", "use numbers")
        if self._exit > self.threshold:
            raise InvalidInputError(
                f"exit {self._exit} is above threshold {self.threshold}",
                "use exit <= threshold",
            )

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        source = signal_column(frame, self.signal)
        if source is None:
            # Runs over every strategy (demo, optimisers) must not fail on bars without signals.
            log.warning(
                "ml_signal: the bars carry no signal column, so it stays flat; write forecasts "
                "with `algotrader ml predict MODEL -s SYMBOL`"
            )
            return with_columns(frame, **{FORECAST: np.full(len(frame), np.nan)})
        return with_columns(frame, **{FORECAST: column(frame, source)})

    def warmup_bars(self, frame: pd.DataFrame) -> int:
        return first_valid_bar(frame, (FORECAST,))

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        forecast = row[FORECAST]
        if forecast > self.threshold:
            return BUY
        if forecast < self._exit:
            return SELL
        return None

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        forecast = column(frame, FORECAST)
        return to_signals(forecast > self.threshold, forecast < self._exit)
