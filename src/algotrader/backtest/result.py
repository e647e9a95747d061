"""What a backtest returns: :class:`BacktestConfig` (the settings) and :class:`Result`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError

FillMode = Literal["open", "close"]

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
)
FILL_COLUMNS: tuple[str, ...] = ("ts", "action", "price", "quantity", "commission")


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Execution settings of one backtest (all costs default to 0).

    Attributes:
        cash: starting cash.
        commission_per_share: commission per share traded.
        commission_bps: commission in basis points of the traded notional.
        commission_min: minimum commission per order (applied only to orders that trade).
        slippage_bps: adverse price move in basis points (buys fill higher, sells lower).
        fill: ``"open"`` executes a signal from bar t at bar t+1's open; ``"close"`` at bar t's
            close. A signal on the last bar never fills with ``"open"``.
        allow_short: BUY -> long, SELL -> short (reversing through flat); default long-only, where
            SELL -> flat.
        whole_shares: size orders in whole shares (floor); default fractional shares, all in.
        risk_free_rate: annual risk-free rate for Sharpe and Sortino (0.02 = 2 %).
    """

    cash: float = 100_000.0
    commission_per_share: float = 0.0
    commission_bps: float = 0.0
    commission_min: float = 0.0
    slippage_bps: float = 0.0
    fill: FillMode = "open"
    allow_short: bool = False
    whole_shares: bool = False
    risk_free_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.fill not in ("open", "close"):
            raise InvalidInputError(f"invalid fill {self.fill!r}", 'use "open" or "close"')
        if not (math.isfinite(self.cash) and self.cash > 0):
            raise InvalidInputError(f"invalid cash {self.cash!r}", "use a positive amount")
        for name in ("commission_per_share", "commission_bps", "commission_min", "slippage_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidInputError(f"invalid {name} {value!r}", "use a number >= 0")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (JSON-serialisable)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one backtest.

    Attributes:
        strategy: the strategy's registered name (or class name).
        params: the strategy parameters used.
        config: the execution settings used.
        resolution: the bar size used for annualisation (e.g. ``"1d"``).
        trades: one row per round trip, columns :data:`TRADE_COLUMNS`; ``side`` is ``"long"`` or
            ``"short"``; ``pnl`` is net of both commissions; ``return_pct`` is pnl / entry notional
            in percent; a position still open at the end is marked to the last close (no exit
            costs) with ``open`` True.
        fills: one row per executed order (``ts``, ``action`` BUY/SELL, ``price`` after slippage,
            ``quantity``, ``commission``), e.g. for plot markers.
        equity: portfolio value at each bar's close, on the frame's index.
        buy_hold: value of buying with all the cash on the first bar the strategy could trade
            (same fill rule, no costs) and holding to the end; cash before that.
        position: -1/0/+1 held at each bar's close.
        metrics: see :func:`algotrader.backtest.metrics.compute_metrics`.
    """

    strategy: str
    params: dict[str, Any]
    config: BacktestConfig
    resolution: str
    trades: pd.DataFrame
    fills: pd.DataFrame
    equity: pd.Series
    buy_hold: pd.Series
    position: pd.Series
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def total_return(self) -> float:
        """Shortcut for ``metrics["total_return"]``."""
        return self.metrics["total_return"]

    def summary(self) -> str:
        """One line: ``bars=1256 total_return=18.96% cagr=3.54% max_drawdown=-29.64% ...``."""
        from algotrader.backtest.metrics import format_metrics

        return f"bars={len(self.equity)} {format_metrics(self.metrics)}"

    def plot(self, bars: pd.DataFrame | None = None, **options: Any) -> Any:
        """The interactive chart (Plotly): candles with the strategy's indicators and trades,
        equity vs buy & hold, drawdown and rolling Sharpe, linked. Shown inline when it is the
        last expression of a Jupyter cell; ``.show()`` opens it elsewhere.

        ``bars`` is the frame the backtest ran on (without it: no price panel); ``options`` go to
        :func:`algotrader.reports.backtest_figure` (``strategy``, ``symbol``, ``benchmark``,
        ``synthetic``). Needs ``pip install 'algotrader[report]'``.
        """
        from algotrader.reports import backtest_figure

        return backtest_figure(self, bars, **options)

    def to_html(self, path: Any, bars: pd.DataFrame | None = None, **options: Any) -> Any:
        """Write the full report (chart, metrics, monthly returns, trades) to ``path`` as one
        self-contained HTML file (no network needed) and return its path; ``options`` go to
        :func:`algotrader.reports.backtest_report`.
        """
        from algotrader.reports import backtest_report

        return backtest_report(self, bars, **options).write(path)

    def to_dict(self, *, include_series: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict: times as ISO-8601 UTC strings, nan/inf as ``None``.

        The equity, buy-and-hold and position curves are included only with
        ``include_series=True`` (they have one value per bar).
        """
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "params": {k: _json_value(v) for k, v in self.params.items()},
            "config": self.config.to_dict(),
            "resolution": self.resolution,
            "bars": len(self.equity),
            "start": _iso(self.equity.index[0]) if len(self.equity) else None,
            "end": _iso(self.equity.index[-1]) if len(self.equity) else None,
            "metrics": {k: _json_value(v) for k, v in self.metrics.items()},
            "trades": _records(self.trades),
            "fills": _records(self.fills),
        }
        if include_series:
            ts = [_iso(t) for t in self.equity.index]
            out["series"] = {
                "ts": ts,
                "equity": [_json_value(v) for v in self.equity.to_numpy()],
                "buy_hold": [_json_value(v) for v in self.buy_hold.to_numpy()],
                "position": [int(v) for v in self.position.to_numpy()],
            }
        return out


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
        return float(value) if math.isfinite(value) else None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cols = list(frame.columns)
    return [
        {c: _json_value(v) for c, v in zip(cols, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
