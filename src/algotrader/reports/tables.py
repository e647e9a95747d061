"""The tables of a backtest report: metrics (strategy vs buy & hold vs benchmark), the run's
parameters and provenance, and the trades. Cells are formatted strings."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from algotrader.backtest import metrics as mt
from algotrader.reports.document import TableSection

if TYPE_CHECKING:
    from algotrader.backtest.result import Result
    from algotrader.reports.backtest import RunInfo

MAX_TRADE_ROWS = 5_000
"""The trades table lists at most this many trades (the latest); the note says so."""

PERCENT_METRICS = frozenset(
    {"total_return", "buy_hold_return", "alpha", "cagr", "volatility", "max_drawdown",
     "win_rate", "exposure"}
)
_METRIC_ROWS = (
    ("total return", "total_return"),
    ("CAGR", "cagr"),
    ("volatility (annualised)", "volatility"),
    ("Sharpe", "sharpe"),
    ("Sortino", "sortino"),
    ("max drawdown", "max_drawdown"),
    ("Calmar", "calmar"),
)
_STRATEGY_ONLY = (
    ("alpha (vs buy & hold)", "alpha"),
    ("max drawdown duration (bars)", "max_drawdown_duration_bars"),
    ("max drawdown duration (days)", "max_drawdown_duration_days"),
    ("trades", "num_trades"),
    ("win rate", "win_rate"),
    ("profit factor", "profit_factor"),
    ("exposure", "exposure"),
    ("periods per year", "periods_per_year"),
    ("years", "years"),
)


def format_metric(key: str, value: Any) -> str:
    """``0.1896`` -> ``18.96%`` for fractions, 2 decimals otherwise; nan -> ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    number = float(value)
    if math.isnan(number):
        return "n/a"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if key in PERCENT_METRICS:
        return f"{number * 100:.2f}%"
    return f"{number:,.2f}"


def curve_metrics(curve: np.ndarray, index: pd.DatetimeIndex, periods: float, rf: float,
                  cash: float) -> dict[str, float]:
    """The risk metrics of any equity curve, computed like the strategy's."""
    total = mt.total_return(curve, cash)
    growth = mt.cagr(total, mt.years_between(index))
    drawdown = mt.max_drawdown(curve)[0]
    return {
        "total_return": total,
        "cagr": growth,
        "volatility": mt.annualized_volatility(curve, periods),
        "sharpe": mt.sharpe_ratio(curve, periods, rf),
        "sortino": mt.sortino_ratio(curve, periods, rf),
        "max_drawdown": drawdown,
        "calmar": mt.calmar_ratio(growth, drawdown),
    }


def metrics_table(result: Result, benchmark: pd.Series | None = None,
                  benchmark_name: str = "") -> TableSection:
    """Strategy beside buy & hold (and the benchmark) for the metrics all of them have."""
    m = result.metrics
    index = pd.DatetimeIndex(result.equity.index)
    periods = float(m.get("periods_per_year") or 252.0)
    rf, cash = result.config.risk_free_rate, result.config.cash
    held = result.buy_hold.to_numpy(np.float64)
    held_metrics = curve_metrics(held, index, periods, rf, cash)
    others = [held_metrics]
    columns = ["metric", "strategy", "buy & hold"]
    if benchmark is not None:
        valid = benchmark.dropna()
        others.append(curve_metrics(valid.to_numpy(np.float64), pd.DatetimeIndex(valid.index),
                                    periods, rf, cash))
        columns.append(benchmark_name or "benchmark")
    rows = [
        (label, format_metric(key, m.get(key)), *(format_metric(key, o[key]) for o in others))
        for label, key in _METRIC_ROWS
    ]
    blank = ("",) * len(others)
    rows += [(label, format_metric(key, m.get(key)), *blank) for label, key in _STRATEGY_ONLY]
    return TableSection(
        "Metrics", tuple(columns), tuple(rows), numeric=(False, *([True] * (len(columns) - 1))),
        note="Computed on every bar (charts are downsampled for display only).", width="half",
    )


def plain(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items()) or "(none)"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def run_table(result: Result, info: RunInfo, synthetic: bool) -> TableSection:
    """What ran, on which data, with which code."""
    what = [
        ("symbol", info.symbol or "(not given)"),
        ("resolution", result.resolution),
        ("strategy", result.strategy),
        ("parameters", plain(result.params)),
        ("settings", plain(result.config.to_dict())),
        *bar_rows(pd.DatetimeIndex(result.equity.index)),
    ]
    return run_section(info, what, synthetic=synthetic)


def bar_rows(index: pd.DatetimeIndex) -> list[tuple[str, str]]:
    """How many bars, the first and the last."""
    return [
        ("bars", f"{len(index):,}"),
        ("first bar (UTC)", f"{index[0]:%Y-%m-%d %H:%M}" if len(index) else ""),
        ("last bar (UTC)", f"{index[-1]:%Y-%m-%d %H:%M}" if len(index) else ""),
    ]


def run_section(
    info: RunInfo,
    what: list[tuple[str, str]],
    *,
    synthetic: bool,
    fingerprint: str | None = None,
) -> TableSection:
    """The "Run" table of every report: the run's identity, ``what`` ran, then where its data and
    code came from (``fingerprint`` when the result carries its own)."""
    rows: list[tuple[str, str]] = []
    if info.run_id is not None:
        rows.append(("run id", str(info.run_id)))
    if info.created_at is not None:
        rows.append(("run at (UTC)", f"{pd.Timestamp(info.created_at):%Y-%m-%d %H:%M:%S}"))
    rows += what
    rows += [
        ("data source", info.data_source or "(in memory)"),
        ("synthetic data", "yes" if synthetic else "no"),
        ("data fingerprint (SHA-256)", fingerprint or info.data_fingerprint or "(not stored)"),
        ("code version", info.code_version or "(not stored)"),
    ]
    if info.current_code_version and info.current_code_version != info.code_version:
        rows.append(("code version now", info.current_code_version))
    return TableSection("Run", ("field", "value"), tuple(rows), width="half")


def trades_table(trades: pd.DataFrame, title: str = "Trades") -> TableSection:
    """One row per round trip (the latest :data:`MAX_TRADE_ROWS`); a ``symbol`` column when the
    trades have one (portfolios), a ``fold`` column when they have one (walk-forward)."""
    shown = trades.iloc[-MAX_TRADE_ROWS:]
    first = len(trades) - len(shown)
    extra = [c for c in ("fold", "symbol") if c in shown.columns]
    entry = pd.DatetimeIndex(pd.to_datetime(shown["entry_time"], utc=True)).strftime(
        "%Y-%m-%d %H:%M")
    exit_time = pd.DatetimeIndex(pd.to_datetime(shown["exit_time"], utc=True))
    exits = np.where(exit_time.isna(), "open", exit_time.strftime("%Y-%m-%d %H:%M"))
    exit_price = shown["exit_price"].to_numpy(np.float64)
    columns = zip(
        *(shown[c].astype(str) for c in extra),
        shown["side"], entry, shown["entry_price"].to_numpy(np.float64), exits, exit_price,
        shown["quantity"].to_numpy(np.float64), shown["pnl"].to_numpy(np.float64),
        shown["return_pct"].to_numpy(np.float64), shown["commission"].to_numpy(np.float64),
        strict=True,
    )
    n = len(extra)
    rows = [
        (str(k), *values[:n], str(side), str(t0), f"{p0:,.4f}", str(t1),
         "" if np.isnan(p1) else f"{p1:,.4f}", f"{qty:,.4f}", f"{pnl:,.2f}", f"{ret:+.2f}%",
         f"{fee:,.2f}")
        for k, values in enumerate(columns, start=first + 1)
        for side, t0, p0, t1, p1, qty, pnl, ret, fee in (values[n:],)
    ]
    note = (f"Showing the latest {len(shown):,} of {len(trades):,} trades."
            if first else f"{len(trades):,} trades")
    if len(trades) and bool(trades["open"].iloc[-1]):
        note += "; the last one is still open, marked to the last close."
    return TableSection(
        title,
        ("#", *extra, "side", "entry (UTC)", "entry price", "exit (UTC)", "exit price",
         "quantity", "P&L", "return", "commission"),
        tuple(rows),
        numeric=(True, *([False] * n), False, False, True, False, True, True, True, True, True),
        note=note,
    )


def json_cell(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)
