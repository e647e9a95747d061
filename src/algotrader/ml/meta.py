"""``meta``: weighted votes of several strategies and signals.

``members`` lists ``NAME=WEIGHT`` pairs (weight 1 when omitted), comma-separated. A NAME is a
strategy (its default parameters; its vote is +1 after its last BUY, -1 after its last SELL, 0
before either) or a bar column such as ``signal:lightgbm_v3`` (vote: the sign of the value, 0
when missing). The score is sum(weight * vote) / sum(|weight|), in [-1, 1].

Rule: BUY when score > threshold, SELL when score < -threshold. Every member is causal, so the
score at bar t uses bars <= t only; both execution paths read the same ``meta_score`` column.

>>> Meta(members="ma_cross=2,rsi,signal:lightgbm_v1=1.5", threshold=0.2)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from algotrader.errors import InvalidInputError
from algotrader.strategies._util import column, to_signals, with_columns
from algotrader.strategies.base import BUY, SELL, Signal, Strategy, first_valid_bar
from algotrader.strategies.registry import get_strategy, register

if TYPE_CHECKING:
    import pandas as pd

SCORE = "meta_score"
_COLUMN_PREFIXES = ("signal:", "event:")


def parse_members(text: str) -> list[tuple[str, float]]:
    """``"ma_cross=2, rsi"`` -> ``[("ma_cross", 2.0), ("rsi", 1.0)]``."""
    members: list[tuple[str, float]] = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        name, _sep, weight = part.rpartition("=") if "=" in part else (part, "", "1")
        name = name.strip()
        try:
            value = float(weight)
        except ValueError:
            raise InvalidInputError(
                f"invalid weight {weight.strip()!r} for member {name!r}", "write NAME=WEIGHT"
            ) from None
        if not name or not np.isfinite(value):
            raise InvalidInputError(f"invalid member {part.strip()!r}", "write NAME=WEIGHT")
        members.append((name, value))
    if not members or sum(abs(w) for _, w in members) == 0:
        raise InvalidInputError(
            "meta needs members with non-zero weights",
            "pass --param members=ma_cross=1,rsi=1,signal:SOURCE=2",
        )
    return members


def _state(codes: np.ndarray) -> np.ndarray:
    """+1 after the last BUY, -1 after the last SELL, 0 before any (forward-filled codes)."""
    idx = np.where(codes != 0, np.arange(codes.size), -1)
    last = np.maximum.accumulate(idx) if codes.size else idx
    return np.where(last >= 0, codes[np.maximum(last, 0)], 0).astype(np.float64)


def _strategy_votes(name: str, frame: pd.DataFrame) -> np.ndarray:
    member = get_strategy(name)
    if callable(getattr(member, "start", None)):
        member.start()
    prepared = member.prepare(frame) if callable(getattr(member, "prepare", None)) else frame
    if callable(getattr(member, "signals", None)):
        codes = np.asarray(member.signals(prepared), dtype=np.int8)
    else:
        from algotrader.backtest.engine import signals_from_on_bar

        codes = signals_from_on_bar(member, prepared)
    return _state(codes)


@register("meta")
class Meta(Strategy):
    """Weighted vote of strategies and signal columns."""

    rule = "BUY when the weighted vote of `members` > threshold, SELL when < -threshold"
    params: ClassVar[Mapping[str, Any]] = {"members": "ma_cross=1,rsi=1", "threshold": 0.0}

    members: str
    threshold: float

    def validate(self) -> None:
        self._members = parse_members(self.members)
        if any(name == "meta" for name, _ in self._members):
            raise InvalidInputError("meta cannot be its own member", "list other strategies")
        if not 0.0 <= self.threshold < 1.0:
            raise InvalidInputError(
                f"invalid meta threshold {self.threshold}", "use 0 <= threshold < 1"
            )

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        lower = {str(c).lower(): c for c in frame.columns}
        score = np.zeros(len(frame))
        for name, weight in self._members:
            if name.lower().startswith(_COLUMN_PREFIXES):
                if name.lower() not in lower:
                    raise InvalidInputError(
                        f"meta member {name!r} is not a column of the bars",
                        "write it with `algotrader ml predict MODEL -s SYMBOL` (backtests load "
                        "every stored signal of their symbol)",
                    )
                values = column(frame, lower[name.lower()])
                votes = np.where(np.isnan(values), 0.0, np.sign(values))
            else:
                votes = _strategy_votes(name, frame)
            score += weight * votes
        score /= sum(abs(w) for _, w in self._members)
        return with_columns(frame, **{SCORE: score})

    def warmup_bars(self, frame: pd.DataFrame) -> int:
        nonzero = np.flatnonzero(column(frame, SCORE) != 0)
        return int(nonzero[0]) if nonzero.size else first_valid_bar(frame, ())

    def on_bar(self, i: int, row: Mapping[str, Any], df: pd.DataFrame) -> Signal:
        score = row[SCORE]
        if score > self.threshold:
            return BUY
        if score < -self.threshold:
            return SELL
        return None

    def signals(self, frame: pd.DataFrame) -> np.ndarray:
        score = column(frame, SCORE)
        return to_signals(score > self.threshold, score < -self.threshold)
