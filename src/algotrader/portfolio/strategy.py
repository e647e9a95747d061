"""Write your own allocation: subclass :class:`PortfolioStrategy` and implement ``rebalance``.

::

    from algotrader.portfolio import Portfolio, PortfolioStrategy

    class CheapestHalf(PortfolioStrategy):
        \"\"\"Equal weight in the half of the listed symbols with the lowest close.\"\"\"

        def rebalance(self, date, view, portfolio):
            close = view.close.iloc[-1][list(view.listed)]
            cheap = close.nsmallest(max(1, len(close) // 2)).index
            return {symbol: 1 / len(cheap) for symbol in cheap}

    result = Portfolio(bars, CheapestHalf(), rebalance="monthly").run()

``rebalance`` is called on the close of each scheduled bar. ``view`` holds the bars up to and
including that bar only (a later bar can never be seen); ``portfolio`` is the book at that close.
Return target weights (a mapping, a Series or one number per symbol in ``view.symbols`` order;
symbols left out get 0), or ``None`` to leave the book as it is. Weights are fractions of equity,
>= 0 unless ``allow_short``, summing to at most ``margin`` (1.0): what is not allocated stays cash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from algotrader.portfolio.panel import Panel
from algotrader.strategies.base import resolve_params

Weights = Mapping[str, float] | pd.Series | np.ndarray | list[float]
"""What ``rebalance`` may return (besides ``None``)."""


class PortfolioStrategy:
    """Base class for allocations over many symbols.

    Class attributes:
        name: registry name (``allocator="name"``).
        rule: the allocation rule in one line.
        params: parameter names and defaults; each becomes an instance attribute.
    """

    name: ClassVar[str] = ""
    rule: ClassVar[str] = ""
    params: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        for key, value in resolve_params(type(self).__name__, dict(self.params), params).items():
            setattr(self, key, value)
        self.validate()

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameter values of this instance."""
        return {key: getattr(self, key) for key in self.params}

    def validate(self) -> None:
        """Check parameter values; raise :class:`~algotrader.errors.InvalidInputError`."""

    def prepare(self, panel: Panel) -> None:
        """Called once before the run with the whole panel (default: nothing).

        Anything computed here for bar t must use bars up to t only.
        """

    def rebalance(
        self, date: pd.Timestamp, view: PanelView, portfolio: PortfolioState
    ) -> Weights | None:
        """Target weights decided on ``date``'s close, or ``None`` for no change."""
        raise NotImplementedError(f"{type(self).__name__} does not implement rebalance")

    def target_weights(self, panel: Panel, bars: np.ndarray) -> np.ndarray | None:
        """Optional fast path: the targets at each decision bar in ``bars`` as a
        (len(bars), symbols) array, each row from bars up to its own bar only; ``None`` (the
        default) makes the engine call :meth:`rebalance` on each decision bar instead."""
        return None

    def selection(self, panel: Panel) -> np.ndarray | None:
        """(bars, symbols) bool: what the strategy would hold on each bar, for the ``"signal"``
        schedule (a rebalance whenever it changes); ``None`` (the default) asks ``rebalance`` on
        every bar."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"{type(self).__name__}({args})"


class PanelView:
    """What ``rebalance`` sees on bar t: every symbol's bars up to and including t.

    Wide frames (``close``, ``open`` ...) are (bars up to t) x symbols with NaN where a symbol had
    no bar; ``view["AAPL"]`` is that symbol's own frame (every column, its rows up to t).
    """

    __slots__ = ("panel",)

    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    @property
    def date(self) -> pd.Timestamp:
        """The decision bar's timestamp."""
        return self.panel.index[-1]

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.panel.index

    @property
    def symbols(self) -> tuple[str, ...]:
        """All symbols of the run, in column order."""
        return self.panel.symbols

    @property
    def listed(self) -> tuple[str, ...]:
        """Symbols that can be held now: their data has started and they are not delisted."""
        return tuple(s for s, ok in zip(self.panel.symbols, self.panel.live, strict=True) if ok)

    def _wide(self, values: np.ndarray) -> pd.DataFrame:
        # The arrays are read-only, so a zero-copy frame cannot alter the run.
        return pd.DataFrame(values, index=self.panel.index, columns=list(self.panel.symbols),
                            copy=False)

    @property
    def open(self) -> pd.DataFrame:
        return self._wide(self.panel.open)

    @property
    def high(self) -> pd.DataFrame:
        return self._wide(self.panel.high)

    @property
    def low(self) -> pd.DataFrame:
        return self._wide(self.panel.low)

    @property
    def close(self) -> pd.DataFrame:
        return self._wide(self.panel.close)

    @property
    def volume(self) -> pd.DataFrame:
        return self._wide(self.panel.volume)

    @property
    def prices(self) -> pd.DataFrame:
        """Close carried forward over missing bars (how holdings are valued)."""
        return self._wide(self.panel.prices)

    def returns(self, lookback: int | None = None) -> pd.DataFrame:
        """Bar returns of :attr:`prices` (0 over a missing bar), the last ``lookback`` rows."""
        prices = self.panel.prices
        start = 0 if lookback is None else max(0, prices.shape[0] - lookback - 1)
        window = prices[start:]
        ret = window[1:] / window[:-1] - 1.0
        return pd.DataFrame(ret, index=self.panel.index[start + 1 :],
                            columns=list(self.panel.symbols))

    def __getitem__(self, symbol: str) -> pd.DataFrame:
        return self.panel.frames[symbol]

    def __len__(self) -> int:
        return self.panel.n_bars

    def __repr__(self) -> str:
        return f"PanelView(date={self.date}, bars={len(self)}, symbols={len(self.symbols)})"


@dataclass(frozen=True)
class PortfolioState:
    """The book on a decision bar's close (before the decision's orders).

    Attributes:
        date: the bar.
        cash: cash on hand.
        equity: cash plus every holding at its last traded close.
        shares: shares held per symbol (negative when short).
        values: market value per symbol.
        weights: ``values / equity``.
        targets: the targets of the previous rebalance (0 before the first).
    """

    date: pd.Timestamp
    cash: float
    equity: float
    shares: pd.Series
    values: pd.Series
    weights: pd.Series
    targets: pd.Series
