"""Features: declared once, computed the same way for training and prediction, causal.

A :class:`Feature` is a name plus a function of the bar frame (and the event times) returning one
float64 value per bar. Every built-in feature at bar t reads bars ``<= t`` only, which
:func:`algotrader.ml.lookahead.check_lookahead` verifies by recomputing on truncated histories.

>>> from algotrader.ml.features import build_features, DEFAULT_FEATURES
>>> table = build_features(bars, DEFAULT_FEATURES)          # doctest: +SKIP
>>> list(table.columns[:3])                                  # doctest: +SKIP
['ret_1', 'ret_5', 'ret_20']
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.frames import INDICATOR_COLUMNS

_NS_PER_HOUR = 3_600_000_000_000


@dataclass(frozen=True)
class EventTimes:
    """When events became known: sorted UTC nanoseconds, per scope."""

    symbol: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    market: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    @classmethod
    def from_frame(cls, events: pd.DataFrame | None) -> EventTimes:
        """From a frame with columns ``ts`` (UTC) and ``scope`` (``"symbol"`` or ``"market"``)."""
        if events is None or events.empty:
            return cls()
        ts = _ns(pd.DatetimeIndex(events["ts"]))
        scope = events["scope"].to_numpy()
        return cls(np.sort(ts[scope == "symbol"]), np.sort(ts[scope == "market"]))


FeatureFunction = Callable[[pd.DataFrame, EventTimes], np.ndarray]


@dataclass(frozen=True)
class Feature:
    """One feature: ``compute(frame, events)`` gives a float64 value per bar, using bars <= t."""

    name: str
    compute: FeatureFunction
    needs: tuple[str, ...] = ("close",)
    description: str = ""


# ------------------------------------------------------------------------------ array helpers


def _ns(index: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


def _col(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype=np.float64)


def _lag(values: np.ndarray, bars: int) -> np.ndarray:
    """values[t - bars] at t (NaN where that bar does not exist)."""
    out = np.full(values.shape[0], np.nan)
    if bars < values.shape[0]:
        out[bars:] = values[: values.shape[0] - bars]
    return out


def _finite(values: np.ndarray) -> np.ndarray:
    """``values`` with inf (from a division by zero) as NaN, in a new array."""
    return np.where(np.isfinite(values), values, np.nan)


def _log_close(frame: pd.DataFrame) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(_col(frame, "close"))


def _rolling_std(values: np.ndarray, window: int) -> np.ndarray:
    series = pd.Series(values, copy=False)
    return series.rolling(window, min_periods=window).std(ddof=1).to_numpy(np.float64)


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    series = pd.Series(values, copy=False)
    return series.rolling(window, min_periods=window).mean().to_numpy(np.float64)


# ---------------------------------------------------------------------------------- features


def _log_return(bars: int) -> FeatureFunction:
    def compute(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
        log_close = _log_close(frame)
        return _finite(log_close - _lag(log_close, bars))

    return compute


def _volatility(window: int) -> FeatureFunction:
    def compute(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
        log_close = _log_close(frame)
        return _finite(_rolling_std(log_close - _lag(log_close, 1), window))

    return compute


def _vol_ratio(frame: pd.DataFrame, events: EventTimes) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite(_volatility(20)(frame, events) / _volatility(60)(frame, events))


def _range(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite(np.log(_col(frame, "high") / _col(frame, "low")))


def _gap(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite(np.log(_col(frame, "open")) - _lag(_log_close(frame), 1))


def _volume_z(window: int) -> FeatureFunction:
    def compute(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
        log_volume = np.log1p(np.maximum(_col(frame, "volume"), 0.0))
        mean = _rolling_mean(log_volume, window)
        std = _rolling_std(log_volume, window)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _finite((log_volume - mean) / std)

    return compute


def _value(column: str) -> FeatureFunction:
    def compute(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
        return _col(frame, column).copy()

    return compute


def _change(column: str, bars: int) -> FeatureFunction:
    def compute(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
        values = _col(frame, column)
        return values - _lag(values, bars)

    return compute


def _ratio_minus_one(numerator: str, denominator: str) -> FeatureFunction:
    def compute(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return _finite(_col(frame, numerator) / _col(frame, denominator) - 1.0)

    return compute


def _atr_pct(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite(_col(frame, "atr") / _col(frame, "close"))


def _macd_hist(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        hist = (_col(frame, "macd") - _col(frame, "macd_signal")) / _col(frame, "close")
    return _finite(hist)


def _macd_hist_change(frame: pd.DataFrame, events: EventTimes) -> np.ndarray:
    hist = _macd_hist(frame, events)
    return hist - _lag(hist, 5)


def _bb_position(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
    lower, upper = _col(frame, "bb_lower"), _col(frame, "bb_upper")
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite((_col(frame, "close") - lower) / (upper - lower))


def _day_of_week(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
    return pd.DatetimeIndex(frame.index).day_of_week.to_numpy(np.float64)


def _month(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
    return pd.DatetimeIndex(frame.index).month.to_numpy(np.float64)


def _time_of_day(frame: pd.DataFrame, _events: EventTimes) -> np.ndarray:
    ns = _ns(pd.DatetimeIndex(frame.index))
    return (ns % (24 * _NS_PER_HOUR)) / _NS_PER_HOUR


def newly_visible(bar_ns: np.ndarray, event_ns: np.ndarray) -> np.ndarray:
    """How many events became visible at each bar: ts in (previous bar's ts, this bar's ts].

    An event stamped exactly at a bar's timestamp is visible on that bar; the first bar counts
    only events stamped at its own timestamp (an earlier bar's window is unknown to it).
    """
    if bar_ns.size == 0:
        return np.zeros(0)
    upto = np.searchsorted(event_ns, bar_ns, side="right")
    before = np.empty_like(upto)
    before[1:] = upto[:-1]
    before[0] = np.searchsorted(event_ns, bar_ns[0], side="left")
    return (upto - before).astype(np.float64)


def _events_of(scope: str) -> FeatureFunction:
    def compute(frame: pd.DataFrame, events: EventTimes) -> np.ndarray:
        return newly_visible(_ns(pd.DatetimeIndex(frame.index)), getattr(events, scope))

    return compute


def _declare() -> dict[str, Feature]:
    ohlc = ("open", "high", "low", "close")
    items = [
        *(
            Feature(f"ret_{h}", _log_return(h), ("close",), f"log return over {h} bars")
            for h in (1, 5, 20, 60)
        ),
        Feature("vol_20", _volatility(20), ("close",), "std of 1-bar log returns, 20 bars"),
        Feature("vol_60", _volatility(60), ("close",), "std of 1-bar log returns, 60 bars"),
        Feature("vol_ratio", _vol_ratio, ("close",), "vol_20 / vol_60"),
        Feature("range_1", _range, ohlc, "log(high / low) of the bar"),
        Feature("gap_1", _gap, ohlc, "log(open / previous close)"),
        Feature("volume_z_20", _volume_z(20), ("volume",), "z-score of log volume, 20 bars"),
        Feature("rsi", _value("rsi"), ("rsi",), "RSI(14)"),
        Feature("rsi_chg_5", _change("rsi", 5), ("rsi",), "RSI change over 5 bars"),
        Feature(
            "macd_hist", _macd_hist, ("macd", "macd_signal", "close"), "(macd - signal) / close"
        ),
        Feature(
            "macd_hist_chg_5",
            _macd_hist_change,
            ("macd", "macd_signal", "close"),
            "macd_hist change over 5 bars",
        ),
        Feature(
            "close_ma20", _ratio_minus_one("close", "ma20"), ("close", "ma20"), "close / ma20 - 1"
        ),
        Feature(
            "close_ma50", _ratio_minus_one("close", "ma50"), ("close", "ma50"), "close / ma50 - 1"
        ),
        Feature("ma20_ma50", _ratio_minus_one("ma20", "ma50"), ("ma20", "ma50"), "ma20 / ma50 - 1"),
        Feature(
            "bb_position",
            _bb_position,
            ("close", "bb_lower", "bb_upper"),
            "(close - lower band) / band width",
        ),
        Feature("atr_pct", _atr_pct, ("atr", "close"), "atr / close"),
        Feature(
            "supertrend_trend", _value("supertrend_trend"), ("supertrend_trend",), "+1 up, -1 down"
        ),
        Feature("dist_ath", _ratio_minus_one("close", "ath"), ("close", "ath"), "close / ath - 1"),
        Feature("day_of_week", _day_of_week, (), "0 = Monday"),
        Feature("month", _month, (), "1 .. 12"),
        Feature("time_of_day", _time_of_day, (), "hours since 00:00 UTC (0 for daily bars)"),
        Feature("event_symbol", _events_of("symbol"), (), "symbol events first visible at the bar"),
        Feature("event_market", _events_of("market"), (), "market events first visible at the bar"),
    ]
    return {f.name: f for f in items}


FEATURES: dict[str, Feature] = _declare()
DEFAULT_FEATURES: tuple[str, ...] = tuple(FEATURES)


def resolve_features(
    names: Iterable[str | Feature] | None = None, extra: Sequence[Feature] = ()
) -> list[Feature]:
    """Features by name (``None``: the default set); unknown names raise with suggestions."""
    known = {**FEATURES, **{f.name: f for f in extra}}
    out: list[Feature] = []
    for item in DEFAULT_FEATURES if names is None else names:
        if isinstance(item, Feature):
            out.append(item)
            continue
        name = str(item).strip()
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidInputError(
                f"unknown feature {name!r}",
                f"{hint}see `algotrader ml features` for the {len(known)} available",
            )
        out.append(known[name])
    if not out:
        raise InvalidInputError(
            "no features given", "name at least one feature, or omit --features"
        )
    names_seen = [f.name for f in out]
    if len(set(names_seen)) != len(names_seen):
        raise InvalidInputError("a feature is listed twice", "name each feature once")
    return out


def build_features(
    frame: pd.DataFrame,
    features: Iterable[str | Feature] | None = None,
    events: EventTimes | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The feature table of one symbol's bar frame: one column per feature, same index.

    Indicator columns missing from ``frame`` are computed in memory (the same kernels as the
    database's), so stored bars and plain OHLCV frames give the same features.
    """
    chosen = resolve_features(features)
    if not isinstance(events, EventTimes):
        events = EventTimes.from_frame(events)
    needed = {column for f in chosen for column in f.needs}
    frame = _with_columns(frame, needed)
    table = {f.name: np.asarray(f.compute(frame, events), dtype=np.float64) for f in chosen}
    for name, values in table.items():
        if values.shape != (len(frame),):
            raise InvalidInputError(
                f"feature {name!r} returned {values.shape[0]} values for {len(frame)} bars",
                "return one value per bar",
            )
    return pd.DataFrame(table, index=frame.index, copy=False)


def _with_columns(frame: pd.DataFrame, needed: set[str]) -> pd.DataFrame:
    missing = needed - set(frame.columns)
    if not missing:
        return frame
    if missing <= set(INDICATOR_COLUMNS) and {"open", "high", "low", "close"} <= set(frame.columns):
        from algotrader.indicators import compute_indicators

        computed = compute_indicators(frame)
        return pd.concat([frame, computed[sorted(missing)]], axis=1)
    raise InvalidInputError(
        f"the bars lack column(s) {', '.join(sorted(missing))} needed by the features",
        "load OHLCV bars (with volume), or drop those features with --features",
    )


__all__ = [
    "DEFAULT_FEATURES",
    "FEATURES",
    "EventTimes",
    "Feature",
    "build_features",
    "newly_visible",
    "resolve_features",
]
