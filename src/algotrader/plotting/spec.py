"""What a chart draws for a strategy: the lines over the price and the panels below it.

A strategy declares its chart with a ``plot_spec`` class attribute or method returning a
:class:`PlotSpec` (or a plain mapping, see :meth:`PlotSpec.from_mapping`)::

    class MyStrategy(Strategy):
        columns = ("ema_fast", "rsi")

        def plot_spec(self):
            return PlotSpec(
                price=(Line("ema_fast", "EMA(12)"),),
                panels=(Panel("RSI(14)", (Line("rsi"),), levels=(30, 70), range=(0, 100)),),
            )

Without a declaration the chart is derived from the columns the strategy reads
(``Strategy.columns``): known indicators get their usual place (Bollinger bands and SuperTrend on
the price, RSI and MACD in panels), other columns go on the price when their values look like
prices and in a panel of their own otherwise. A column named ``<kind>_<param>`` whose ``param``
is a strategy parameter is labelled with its value (``sma_fast`` with ``fast=10`` is "SMA(10)").
A strategy that reads nothing known gets the seeds' MA20/MA50.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from algotrader.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class Line:
    """One column drawn as a line (``dash`` for reference lines such as the all-time high)."""

    column: str
    label: str = ""
    color: str | None = None
    dash: bool = False

    @property
    def name(self) -> str:
        return self.label or self.column

    def needs(self) -> tuple[str, ...]:
        return (self.column,)


@dataclass(frozen=True, slots=True)
class Band:
    """The area between two columns (Bollinger bands)."""

    upper: str
    lower: str
    label: str = ""
    color: str | None = None

    @property
    def name(self) -> str:
        return self.label or f"{self.lower} .. {self.upper}"

    def needs(self) -> tuple[str, ...]:
        return (self.upper, self.lower)


@dataclass(frozen=True, slots=True)
class Trend:
    """A line coloured by the sign of a direction column (SuperTrend: green up, red down)."""

    column: str
    direction: str
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.column

    def needs(self) -> tuple[str, ...]:
        return (self.column, self.direction)


@dataclass(frozen=True, slots=True)
class Histogram:
    """Bars of ``column`` (minus ``minus`` when given: the MACD histogram)."""

    column: str
    minus: str | None = None
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or (f"{self.column} - {self.minus}" if self.minus else self.column)

    def needs(self) -> tuple[str, ...]:
        return (self.column,) if self.minus is None else (self.column, self.minus)

    def values(self, frame: pd.DataFrame) -> np.ndarray:
        out = frame[self.column].to_numpy(np.float64)
        return out - frame[self.minus].to_numpy(np.float64) if self.minus else out


PriceItem = Line | Band | Trend
PanelItem = Line | Band | Histogram


@dataclass(frozen=True, slots=True)
class Panel:
    """A chart below the price: its items, horizontal reference ``levels`` and a fixed y range."""

    title: str
    items: tuple[PanelItem, ...]
    levels: tuple[float, ...] = ()
    range: tuple[float, float] | None = None

    def needs(self) -> tuple[str, ...]:
        return tuple(c for item in self.items for c in item.needs())


@dataclass(frozen=True, slots=True)
class PlotSpec:
    """Lines and bands over the price (``price``) and panels under it (``panels``)."""

    price: tuple[PriceItem, ...] = ()
    panels: tuple[Panel, ...] = field(default=())

    def columns(self) -> tuple[str, ...]:
        """Every frame column the chart reads, in order, without repeats."""
        names = [c for item in self.price for c in item.needs()]
        names += [c for panel in self.panels for c in panel.needs()]
        return tuple(dict.fromkeys(names))

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> PlotSpec:
        """``{"price": ["ema_fast", ("bb_upper", "bb_lower")], "panels": {"RSI": ["rsi"]}}``.

        Price entries are column names (lines), ``(upper, lower)`` pairs (bands) or items; each
        panel maps a title to a list of column names or items.
        """
        unknown = set(spec) - {"price", "panels"}
        if unknown:
            raise InvalidInputError(
                f"unknown plot_spec key {sorted(unknown)[0]!r}", 'use "price" and "panels"'
            )
        price = tuple(_price_item(entry) for entry in spec.get("price", ()))
        panels = tuple(
            Panel(str(title), tuple(_panel_item(entry) for entry in entries))
            for title, entries in dict(spec.get("panels", {})).items()
        )
        return cls(price, panels)


def _price_item(entry: Any) -> PriceItem:
    if isinstance(entry, (Line, Band, Trend)):
        return entry
    if isinstance(entry, str):
        return Line(entry)
    if isinstance(entry, (tuple, list)) and len(entry) == 2:
        return Band(str(entry[0]), str(entry[1]))
    raise InvalidInputError(
        f"invalid plot_spec price entry {entry!r}", "use a column name or an (upper, lower) pair"
    )


def _panel_item(entry: Any) -> PanelItem:
    if isinstance(entry, (Line, Band, Histogram)):
        return entry
    if isinstance(entry, str):
        return Line(entry)
    raise InvalidInputError(f"invalid plot_spec panel entry {entry!r}", "use a column name")


# --------------------------------------------------------------------------- derivation


def _levels(strategy: object) -> tuple[float, float]:
    lower, upper = getattr(strategy, "lower", 30.0), getattr(strategy, "upper", 70.0)
    ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (lower, upper))
    return (float(lower), float(upper)) if ok else (30.0, 70.0)


def _bollinger(strategy: object, frame: pd.DataFrame) -> list[PriceItem]:
    items: list[PriceItem] = [Band("bb_upper", "bb_lower", "Bollinger(20, 2)")]
    if "bb_mid" in frame.columns:
        items.append(Line("bb_mid", "BB mid", dash=True))
    return items


# Built-in indicator columns: where they go and how they are labelled. Each entry claims the
# columns it draws, so e.g. bb_upper and bb_lower make one band, not two lines.
_PriceRule = tuple[frozenset[str], Callable[[object, pd.DataFrame], list[PriceItem]]]
_PanelRule = tuple[frozenset[str], Callable[[object, pd.DataFrame], Panel]]
_PRICE_KNOWN: tuple[_PriceRule, ...] = (
    (frozenset({"ma20"}), lambda s, f: [Line("ma20", "MA20")]),
    (frozenset({"ma50"}), lambda s, f: [Line("ma50", "MA50")]),
    (frozenset({"ema_fast"}), lambda s, f: [Line("ema_fast", "EMA(12)")]),
    (frozenset({"ema_slow"}), lambda s, f: [Line("ema_slow", "EMA(26)")]),
    (frozenset({"bb_upper", "bb_lower", "bb_mid"}), _bollinger),
    (frozenset({"ath"}), lambda s, f: [Line("ath", "all-time high", dash=True)]),
    (
        frozenset({"supertrend", "supertrend_trend", "supertrend_upper", "supertrend_lower"}),
        lambda s, f: [Trend("supertrend", "supertrend_trend", "SuperTrend(10, 3)")],
    ),
)
_PANEL_KNOWN: tuple[_PanelRule, ...] = (
    (
        frozenset({"rsi"}),
        lambda s, f: Panel("RSI(14)", (Line("rsi", "RSI"),), levels=_levels(s), range=(0, 100)),
    ),
    (
        frozenset({"macd", "macd_signal"}),
        lambda s, f: Panel(
            "MACD(12, 26, 9)",
            (
                Histogram("macd", "macd_signal", "histogram"),
                Line("macd", "MACD"),
                Line("macd_signal", "signal"),
            ),
            levels=(0.0,),
        ),
    ),
    (frozenset({"atr"}), lambda s, f: Panel("ATR(14)", (Line("atr", "ATR"),))),
    (frozenset({"tr"}), lambda s, f: Panel("True range", (Line("tr", "TR"),))),
)


def _label(column: str, strategy: object) -> str:
    """``sma_fast`` with parameter ``fast=10`` -> ``SMA(10)``; otherwise the column name."""
    head, _, tail = column.rpartition("_")
    params = getattr(strategy, "parameters", None) or {}
    if head and tail in params and isinstance(params[tail], (int, float)):
        return f"{head.upper()}({params[tail]:g})"
    return column


def _looks_like_price(values: np.ndarray, close: np.ndarray) -> bool:
    ok = np.isfinite(values) & np.isfinite(close) & (close != 0)
    if not ok.any():
        return False
    return bool(np.nanmedian(np.abs(values[ok] / close[ok] - 1.0)) < 0.5)


def derive_spec(strategy: object, frame: pd.DataFrame) -> PlotSpec:
    """The chart of a strategy that declares none: see the module docs."""
    declared = tuple(getattr(strategy, "columns", ()) or ())
    wanted = [c for c in declared if c in frame.columns] or [
        c for c in ("ma20", "ma50") if c in frame.columns
    ]
    price: list[PriceItem] = []
    panels: list[Panel] = []
    claimed: set[str] = set()
    for column in wanted:
        if column in claimed:
            continue
        for group, build in _PRICE_KNOWN:
            if column in group:
                price += build(strategy, frame)
                claimed |= group
                break
        else:
            for group, make in _PANEL_KNOWN:
                if column in group:
                    panels.append(make(strategy, frame))
                    claimed |= group
                    break
            else:
                claimed.add(column)
                line = Line(column, _label(column, strategy))
                values = frame[column].to_numpy(np.float64)
                if "close" in frame and _looks_like_price(values, frame["close"].to_numpy()):
                    price.append(line)
                else:
                    panels.append(Panel(line.name, (line,)))
    spec = PlotSpec(tuple(price), tuple(panels))
    return _only_present(spec, frame)


def _only_present(spec: PlotSpec, frame: pd.DataFrame) -> PlotSpec:
    have = set(frame.columns)
    price = tuple(item for item in spec.price if set(item.needs()) <= have)
    panels = []
    for panel in spec.panels:
        items = tuple(item for item in panel.items if set(item.needs()) <= have)
        if items:
            panels.append(Panel(panel.title, items, panel.levels, panel.range))
    return PlotSpec(price, tuple(panels))


def declared_spec(strategy: object) -> PlotSpec | None:
    """The strategy's own ``plot_spec`` (attribute or method), or None when it has none."""
    declared = getattr(strategy, "plot_spec", None)
    if declared is None:
        return None
    if callable(declared) and not isinstance(declared, PlotSpec):
        declared = declared()
    if isinstance(declared, PlotSpec):
        return declared
    if isinstance(declared, Mapping):
        return PlotSpec.from_mapping(declared)
    raise InvalidInputError(
        f"{type(strategy).__name__}.plot_spec is a {type(declared).__name__}",
        "return a PlotSpec or a mapping {'price': [...], 'panels': {...}}",
    )


def plot_spec_for(strategy: object | None, frame: pd.DataFrame) -> PlotSpec:
    """What to draw for ``strategy`` over ``frame`` (prepared by the strategy).

    A declared spec must name columns the frame has; a derived one keeps only what is present.
    """
    if strategy is None:
        return derive_spec(object(), frame)
    spec = declared_spec(strategy)
    if spec is None:
        return derive_spec(strategy, frame)
    missing = [c for c in spec.columns() if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"{type(strategy).__name__}.plot_spec draws column {missing[0]!r} the bars lack",
            f"compute it in prepare() or use one of {', '.join(map(str, frame.columns))}",
        )
    return spec


def prepared(strategy: object | None, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the strategy's derived columns (its ``prepare``), as the engine saw it."""
    prepare = getattr(strategy, "prepare", None)
    return prepare(frame) if callable(prepare) else frame


def resolve_strategy(
    strategy: object | None, name: str, params: Mapping[str, Any]
) -> object | None:
    """An instance for ``strategy`` (instance, class or name), else the strategy ``name`` of a
    result or stored run with ``params``; None when that name no longer resolves (a deleted user
    file), so its chart still draws, with the default lines.
    """
    from algotrader.errors import UserError
    from algotrader.strategies.registry import get_strategy

    if strategy is not None:
        return get_strategy(strategy, **dict(params)) if isinstance(strategy, (str, type)) else (
            strategy
        )
    if not name:
        return None
    try:
        return get_strategy(name, **dict(params))
    except UserError:
        return None


__all__ = [
    "Band",
    "Histogram",
    "Line",
    "Panel",
    "PlotSpec",
    "Trend",
    "declared_spec",
    "derive_spec",
    "plot_spec_for",
    "prepared",
    "resolve_strategy",
]
