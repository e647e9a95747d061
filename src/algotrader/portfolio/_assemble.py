"""Kernel arrays -> :class:`~algotrader.portfolio.result.PortfolioResult` tables and metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from algotrader.backtest.metrics import compute_metrics
from algotrader.portfolio._trades import round_trips
from algotrader.portfolio.panel import Panel
from algotrader.portfolio.result import FILL_COLUMNS, PER_SYMBOL_COLUMNS, TRADE_COLUMNS
from algotrader.timeframes import Resolution


@dataclass(frozen=True)
class Book:
    """What the kernel leaves: per-bar arrays and the fill records."""

    equity: np.ndarray
    cash: np.ndarray
    value: np.ndarray
    last_px: np.ndarray
    f_bar: np.ndarray
    f_sym: np.ndarray
    f_side: np.ndarray
    f_qty: np.ndarray
    f_px: np.ndarray
    f_fee: np.ndarray


def fills_frame(panel: Panel, book: Book) -> pd.DataFrame:
    symbols = np.asarray(panel.symbols, dtype=object)
    frame = pd.DataFrame(
        {
            "ts": panel.index[book.f_bar],
            "symbol": symbols[book.f_sym] if book.f_sym.size else np.array([], dtype=object),
            "action": np.where(book.f_side > 0, "BUY", "SELL"),
            "quantity": book.f_qty,
            "price": book.f_px,
            "commission": book.f_fee,
            "notional": book.f_qty * book.f_px,
        }
    )
    return frame[list(FILL_COLUMNS)]


def trades_frame(panel: Panel, book: Book) -> pd.DataFrame:
    (sym, entry_bar, exit_bar, side, max_qty, entry_qty, entry_value, exit_qty, exit_value,
     commission, is_open) = round_trips(
        book.f_bar, book.f_sym, book.f_side, book.f_qty, book.f_px, book.f_fee, book.last_px,
        panel.n_bars - 1,
    )
    pnl = side * (exit_value - entry_value) - commission
    with np.errstate(divide="ignore", invalid="ignore"):
        entry_price = entry_value / entry_qty
        exit_price = exit_value / exit_qty
        ret = pnl / entry_value * 100.0
    frame = pd.DataFrame(
        {
            "symbol": np.asarray(panel.symbols, dtype=object)[sym],
            "entry_time": panel.index[entry_bar],
            "exit_time": panel.index[exit_bar],
            "side": np.where(side > 0, "long", "short"),
            "quantity": max_qty,
            "entry_price": entry_price,
            "exit_price": exit_price,
            "pnl": pnl,
            "return_pct": ret,
            "commission": commission,
            "open": is_open,
        }
    )
    return frame[list(TRADE_COLUMNS)]


def per_symbol_frame(
    panel: Panel, book: Book, trades: pd.DataFrame, cash0: float
) -> pd.DataFrame:
    n = panel.n_symbols
    flow = np.where(book.f_side < 0, 1.0, -1.0) * book.f_qty * book.f_px - book.f_fee
    pnl = np.bincount(book.f_sym, weights=flow, minlength=n) + book.value[-1]
    codes = pd.Categorical(trades["symbol"], categories=list(panel.symbols)).codes
    final = book.value[-1] / book.equity[-1] if book.equity[-1] != 0 else np.zeros(n)
    frame = pd.DataFrame(
        {
            "contribution": pnl / cash0,
            "pnl": pnl,
            "fills": np.bincount(book.f_sym, minlength=n),
            "trades": np.bincount(codes[codes >= 0], minlength=n),
            "commission": np.bincount(book.f_sym, weights=book.f_fee, minlength=n),
            "first_bar": panel.index[np.minimum(panel.first, panel.n_bars - 1)],
            "last_bar": panel.index[np.maximum(panel.last, 0)],
            "delisted": panel.last < panel.n_bars - 1,
            "final_weight": final,
        },
        index=pd.Index(panel.symbols, name="symbol"),
    )
    return frame[list(PER_SYMBOL_COLUMNS)]


def benchmark_curve(
    panel: Panel, symbol: str | None, frame: pd.DataFrame | None, cash: float, at_close: bool
) -> np.ndarray:
    """Buy & hold of ``frame`` (``symbol``'s bars), or of every symbol with ``cash / n`` each.

    A sleeve buys at its symbol's first fill opportunity (its second bar's open, or with fills at
    the close its first bar's close), holds without costs and keeps the last close once its data
    ends; before buying it is cash.
    """
    if frame is not None:
        return _sleeve(panel.index, frame, cash, at_close)
    if symbol is not None:
        return _sleeve(panel.index, panel.frames[symbol], cash, at_close)
    return _equal_sleeves(panel.open, panel.close, cash / panel.n_symbols, at_close)


@numba.njit(cache=True, error_model="numpy")
def _equal_sleeves(
    open_: np.ndarray, close: np.ndarray, share: float, at_close: bool
) -> np.ndarray:
    # Column by column, O(bars) extra memory: each sleeve buys on its symbol's first (fills at
    # the close) or second (next open) bar and is then worth shares x its last close.
    n_bars, n = close.shape
    total = np.zeros(n_bars)
    need = 1 if at_close else 2
    for j in range(n):
        seen = 0
        shares = 0.0
        last = np.nan
        for t in range(n_bars):
            c = close[t, j]
            if not math.isnan(c):
                seen += 1
                last = c
                if seen == need:
                    shares = share / (c if at_close else open_[t, j])
            total[t] += shares * last if seen >= need else share
    return total


def _sleeve(
    index: pd.DatetimeIndex, frame: pd.DataFrame, cash: float, at_close: bool
) -> np.ndarray:
    own = frame[frame.index >= index[0]]
    out = np.full(len(index), float(cash))
    entry = 0 if at_close else 1
    if len(own) <= entry:
        return out
    price = float(own["close"].iloc[0]) if at_close else float(own["open"].iloc[1])
    close = own["close"].to_numpy(np.float64)
    pos = own.index.searchsorted(index, side="right") - 1
    held = index >= own.index[entry]
    out[held] = cash / price * close[pos[held]]
    return out


def portfolio_metrics(
    panel: Panel, book: Book, benchmark: np.ndarray, trades: pd.DataFrame, cash0: float,
    resolution: Resolution, risk_free_rate: float,
) -> dict[str, float]:
    holdings = np.count_nonzero(book.value, axis=1)
    metrics = compute_metrics(
        panel.index, book.equity, benchmark, (holdings > 0).astype(np.int8),
        trades["pnl"].to_numpy(np.float64), cash=cash0, resolution=resolution,
        risk_free_rate=risk_free_rate,
    )
    traded = float(np.sum(book.f_qty * book.f_px))
    turnover = traded / 2.0 / float(np.mean(book.equity))
    years = metrics["years"]
    metrics.update(
        turnover=turnover,
        turnover_per_year=turnover / years if years > 0 else math.nan,
        avg_holdings=float(np.mean(holdings)),
        num_fills=int(book.f_bar.size),
        total_commission=float(np.sum(book.f_fee)),
    )
    return metrics
