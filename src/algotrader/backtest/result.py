"""What a backtest returns: :class:`Result` (and, re-exported, :class:`BacktestConfig`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from algotrader.backtest.config import BacktestConfig, FillMode

if TYPE_CHECKING:
    from algotrader.backtest._simulation import Curves

TRADE_COLUMNS: tuple[str, ...] = (
    "entry_time",
    "exit_time",
    "side",
    "quantity",
    "entry_price",
    "exit_price",
    "pnl",
    "return_pct",
    "commission",
    "open",
    "exit_reason",
)
FILL_COLUMNS: tuple[str, ...] = ("ts", "action", "price", "quantity", "commission", "reason")
REASONS: tuple[str, ...] = ("signal", "limit", "stop_loss", "take_profit", "trailing_stop", "open")
"""Fill reasons by code (the kernel's numbering); ``"open"`` marks a trade still open."""

INFINITY_JSON = "inf"
"""How :meth:`Result.to_dict` writes +infinity (``"-inf"`` for -infinity); NaN becomes null."""


@dataclass(frozen=True, slots=True)
class FillRecord:
    """The raw fills of a run and what the lazily built tables need (internal)."""

    index: pd.DatetimeIndex
    close: np.ndarray
    bar: np.ndarray
    side: np.ndarray
    price: np.ndarray
    quantity: np.ndarray
    commission: np.ndarray
    reason: np.ndarray
    cash: float
    buy_hold_bar: int
    buy_hold_price: float

    def trade_pnl(self) -> np.ndarray:
        """Net P&L per round trip (an open position marked to the last close, no exit costs)."""
        return _trade_arrays(self)["pnl"]


@dataclass(frozen=True, slots=True, eq=False)
class Result:
    """The outcome of one backtest.

    Attributes:
        strategy: the strategy's registered name (or class name).
        params: the strategy parameters used.
        config: the execution settings used.
        resolution: the bar size used for annualisation (e.g. ``"1d"``).
        equity: portfolio value at each bar's close, on the frame's index. Built on first use.
        position: -1/0/+1 held at each bar's close. Built on first use.
        metrics: see :func:`algotrader.backtest.metrics.compute_metrics`.
        trades: one row per round trip, columns :data:`TRADE_COLUMNS`; ``side`` is ``"long"`` or
            ``"short"``; ``pnl`` is net of both commissions; ``return_pct`` is pnl / entry notional
            in percent; ``exit_reason`` is ``signal``, ``stop_loss``, ``take_profit`` or
            ``trailing_stop``; a position still open at the end is marked to the last close (no
            exit costs) with ``open`` True and ``exit_reason`` ``"open"``. Built on first use.
        fills: one row per executed order (``ts``, ``action`` BUY/SELL, ``price`` after slippage,
            ``quantity``, ``commission``, ``reason``: ``signal``, ``limit`` or an exit reason),
            e.g. for plot markers. Built on first use.
        buy_hold: value of buying with all the cash on the first bar any strategy could trade (the
            second bar's open; the first bar's close with fill ``"close"``), no costs, and holding
            to the end; the same curve for every strategy on the same bars. Built on first use.
    """

    strategy: str
    params: dict[str, Any]
    config: BacktestConfig
    resolution: str
    metrics: dict[str, float]
    _record: FillRecord = field(repr=False)
    _curves: Curves = field(repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def equity(self) -> pd.Series:
        """Portfolio value at each bar's close (see the class docs)."""
        series: pd.Series = self._curve("equity")
        return series

    @property
    def position(self) -> pd.Series:
        """-1/0/+1 held at each bar's close (see the class docs)."""
        series: pd.Series = self._curve("position")
        return series

    def _curve(self, name: str) -> pd.Series:
        if name not in self._cache:
            index = self._record.index
            # copy=False: the kernel's arrays are fresh and owned by the Result.
            equity, position = self._curves.arrays()
            self._cache["equity"] = pd.Series(equity, index=index, name="equity", copy=False)
            self._cache["position"] = pd.Series(
                position, index=index, name="position", copy=False
            )
        series: pd.Series = self._cache[name]
        return series

    @property
    def trades(self) -> pd.DataFrame:
        """Round trips (see the class docs)."""
        if "trades" not in self._cache:
            self._cache["trades"] = _trades_frame(self._record)
        frame: pd.DataFrame = self._cache["trades"]
        return frame

    @property
    def fills(self) -> pd.DataFrame:
        """Executed orders (see the class docs)."""
        if "fills" not in self._cache:
            self._cache["fills"] = _fills_frame(self._record)
        frame: pd.DataFrame = self._cache["fills"]
        return frame

    @property
    def buy_hold(self) -> pd.Series:
        """The buy-and-hold curve (see the class docs)."""
        if "buy_hold" not in self._cache:
            self._cache["buy_hold"] = _buy_hold_series(self._record)
        series: pd.Series = self._cache["buy_hold"]
        return series

    @property
    def total_return(self) -> float:
        """Shortcut for ``metrics["total_return"]``."""
        return self.metrics["total_return"]

    def summary(self) -> str:
        """One line: ``bars=1256 total_return=18.96% cagr=3.54% max_drawdown=-29.64% ...``."""
        from algotrader.backtest.metrics import format_metrics

        return f"bars={len(self._record.index)} {format_metrics(self.metrics)}"

    def plot(self, bars: pd.DataFrame | None = None, **options: Any) -> Any:
        """The interactive chart (Plotly): candles with the strategy's indicators and trades,
        equity vs buy & hold, drawdown and rolling Sharpe, linked. Shown inline when it is the
        last expression of a Jupyter cell; ``.show()`` opens it elsewhere.

        ``bars`` is the frame the backtest ran on (default: the frame given to
        :class:`~algotrader.backtest.api.Backtest`; without any: no price panel); ``options`` go
        to :func:`algotrader.reports.backtest_figure` (``strategy``, ``symbol``, ``benchmark``,
        ``synthetic``). Needs ``pip install 'algotrader[report]'``.
        """
        from algotrader.reports import backtest_figure

        bars, options = self._chart_inputs(bars, options)
        return backtest_figure(self, bars, **options)

    def to_html(self, path: Any, bars: pd.DataFrame | None = None, **options: Any) -> Any:
        """Write the full report (chart, metrics, monthly returns, trades) to ``path`` as one
        self-contained HTML file (no network needed) and return its path; ``options`` go to
        :func:`algotrader.reports.backtest_report`; ``bars`` as in :meth:`plot`.
        """
        from algotrader.reports import backtest_report

        bars, options = self._chart_inputs(bars, options)
        return backtest_report(self, bars, **options).write(path)

    def _chart_inputs(
        self, bars: pd.DataFrame | None, options: dict[str, Any]
    ) -> tuple[pd.DataFrame | None, dict[str, Any]]:
        """The bars and symbol :class:`~algotrader.backtest.api.Backtest` remembered (see
        :func:`remember_bars`) unless the caller gives them."""
        if "symbol" in self._cache:
            options = {"symbol": self._cache["symbol"], **options}
        return (self._cache.get("bars") if bars is None else bars), options

    def to_dict(self, *, include_series: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict: times as ISO-8601 UTC strings, NaN as ``None``, infinities
        as the strings ``"inf"`` / ``"-inf"`` (:data:`INFINITY_JSON`).

        The equity, buy-and-hold and position curves are included only with
        ``include_series=True`` (they have one value per bar).
        """
        index = self._record.index
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "params": {k: _json_value(v) for k, v in self.params.items()},
            "config": self.config.to_dict(),
            "resolution": self.resolution,
            "bars": len(index),
            "start": _iso(index[0]) if len(index) else None,
            "end": _iso(index[-1]) if len(index) else None,
            "metrics": {k: _json_value(v) for k, v in self.metrics.items()},
            "trades": _records(self.trades),
            "fills": _records(self.fills),
        }
        if include_series:
            ts = [_iso(t) for t in index]
            out["series"] = {
                "ts": ts,
                "equity": [_json_value(v) for v in self.equity.to_numpy()],
                "buy_hold": [_json_value(v) for v in self.buy_hold.to_numpy()],
                "position": [int(v) for v in self.position.to_numpy()],
            }
        return out


def buy_hold_start(n: int, fill: FillMode) -> int:
    """The bar buy & hold enters on: the first a signal can fill (bar 1's open, bar 0's close)."""
    return 0 if fill == "close" else min(1, n)


def _trade_arrays(rec: FillRecord) -> dict[str, np.ndarray]:
    # The book always passes through flat, so fills alternate entry, exit, entry, exit, ...
    n_fills = rec.bar.size
    n_open = n_fills % 2
    entries = slice(0, None, 2)
    exits = slice(1, None, 2)
    side = rec.side[entries].astype(np.int64)
    qty = rec.quantity[entries]
    entry_px = rec.price[entries]
    last = len(rec.index) - 1
    exit_bar = np.append(rec.bar[exits], [last] * n_open).astype(np.int64)
    exit_px = np.append(rec.price[exits], rec.close[-1:] if n_open else [])
    commission = rec.commission[entries] + np.append(rec.commission[exits], [0.0] * n_open)
    pnl = side * qty * (exit_px - entry_px) - commission
    why = np.append(rec.reason[exits], [REASONS.index("open")] * n_open).astype(np.int64)
    return {
        "side": side,
        "qty": qty,
        "entry_bar": rec.bar[entries].astype(np.int64),
        "entry_px": entry_px,
        "exit_bar": exit_bar,
        "exit_px": exit_px,
        "commission": commission,
        "pnl": pnl,
        "why": why,
        "n_open": np.array(n_open),
    }


def _trades_frame(rec: FillRecord) -> pd.DataFrame:
    a = _trade_arrays(rec)
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = a["pnl"] / (a["qty"] * a["entry_px"]) * 100.0
    is_open = np.zeros(a["side"].size, dtype=bool)
    is_open[a["side"].size - int(a["n_open"]) :] = True
    return pd.DataFrame(
        {
            "entry_time": rec.index[a["entry_bar"]],
            "exit_time": rec.index[a["exit_bar"]],
            "side": np.where(a["side"] > 0, "long", "short"),
            "quantity": a["qty"],
            "entry_price": a["entry_px"],
            "exit_price": a["exit_px"],
            "pnl": a["pnl"],
            "return_pct": ret,
            "commission": a["commission"],
            "open": is_open,
            "exit_reason": np.asarray(REASONS, dtype=object)[a["why"]],
        }
    )[list(TRADE_COLUMNS)]


def _fills_frame(rec: FillRecord) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": rec.index[rec.bar],
            "action": np.where(rec.side > 0, "BUY", "SELL"),
            "price": rec.price,
            "quantity": rec.quantity,
            "commission": rec.commission,
            "reason": np.asarray(REASONS, dtype=object)[rec.reason.astype(np.int64)],
        }
    )


def _buy_hold_series(rec: FillRecord) -> pd.Series:
    n = rec.close.size
    out = np.full(n, float(rec.cash))
    bar = rec.buy_hold_bar
    if bar < n:
        out[bar:] = rec.cash / rec.buy_hold_price * rec.close[bar:]
    return pd.Series(out, index=rec.index, name="buy_hold", copy=False)


def _iso(ts: Any) -> str:
    stamp = pd.Timestamp(ts)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat().replace("+00:00", "Z")


def _json_value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return _iso(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return INFINITY_JSON if value > 0 else f"-{INFINITY_JSON}"
        return float(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cols = list(frame.columns)
    return [
        {c: _json_value(v) for c, v in zip(cols, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


__all__ = [
    "FILL_COLUMNS",
    "INFINITY_JSON",
    "TRADE_COLUMNS",
    "BacktestConfig",
    "FillRecord",
    "Result",
    "buy_hold_start",
]


def remember_bars(result: Result, bars: pd.DataFrame, symbol: str | None = None) -> Result:
    """Let ``result.plot()`` and ``result.to_html()`` draw ``bars`` (a reference, not a copy:
    the caller holds the frame anyway) and name ``symbol`` without being given them again."""
    result._cache["bars"] = bars
    if symbol:
        result._cache["symbol"] = symbol
    return result
