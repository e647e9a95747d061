""":class:`BacktestConfig`: the execution settings of one backtest (frozen, validated)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from algotrader.errors import InvalidInputError

FillMode = Literal["open", "close"]
Sizing = Literal["all_in", "percent", "cash", "shares", "volatility"]
ExitUnit = Literal["percent", "atr"]

SIZINGS: tuple[str, ...] = ("all_in", "percent", "cash", "shares", "volatility")
EXIT_UNITS: tuple[str, ...] = ("percent", "atr")
FILL_MODES: tuple[str, ...] = ("open", "close")
_MAX_PERIOD = 100_000


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Execution settings of one backtest (costs default to 0, sizing to all-in, no exits).

    Attributes:
        cash: starting cash.
        commission_per_share: commission per share traded.
        commission_bps: commission in basis points of the traded notional.
        commission_min: minimum commission per order (applied only to orders that trade).
        slippage_bps: adverse price move in basis points on market and stop orders (buys fill
            higher, sells lower); limit orders (take-profit, limit entries) fill at their price.
        fill: ``"open"`` executes a signal from bar t at bar t+1's open; ``"close"`` at bar t's
            close. A signal on the last bar never fills with ``"open"``.
        allow_short: BUY -> long, SELL -> short (reversing through flat); default long-only, where
            SELL -> flat.
        whole_shares: size orders in whole shares (floor); default fractional shares.
        risk_free_rate: annual risk-free rate for Sharpe and Sortino (0.02 = 2 %).
        sizing: how an entry is sized, from the cash at the time of the entry:
            ``"all_in"`` (default) the largest quantity the cash pays for, costs included;
            ``"percent"`` ``size`` is the fraction of equity to commit (0.5 = half);
            ``"cash"`` ``size`` is an amount of money; ``"shares"`` ``size`` is a quantity;
            ``"volatility"`` ``size`` is the fraction of equity one ATR move may cost
            (quantity = size x equity / ATR, ATR of the signal bar). Every mode is capped at the
            all-in quantity (no leverage).
        size: the number ``sizing`` reads (required unless ``sizing="all_in"``).
        stop_loss: exit when the price moves this far against the entry (fraction of the entry
            price, or ATR multiples with ``exit_unit="atr"``).
        take_profit: exit when the price moves this far in favour of the entry (same units).
        trailing_stop: exit when the price falls this far from its best level since the entry
            (same units); the level follows each bar's high (low when short) after that bar
            has been checked.
        exit_unit: ``"percent"`` (fractions of the entry price: 0.05 = 5 %) or ``"atr"``
            (multiples of the ATR of the signal bar, fixed at entry).
        atr_period: Wilder ATR period for ``exit_unit="atr"`` and ``sizing="volatility"``.
        limit_entry: enter with a limit order this fraction better than the signal bar's close
            (0.01: buy 1 % below it, sell short 1 % above it) instead of at market; needs
            ``fill="open"``.
        limit_bars: how many bars an unfilled limit entry rests before it is cancelled.
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
    sizing: Sizing = "all_in"
    size: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    exit_unit: ExitUnit = "percent"
    atr_period: int = 14
    limit_entry: float | None = None
    limit_bars: int = 1

    def __new__(cls, *args: Any, **kwargs: Any) -> BacktestConfig:
        # Runs before the generated __init__, so a misspelt name is a one-line UserError with a
        # suggestion instead of a TypeError.
        _check_names(kwargs)
        return object.__new__(cls)

    def __post_init__(self) -> None:
        _check_choice("fill", self.fill, FILL_MODES)
        _check_choice("sizing", self.sizing, SIZINGS)
        _check_choice("exit_unit", self.exit_unit, EXIT_UNITS)
        for name in ("allow_short", "whole_shares"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(f"invalid {name} {getattr(self, name)!r}", "use True/False")
        _check_number("cash", self.cash, positive=True)
        for name in ("commission_per_share", "commission_bps", "commission_min", "slippage_bps"):
            _check_number(name, getattr(self, name))
        _check_number("risk_free_rate", self.risk_free_rate, lower=-0.99)
        _check_int("atr_period", self.atr_period)
        _check_int("limit_bars", self.limit_bars)
        self._check_sizing()
        self._check_exits()

    def _check_sizing(self) -> None:
        if self.sizing == "all_in":
            if self.size is not None:
                raise InvalidInputError(
                    f"size={self.size!r} needs a sizing mode",
                    f"set sizing to one of {', '.join(SIZINGS[1:])}",
                )
            return
        if self.size is None:
            raise InvalidInputError(f"sizing {self.sizing!r} needs a size", _SIZE_HINT)
        upper = 1.0 if self.sizing in ("percent", "volatility") else None
        _check_number("size", self.size, positive=True, upper=upper, hint=_SIZE_HINT)

    def _check_exits(self) -> None:
        below_one = self.exit_unit == "percent"
        for name in ("stop_loss", "trailing_stop"):
            value = getattr(self, name)
            if value is not None:
                hint = "use a fraction of the entry price in (0, 1), e.g. 0.05 for 5 %"
                if not below_one:
                    hint = "use a positive number of ATRs, e.g. 2"
                _check_number(name, value, positive=True, upper_open=1.0 if below_one else None,
                              hint=hint)
        if self.take_profit is not None:
            _check_number("take_profit", self.take_profit, positive=True)
        if self.limit_entry is not None:
            _check_number("limit_entry", self.limit_entry, upper_open=1.0,
                          hint="use a fraction of the signal bar's close in [0, 1)")
            if self.fill == "close":
                raise InvalidInputError(
                    "limit entries rest from the bar after the signal",
                    'use fill="open" with limit_entry',
                )

    @property
    def uses_atr(self) -> bool:
        """True when an exit or the sizing is measured in ATRs."""
        has_exit = any(
            v is not None for v in (self.stop_loss, self.take_profit, self.trailing_stop)
        )
        return self.sizing == "volatility" or (self.exit_unit == "atr" and has_exit)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (JSON-serialisable)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> BacktestConfig:
        """Settings from a dict (e.g. a stored run's); unknown names are refused with a hint."""
        return cls(**dict(values))


_SIZE_HINT = (
    "percent/volatility: a fraction in (0, 1]; cash: an amount; shares: a quantity (all > 0)"
)


def field_names() -> tuple[str, ...]:
    """The names :class:`BacktestConfig` accepts."""
    return tuple(f.name for f in fields(BacktestConfig))


def _check_names(given: Mapping[str, Any]) -> None:
    valid = field_names()
    unknown = sorted(set(given) - set(valid))
    if unknown:
        close = difflib.get_close_matches(unknown[0], valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InvalidInputError(
            f"unknown backtest setting {unknown[0]!r}",
            f"{hint}valid settings: {', '.join(sorted(valid))}",
        )


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value in choices:
        return
    close = difflib.get_close_matches(str(value), choices, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    options = " or ".join(f'"{c}"' for c in choices)
    raise InvalidInputError(f"invalid {name} {value!r}", f"{hint}use {options}")


def _check_number(
    name: str,
    value: object,
    *,
    positive: bool = False,
    lower: float = 0.0,
    upper: float | None = None,
    upper_open: float | None = None,
    hint: str | None = None,
) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    number = float(value) if ok else math.nan  # type: ignore[arg-type]
    ok = ok and math.isfinite(number) and number >= lower
    ok = ok and (number > 0 if positive else True)
    ok = ok and (upper is None or number <= upper)
    ok = ok and (upper_open is None or number < upper_open)
    if not ok:
        default = "use a number > 0" if positive else f"use a number >= {lower:g}"
        raise InvalidInputError(f"invalid {name} {value!r}", hint or default)


def _check_int(name: str, value: object) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _MAX_PERIOD
    if not ok:
        raise InvalidInputError(f"invalid {name} {value!r}", f"use a whole number 1..{_MAX_PERIOD}")
