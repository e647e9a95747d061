"""The settings of one portfolio backtest: :class:`PortfolioConfig`."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from algotrader.errors import InvalidInputError

FillMode = Literal["open", "close"]

SCHEDULES: tuple[str, ...] = ("daily", "weekly", "monthly", "quarterly", "drift", "signal")
"""Rebalancing schedules; see :mod:`algotrader.portfolio.schedules` for the bar each fires on."""

ALL_GROUPS = "*"
"""Key of ``sector_caps`` / ``industry_caps`` that applies to every sector (industry)."""


@dataclass(frozen=True, slots=True)
class PortfolioConfig:
    """Execution settings of one portfolio backtest (all costs default to 0).

    Costs follow the single-symbol engine (:class:`algotrader.backtest.BacktestConfig`): per order,
    commission = max(shares x ``commission_per_share`` + notional x ``commission_bps`` / 1e4,
    ``commission_min``), charged only on orders that trade; slippage moves the execution price
    ``slippage_bps`` against the trade (buys higher, sells lower).

    Attributes:
        cash: starting cash (one account shared by all symbols).
        rebalance: ``"daily"``, ``"weekly"``, ``"monthly"``, ``"quarterly"``, ``"drift"`` or
            ``"signal"`` (see :mod:`algotrader.portfolio.schedules`).
        drift_threshold: with ``rebalance="drift"``, rebalance when a symbol's weight differs from
            its last target by more than this (0.05 = 5 percentage points).
        commission_per_share: commission per share traded.
        commission_bps: commission in basis points of the traded notional.
        commission_min: minimum commission per order.
        slippage_bps: adverse price move in basis points.
        fill: ``"open"`` executes targets decided on bar t's close at bar t+1's open; ``"close"``
            at bar t's close itself (look-ahead-prone: the decision used that very close).
        whole_shares: trade whole shares only (quantities rounded toward zero).
        allow_short: accept negative target weights (default long-only).
        margin: maximum gross exposure as a multiple of equity; 1.0 (default) means no borrowing,
            so cash never goes negative; 2.0 lets buys borrow up to one more equity.
        max_weight: cap on each symbol's weight (absolute value).
        sector_caps: cap on each sector's total weight: ``{sector: cap}`` (key ``"*"`` = every
            sector) or one number for all; stored as sorted ``(sector, cap)`` pairs.
        industry_caps: the same per industry.
        sectors: ``{symbol: (sector, industry)}``; stored as sorted ``(symbol, sector,
            industry)`` triples. Symbols left out belong to no sector.
        benchmark: symbol whose buy & hold is the benchmark; ``None`` = equal-weight buy & hold of
            all symbols.
        risk_free_rate: annual risk-free rate for Sharpe and Sortino (0.02 = 2 %).
    """

    cash: float = 100_000.0
    rebalance: str = "monthly"
    drift_threshold: float = 0.05
    commission_per_share: float = 0.0
    commission_bps: float = 0.0
    commission_min: float = 0.0
    slippage_bps: float = 0.0
    fill: FillMode = "open"
    whole_shares: bool = False
    allow_short: bool = False
    margin: float = 1.0
    max_weight: float = 1.0
    sector_caps: tuple[tuple[str, float], ...] = ()
    industry_caps: tuple[tuple[str, float], ...] = ()
    sectors: tuple[tuple[str, str, str], ...] = ()
    benchmark: str | None = None
    risk_free_rate: float = 0.0

    def __post_init__(self) -> None:
        _check_choice("rebalance schedule", self.rebalance, SCHEDULES)
        _check_choice("fill", self.fill, ("open", "close"))
        _check_number("cash", self.cash, low=0.0, open_low=True)
        for name in ("commission_per_share", "commission_bps", "commission_min", "slippage_bps"):
            _check_number(name, getattr(self, name), low=0.0)
        _check_number("drift_threshold", self.drift_threshold, low=0.0, open_low=True)
        _check_number("margin", self.margin, low=1.0)
        _check_number("max_weight", self.max_weight, low=0.0, open_low=True)
        _check_number("risk_free_rate", self.risk_free_rate, low=-1.0, open_low=True)
        for name in _FLOAT_FIELDS:  # 1000 and 1000.0 must give the same run (and record)
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "sector_caps", _caps("sector_caps", self.sector_caps))
        object.__setattr__(self, "industry_caps", _caps("industry_caps", self.industry_caps))
        object.__setattr__(self, "sectors", _sectors(self.sectors))
        if (self.sector_caps or self.industry_caps) and not self.sectors:
            raise InvalidInputError(
                "sector or industry caps need the symbols' sectors",
                "pass sectors={symbol: (sector, industry)}",
            )

    @classmethod
    def from_kwargs(cls, **settings: Any) -> PortfolioConfig:
        """Build from keyword settings, refusing unknown names with a did-you-mean hint."""
        valid = sorted(f.name for f in fields(cls))
        for name in settings:
            if name not in valid:
                close = difflib.get_close_matches(name, valid, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise InvalidInputError(
                    f"unknown portfolio setting {name!r}",
                    f"{hint}valid settings: {', '.join(valid)}",
                )
        return cls(**settings)

    @property
    def sector_of(self) -> dict[str, tuple[str, str]]:
        """``symbol -> (sector, industry)``."""
        return {symbol: (sector, industry) for symbol, sector, industry in self.sectors}

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain JSON-serialisable dict (pairs become lists)."""
        out = asdict(self)
        out["sector_caps"] = dict(self.sector_caps)
        out["industry_caps"] = dict(self.industry_caps)
        out["sectors"] = {s: [sec, ind] for s, sec, ind in self.sectors}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PortfolioConfig:
        """The inverse of :meth:`to_dict` (what a stored run needs to be rerun)."""
        settings = dict(data)
        for key in ("sector_caps", "industry_caps"):
            if isinstance(settings.get(key), Mapping):
                settings[key] = tuple(settings[key].items())
        if isinstance(settings.get("sectors"), Mapping):
            settings["sectors"] = tuple(
                (symbol, *pair) for symbol, pair in settings["sectors"].items()
            )
        return cls.from_kwargs(**settings)


_FLOAT_FIELDS = (
    "cash", "drift_threshold", "commission_per_share", "commission_bps", "commission_min",
    "slippage_bps", "margin", "max_weight", "risk_free_rate",
)


def _check_choice(what: str, value: Any, choices: tuple[str, ...]) -> None:
    if value in choices:
        return
    close = difflib.get_close_matches(str(value), choices, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InvalidInputError(f"invalid {what} {value!r}", f"{hint}use one of {', '.join(choices)}")


def _check_number(name: str, value: Any, *, low: float, open_low: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low)
    if not ok:
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        raise InvalidInputError(f"invalid {name} {value!r}", f"use a number {bound}")


def _caps(name: str, caps: Any) -> tuple[tuple[str, float], ...]:
    if caps is None:
        return ()
    if isinstance(caps, (int, float)):
        caps = {ALL_GROUPS: caps}
    items = caps.items() if isinstance(caps, Mapping) else caps
    out = []
    for group, cap in items:
        _check_number(f"{name}[{group!r}]", cap, low=0.0)
        out.append((str(group), float(cap)))
    return tuple(sorted(out))


def _sectors(sectors: Any) -> tuple[tuple[str, str, str], ...]:
    if isinstance(sectors, Mapping):
        items = [(symbol, *_pair(symbol, pair)) for symbol, pair in sectors.items()]
    else:
        items = [(row[0], *_pair(row[0], row[1:])) for row in sectors]
    return tuple(sorted((str(s), str(sec), str(ind)) for s, sec, ind in items))


def _pair(symbol: str, pair: Any) -> tuple[str, str]:
    if isinstance(pair, str):
        return pair, ""
    values = tuple(pair)
    if len(values) == 1:
        return values[0], ""
    if len(values) != 2:
        raise InvalidInputError(
            f"invalid sector entry for {symbol!r}: {pair!r}", "use (sector, industry)"
        )
    return values[0], values[1]
