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
from typing import Any

import numpy as np
import pandas as pd

from algotrader.backtest import _kernel
from algotrader.backtest._bars import (
    infer_resolution,
    normalise_bars,
    time_index,
    with_indicators,
)
from algotrader.backtest._hooks import (
    ExecutionPath,
    call_hook,
    choose_path,
    fused_rule,
    prepared,
    vectorized_signals,
)
from algotrader.backtest._on_bar import on_bar_signals
from algotrader.backtest._orders import Costs
from algotrader.backtest._simulation import Simulation
from algotrader.backtest.config import BacktestConfig
from algotrader.backtest.metrics import assemble_metrics, periods_per_year
from algotrader.backtest.result import FillRecord, Result, buy_hold_start
from algotrader.errors import InvalidInputError
from algotrader.strategies._rules import SIGNALS, Rule
from algotrader.strategies.registry import strategy_name, strategy_params
from algotrader.timeframes import Resolution

_NO_SIGNALS = np.zeros(0, np.int8)
_NO_FLOATS = np.zeros(0, np.float64)


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
    res = infer_resolution(time_index(bars), resolution)
    vectorized = choose_path(strategy, path)
    rule = fused_rule(strategy) if vectorized else None
    if rule is not None:
        bars = with_indicators(bars, rule.inputs)
        return _finish(bars, strategy, cfg, res, rule, _NO_SIGNALS, None)
    call_hook(strategy, "start", bars)
    bars = prepared(strategy, bars)
    if vectorized:
        signals = vectorized_signals(strategy, bars)
        return _finish(bars, strategy, cfg, res, Rule(SIGNALS), signals, None)
    signals, bars, sim = on_bar_signals(
        strategy, bars, lambda sig: _simulation(bars, cfg, res, Rule(SIGNALS), sig)
    )
    return _finish(bars, strategy, cfg, res, Rule(SIGNALS), signals, sim)


def engine_compiled() -> bool:
    """Whether the compiled engine is in numba's on-disk cache; when not, the first backtest
    of a process compiles it (about half a minute on a new install, once)."""
    return _kernel.compiled()


def signals_from_on_bar(strategy: Any, frame: pd.DataFrame) -> np.ndarray:
    """The int8 signal array ``strategy.on_bar`` produces over ``frame`` (already prepared)."""
    bars = normalise_bars(frame)
    call_hook(strategy, "start", bars)
    cfg = BacktestConfig()
    res = infer_resolution(time_index(bars), None)
    signals, _, _ = on_bar_signals(
        strategy, bars, lambda sig: _simulation(bars, cfg, res, Rule(SIGNALS), sig)
    )
    return signals.copy()


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
    periods = periods_per_year(time_index(frame), res)
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
    index = time_index(frame)
    close = sim.prices[3]
    n = close.size
    stats = raw.stats
    bh_bar = buy_hold_start(n, cfg.fill)
    bh_price = float(close[0] if cfg.fill == "close" else (sim.prices[0][1] if n > 1 else np.nan))
    bh_final = stats.bh_shares * close[-1] if bh_bar < n else float(cfg.cash)
    bar, side, price, qty, fee, why = raw.fills[:6]
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
        metrics=metrics,
        _record=record,
        _curves=raw.curves,
    )
