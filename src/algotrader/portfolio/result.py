"""What a portfolio backtest returns: :class:`PortfolioResult`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from algotrader.portfolio.config import PortfolioConfig

FILL_COLUMNS: tuple[str, ...] = (
    "ts", "symbol", "action", "quantity", "price", "commission", "notional",
)
TRADE_COLUMNS: tuple[str, ...] = (
    "symbol", "entry_time", "exit_time", "side", "quantity", "entry_price", "exit_price", "pnl",
    "return_pct", "commission", "open",
)
PER_SYMBOL_COLUMNS: tuple[str, ...] = (
    "contribution", "pnl", "fills", "trades", "commission", "first_bar", "last_bar", "delisted",
    "final_weight",
)
PORTFOLIO_METRICS: tuple[str, ...] = (
    "turnover", "turnover_per_year", "avg_holdings", "num_fills", "total_commission",
)
"""Metric keys added to the single-symbol ones (:func:`algotrader.backtest.compute_metrics`)."""


@dataclass(frozen=True)
class PortfolioResult:
    """The outcome of one portfolio backtest.

    Attributes:
        allocator: the allocator's registered name (or class name).
        params: the allocator's parameters.
        config: the execution settings used.
        resolution: the bar size used for annualisation (``"1d"``...).
        symbols: the symbols, in column order.
        fingerprint: SHA-256 of every symbol's timestamps and OHLCV (plus a separate benchmark's);
            the same bars, allocator, params and config give the same numbers to the last bit.
        equity: cash plus holdings at each bar's close (holdings at their last traded close).
        benchmark: the benchmark's value: ``config.benchmark``'s buy & hold, or equal-weight buy &
            hold (``cash / n`` per symbol, bought at its first fill opportunity), no costs.
        cash: cash at each bar's close.
        weights: each symbol's value / equity at each bar's close (bars x symbols).
        targets: the target weights of every rebalance (decision bars x symbols), after caps.
        fills: one row per order, columns :data:`FILL_COLUMNS` (``price`` after slippage).
        trades: round trips per symbol (flat -> position -> flat), columns :data:`TRADE_COLUMNS`;
            ``pnl`` is net of commissions; a position open at the end is marked to its last close
            with ``open`` True.
        per_symbol: one row per symbol, columns :data:`PER_SYMBOL_COLUMNS`; ``contribution`` is
            the symbol's P&L / starting cash (they sum to the total return).
        metrics: the single-symbol metrics (``buy_hold_return`` is the benchmark's return,
            ``exposure`` the share of bars holding anything, ``num_trades`` the round trips) plus
            :data:`PORTFOLIO_METRICS`.
    """

    allocator: str
    params: dict[str, Any]
    config: PortfolioConfig
    resolution: str
    symbols: tuple[str, ...]
    fingerprint: str
    equity: pd.Series
    benchmark: pd.Series
    cash: pd.Series
    weights: pd.DataFrame
    targets: pd.DataFrame
    fills: pd.DataFrame
    trades: pd.DataFrame
    per_symbol: pd.DataFrame
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def total_return(self) -> float:
        """Shortcut for ``metrics["total_return"]``."""
        return self.metrics["total_return"]

    @property
    def drawdown(self) -> pd.Series:
        """equity / running peak - 1 at each bar."""
        values = self.equity.to_numpy(np.float64)
        return pd.Series(values / np.maximum.accumulate(values) - 1.0, index=self.equity.index,
                         name="drawdown")

    def summary(self) -> str:
        """One line: ``bars=2520 symbols=5 total_return=... sharpe=... turnover=...``."""
        from algotrader.backtest.metrics import format_metrics

        m = self.metrics
        return (
            f"bars={len(self.equity)} symbols={len(self.symbols)} {format_metrics(m)} "
            f"turnover={m['turnover']:.2f} avg_holdings={m['avg_holdings']:.1f}"
        )

    def to_dict(self, *, include_series: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict: times as ISO-8601 UTC strings, nan/inf as ``None``.

        Per-bar series (equity, benchmark, cash, weights) only with ``include_series=True``.
        """
        out: dict[str, Any] = {
            "allocator": self.allocator,
            "params": {k: json_value(v) for k, v in self.params.items()},
            "config": self.config.to_dict(),
            "resolution": self.resolution,
            "symbols": list(self.symbols),
            "fingerprint": self.fingerprint,
            "bars": len(self.equity),
            "start": iso(self.equity.index[0]) if len(self.equity) else None,
            "end": iso(self.equity.index[-1]) if len(self.equity) else None,
            "metrics": {k: json_value(v) for k, v in self.metrics.items()},
            "per_symbol": {
                str(symbol): {k: json_value(v) for k, v in row.items()}
                for symbol, row in self.per_symbol.to_dict(orient="index").items()
            },
            "targets": {
                iso(ts): [json_value(v) for v in row]
                for ts, row in zip(self.targets.index, self.targets.to_numpy(), strict=True)
            },
            "trades": records(self.trades),
            "fills": records(self.fills),
        }
        if include_series:
            out["series"] = {
                "ts": [iso(t) for t in self.equity.index],
                "equity": [json_value(v) for v in self.equity.to_numpy()],
                "benchmark": [json_value(v) for v in self.benchmark.to_numpy()],
                "cash": [json_value(v) for v in self.cash.to_numpy()],
                "weights": {
                    str(s): [json_value(v) for v in self.weights[s].to_numpy()]
                    for s in self.weights.columns
                },
            }
        return out


def iso(ts: Any) -> str:
    """A timestamp as ISO-8601 UTC with a ``Z``."""
    stamp = pd.Timestamp(ts)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat().replace("+00:00", "Z")


def json_value(value: Any) -> Any:
    """A scalar as JSON: numpy types unwrapped, nan/inf -> None, timestamps -> ISO strings."""
    if isinstance(value, pd.Timestamp):
        return iso(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts."""
    cols = list(frame.columns)
    return [
        {c: json_value(v) for c, v in zip(cols, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
