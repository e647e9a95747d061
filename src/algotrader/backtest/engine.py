"""The in-memory backtest engine: frame + strategy + settings -> :class:`Result`.

Three ways to get the per-bar signals, one accounting kernel (:mod:`algotrader.backtest._kernel`):

* **fused** (built-in strategies on the vectorised path): the strategy's compiled rule is
  evaluated inside the kernel's single pass over the bars; no signal array, no indicator
  temporaries;
* **vectorized**: one call to ``strategy.signals(frame)``, whose +1/-1/0 array the kernel reads;
* **on_bar** (the reference): one Python call per bar (see :mod:`algotrader.backtest._on_bar`).

A strategy whose ``signals`` agrees with its ``on_bar`` gives identical trades on both paths, with
every sizing and exit rule, because the rules live in the kernel, after the signals. Only the
stored indicator columns a strategy declares (``columns``) or reads are computed when the frame
lacks them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import pandas as pd

from algotrader.backtest import _errors
from algotrader.backtest._on_bar import decode_answer, on_bar_signals
from algotrader.backtest._orders import Costs
from algotrader.backtest._simulation import Simulation
from algotrader.backtest.config import BacktestConfig
from algotrader.backtest.metrics import assemble_metrics, periods_per_year
from algotrader.backtest.result import FillRecord, Result, buy_hold_start
from algotrader.errors import InvalidInputError
from algotrader.indicators.registry import INDICATOR_COLUMNS, is_indicator_column
from algotrader.strategies._rules import SIGNALS, Rule
from algotrader.strategies.registry import strategy_name, strategy_params
from algotrader.timeframes import RESOLUTIONS, Resolution, parse_resolution

ExecutionPath = Literal["auto", "on_bar", "vectorized"]

_OHLCV = ("open", "high", "low", "close", "volume")
_DATE_COLUMNS = ("ts", "date", "datetime", "timestamp", "time")
_NO_SIGNALS = np.zeros(0, np.int8)
_NO_FLOATS = np.zeros(0, np.float64)
_SIGNALS_FIX = "return one +1 (BUY), -1 (SELL) or 0 per bar"


def run_backtest(
    frame: pd.DataFrame,
    strategy: Any,
    config: BacktestConfig | None = None,
    *,
    path: ExecutionPath = "auto",
    resolution: str | Resolution | None = None,
) -> Result:
    """Backtest ``strategy`` over ``frame`` (OHLCV plus whatever columns the strategy reads).

    Args:
        frame: bars indexed by timestamps (UTC; a naive index is taken as UTC); needs ``open``
            and ``close`` (any case; ``high`` and ``low`` for stops and limit entries).
        strategy: a strategy instance (a :class:`~algotrader.strategies.Strategy` or any object with
            ``on_bar``/``signals``).
        config: execution settings; defaults to :class:`BacktestConfig()`.
        path: ``"vectorized"`` uses ``strategy.signals``, ``"on_bar"`` the per-bar loop, ``"auto"``
            the vectorised one when the strategy's most derived hook is ``signals``.
        resolution: bar size for annualising metrics; inferred from the index spacing if omitted.

    Raises:
        StrategyError: the strategy raised or answered something other than BUY/SELL/None
            (one line naming its file, line and bar; the original exception is chained).
    """
    cfg = config or BacktestConfig()
    bars = normalise_bars(frame)
    res = _resolution(pd.DatetimeIndex(bars.index), resolution)
    vectorized = _choose_path(strategy, path)
    rule = _fused_rule(strategy) if vectorized else None
    if rule is not None:
        bars = with_indicators(bars, rule.inputs)
        return _finish(bars, strategy, cfg, res, rule, _NO_SIGNALS, None)
    _call_hook(strategy, "start", bars)
    bars = with_indicators(bars, _needed_indicators(strategy, vectorized))
    bars = _prepared(strategy, bars)
    if vectorized:
        signals = _vectorized_signals(strategy, bars)
        return _finish(bars, strategy, cfg, res, Rule(SIGNALS), signals, None)
    signals, bars, sim = on_bar_signals(
        strategy, bars, lambda sig: _simulation(bars, cfg, res, Rule(SIGNALS), sig)
    )
    return _finish(bars, strategy, cfg, res, Rule(SIGNALS), signals, sim)


def signals_from_on_bar(strategy: Any, frame: pd.DataFrame) -> np.ndarray:
    """The int8 signal array ``strategy.on_bar`` produces over ``frame`` (already prepared)."""
    bars = normalise_bars(frame)
    _call_hook(strategy, "start", bars)
    cfg = BacktestConfig()
    res = _resolution(pd.DatetimeIndex(bars.index), None)
    signals, _, _ = on_bar_signals(
        strategy, bars, lambda sig: _simulation(bars, cfg, res, Rule(SIGNALS), sig)
    )
    return signals.copy()


# --------------------------------------------------------------------------- the frame


def normalise_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with lower-case OHLCV names and a timestamp index, or one clear error.

    Accepts the usual shape of downloaded data: ``Open/High/Low/Close/Volume`` in any case, and a
    ``Date``/``Datetime``/``Timestamp`` column when the index is not already timestamps.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError("the bars must be a pandas DataFrame", "pass a bar frame")
    rename: dict[Any, str] = {}
    present = set(frame.columns)
    for col in frame.columns:
        name = str(col).strip().lower()
        if name in _OHLCV and name not in present and name not in rename.values():
            rename[col] = name
    bars = frame.rename(columns=rename) if rename else frame
    if not isinstance(bars.index, pd.DatetimeIndex):
        bars = _with_time_index(bars)
    missing = [c for c in ("open", "close") if c not in bars.columns]
    if missing:
        raise InvalidInputError(
            f"the bars lack column(s) {', '.join(missing)}",
            "give open/high/low/close/volume columns (any case)",
        )
    if len(bars) == 0:
        raise InvalidInputError("no bars to backtest", "load a longer period")
    if not bars.index.is_monotonic_increasing:
        raise InvalidInputError("the bars are not in time order", "sort them by timestamp")
    return bars


def _with_time_index(frame: pd.DataFrame) -> pd.DataFrame:
    lower = {str(c).strip().lower(): c for c in frame.columns}
    for name in _DATE_COLUMNS:
        if name in lower:
            try:
                stamps = pd.to_datetime(frame[lower[name]], utc=True)
            except (ValueError, TypeError, OverflowError) as exc:
                raise InvalidInputError(
                    f"cannot read the {lower[name]!r} column as timestamps", "use ISO dates"
                ) from exc
            return frame.drop(columns=[lower[name]]).set_index(pd.DatetimeIndex(stamps, name="ts"))
    raise InvalidInputError(
        "the bars need a DatetimeIndex", "index them by UTC timestamp or add a Date column"
    )


def with_indicators(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``frame`` plus the stored indicator ``columns`` it lacks (others ignored); no copy of
    the existing columns."""
    missing = [c for c in columns if is_indicator_column(c) and c not in frame.columns]
    if not missing:
        return frame
    from algotrader.indicators import compute_indicators
    from algotrader.strategies._util import with_columns

    computed = compute_indicators(frame, missing)
    add = {c: computed[c].to_numpy() for c in computed.columns if c not in frame.columns}
    return with_columns(frame, **add)


def _needed_indicators(strategy: Any, vectorized: bool) -> tuple[str, ...]:
    declared = tuple(c for c in getattr(strategy, "columns", ()) or () if isinstance(c, str))
    if declared:
        return declared
    # Without declarations only the per-bar loop can see what is read (and computes it then);
    # a vectorised or preparing strategy gets every stored column, as before declarations.
    overrides_prepare = _defining_module(type(strategy), "prepare") not in (None, _BASE)
    return INDICATOR_COLUMNS if vectorized or overrides_prepare else ()


def _resolution(index: pd.DatetimeIndex, given: str | Resolution | None) -> Resolution:
    if given is not None:
        return given if isinstance(given, Resolution) else parse_resolution(given)
    if len(index) < 2:
        return RESOLUTIONS["1d"]
    # The first 10k spacings are plenty and keep this O(1) for million-bar frames.
    head = np.asarray(index[: 10_001].as_unit("ns").asi8)
    step = float(np.median(np.diff(head))) / 1e9
    # Nearest bar size on a log scale: daily bars with weekends still have a median of one day.
    return min(RESOLUTIONS.values(), key=lambda r: abs(math.log(max(step, 1.0) / r.seconds)))


# --------------------------------------------------------------------------- the strategy

_BASE = "algotrader.strategies.base"
_RULES = "algotrader.strategies._rules"


def _defining_class(cls: type, attr: str) -> type | None:
    for klass in cls.__mro__:
        if attr in vars(klass):
            return klass
    return None


def _defining_module(cls: type, attr: str) -> str | None:
    klass = _defining_class(cls, attr)
    return None if klass is None else klass.__module__


def _choose_path(strategy: Any, path: ExecutionPath) -> bool:
    has_signals = callable(getattr(strategy, "signals", None))
    has_on_bar = callable(getattr(strategy, "on_bar", None))
    if path == "vectorized":
        if not has_signals:
            raise InvalidInputError(
                f"{type(strategy).__name__} has no signals(frame) method",
                "use the on_bar path or add a vectorised signals method",
            )
        return True
    if path == "on_bar":
        if not has_on_bar:
            raise InvalidInputError(f"{type(strategy).__name__} has no on_bar method")
        return False
    if path != "auto":
        raise InvalidInputError(f"invalid path {path!r}", 'use "auto", "on_bar" or "vectorized"')
    if not has_signals:
        return False
    # A subclass that overrides on_bar but inherits signals must run its own on_bar. A compiled
    # rule's signals belong to the class that defines the rule.
    mro = type(strategy).__mro__
    sig_cls = _defining_class(type(strategy), "signals")
    if sig_cls is not None and sig_cls.__module__ == _RULES:
        sig_cls = _defining_class(type(strategy), "rule_for")
    bar_cls = _defining_class(type(strategy), "on_bar")
    if bar_cls is None or sig_cls is None or bar_cls.__module__ == _BASE:
        return True
    return mro.index(sig_cls) <= mro.index(bar_cls)


def _fused_rule(strategy: Any) -> Rule | None:
    # Only the built-in classes themselves: a user subclass may change prepare or signals.
    cls = type(strategy)
    if not cls.__module__.startswith("algotrader.strategies.") or not hasattr(cls, "rule_for"):
        return None
    rule: Rule = strategy.rule_for()
    return rule


def _call_hook(strategy: Any, hook: str, frame: pd.DataFrame) -> Any:
    method = getattr(strategy, hook, None)
    if not callable(method):
        return None
    try:
        return method(frame) if hook == "prepare" else method()
    except Exception as exc:
        raise _errors.raised(strategy, exc, hook, frame, None) from exc


def _prepared(strategy: Any, frame: pd.DataFrame) -> pd.DataFrame:
    if _defining_module(type(strategy), "prepare") in (None, _BASE):
        return frame
    out = _call_hook(strategy, "prepare", frame)
    if not isinstance(out, pd.DataFrame):
        raise _errors.bad_answer(
            strategy, "prepare", out, None, None, "return the frame with your added columns"
        )
    return normalise_bars(out)


def _vectorized_signals(strategy: Any, frame: pd.DataFrame) -> np.ndarray:
    try:
        raw = strategy.signals(frame)
    except Exception as exc:
        raise _errors.raised(strategy, exc, "signals", frame, None) from exc
    values = np.asarray(raw)
    if values.shape != (len(frame),):
        raise _errors.bad_answer(
            strategy, "signals", raw, None, None, f"return one value per bar ({len(frame)})"
        )
    if values.dtype == np.int8:
        bad = np.flatnonzero((values < -1) | (values > 1))
        if not bad.size:
            return np.ascontiguousarray(values)
        return _decode_signals(strategy, values, frame, int(bad[0]))
    if values.dtype.kind in "iuf":
        out = values.astype(np.int8)
        ok = out.astype(values.dtype) == values
        bad = np.flatnonzero(~ok | (out < -1) | (out > 1))
        if not bad.size:
            return out
        return _decode_signals(strategy, values, frame, int(bad[0]))
    if values.dtype.kind == "O":
        return _decode_signals(strategy, values, frame, None)
    raise _errors.bad_answer(strategy, "signals", raw, None, None, _SIGNALS_FIX)


def _decode_signals(
    strategy: Any, values: np.ndarray, frame: pd.DataFrame, bad: int | None
) -> np.ndarray:
    if bad is not None:
        raise _errors.bad_answer(
            strategy, "signals", values[bad].item(), frame, bad, _SIGNALS_FIX
        )
    # Object arrays: the on_bar vocabulary ("BUY", "SELL", None, +1/-1/0), bar by bar; a
    # missing value (pandas' NaN in a column of strings) is no signal.
    out = np.empty(len(values), np.int8)
    for i, answer in enumerate(values):
        if isinstance(answer, float) and math.isnan(answer):
            out[i] = 0
            continue
        try:
            out[i] = decode_answer(answer, i, strategy, frame)
        except _errors.StrategyError as exc:
            raise _errors.bad_answer(strategy, "signals", answer, frame, i, _SIGNALS_FIX) from exc
    return out


# --------------------------------------------------------------------------- the run


def _prices(
    frame: pd.DataFrame, cfg: BacktestConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    def col(name: str) -> np.ndarray:
        return np.ascontiguousarray(frame[name].to_numpy(dtype=np.float64))

    open_, close = col("open"), col("close")
    intrabar = cfg.stop_loss, cfg.take_profit, cfg.trailing_stop, cfg.limit_entry
    needs_range = cfg.uses_atr or any(v is not None for v in intrabar)
    if "high" in frame.columns and "low" in frame.columns:
        return open_, col("high"), col("low"), close
    if needs_range:
        raise InvalidInputError(
            "stops, limit entries and ATR sizing need high and low columns", "add them"
        )
    # Never read: without exits or limits no intrabar level exists.
    return open_, close, close, close


def _costs(cfg: BacktestConfig, rf_per_bar: float) -> Costs:
    sizing = ("all_in", "percent", "cash", "shares", "volatility").index(cfg.sizing)

    def level(value: float | None) -> float:
        return math.nan if value is None else float(value)

    return Costs(
        cfg.fill == "close", cfg.allow_short, cfg.whole_shares, float(cfg.cash),
        float(cfg.commission_per_share), float(cfg.commission_bps), float(cfg.commission_min),
        float(cfg.slippage_bps), sizing, level(cfg.size), level(cfg.stop_loss),
        level(cfg.take_profit), level(cfg.trailing_stop), cfg.uses_atr and cfg.exit_unit == "atr",
        level(cfg.limit_entry), int(cfg.limit_bars), rf_per_bar,
    )


def _simulation(
    frame: pd.DataFrame, cfg: BacktestConfig, res: Resolution, rule: Rule, signals: np.ndarray
) -> Simulation:
    prices = _prices(frame, cfg)
    atr = _NO_FLOATS
    if cfg.uses_atr:
        from algotrader.indicators import atr as wilder_atr

        atr = wilder_atr(prices[1], prices[2], prices[3], cfg.atr_period)
    periods = periods_per_year(pd.DatetimeIndex(frame.index), res)
    rf = float((1.0 + cfg.risk_free_rate) ** (1.0 / periods) - 1.0)
    inputs = rule.arrays(frame) if rule.kind != SIGNALS else (_NO_FLOATS, _NO_FLOATS, _NO_FLOATS)
    return Simulation(
        _costs(cfg, rf), rule.kind, rule.numbers(), signals, inputs, prices, atr, periods
    )


def _finish(
    frame: pd.DataFrame,
    strategy: Any,
    cfg: BacktestConfig,
    res: Resolution,
    rule: Rule,
    signals: np.ndarray,
    sim: Simulation | None,
) -> Result:
    sim = sim or _simulation(frame, cfg, res, rule, signals)
    raw = sim.finish()
    index = pd.DatetimeIndex(frame.index)
    close = sim.prices[3]
    n = close.size
    stats = raw.stats
    bh_bar = buy_hold_start(n, cfg.fill)
    bh_price = float(close[0] if cfg.fill == "close" else (sim.prices[0][1] if n > 1 else np.nan))
    bh_final = stats.bh_shares * close[-1] if bh_bar < n else float(cfg.cash)
    bar, side, price, qty, fee, why = raw.fills
    record = FillRecord(
        index, close, bar, side, price, qty, fee, why, float(cfg.cash), bh_bar, bh_price
    )
    metrics = assemble_metrics(
        index, stats, raw.variance_sum, bh_final, record.trade_pnl(),
        cash=cfg.cash, periods=sim.periods, risk_free_rate=cfg.risk_free_rate,
    )
    return Result(
        strategy=strategy_name(strategy),
        params=strategy_params(strategy),
        config=cfg,
        resolution=res.name,
        # copy=False: the kernel's arrays are fresh and owned by the Result.
        equity=pd.Series(raw.equity, index=index, name="equity", copy=False),
        position=pd.Series(raw.position, index=index, name="position", copy=False),
        metrics=metrics,
        _record=record,
    )
