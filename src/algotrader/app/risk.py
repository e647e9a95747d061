"""Pre-trade checks: limits from settings, the price used for the notional limit, paper vs live.

Everything here runs *before* an order is sent. A refusal is a :class:`UserError` (exit code 2,
one line) that names the limit and how to change it.

Limits (``ALGOTRADER_*`` settings):

- ``MAX_ORDER_QUANTITY``: the largest quantity of one order.
- ``MAX_ORDER_NOTIONAL``: the largest quantity x price. LMT and STP orders use their own price;
  a MKT order uses the last traded price the gateway reports (``OrderGateway.last_price``).
  ``0`` switches the notional limit off (useful without a market-data subscription).
- ``ALLOWED_SYMBOLS``: comma-separated symbols orders may be placed for; empty allows any.

Paper by default: :func:`check_trading_mode` refuses a live account unless ``live=True``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from algotrader.config import Settings
from algotrader.errors import InvalidInputError, UserError
from algotrader.ibkr.connection import is_live_port, is_paper_account

if TYPE_CHECKING:
    from algotrader.ports.orders import OrderGateway, OrderRequest

log = logging.getLogger(__name__)


class RiskLimitError(UserError):
    """An order breaks a configured limit; nothing was sent."""


class LiveTradingRefusedError(UserError):
    """The gateway trades a live account and ``--live`` was not given; nothing was sent."""


def _num(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.4f}".rstrip("0")


def check_static_limits(request: OrderRequest, settings: Settings) -> None:
    """The checks that need no gateway: allowed symbols, quantity, and notional for LMT/STP."""
    allowed = settings.allowed_symbol_set
    if allowed and request.symbol not in allowed:
        raise RiskLimitError(
            f"{request.symbol} is not an allowed symbol (allowed: {', '.join(sorted(allowed))})",
            "trade one of those, or add it to ALGOTRADER_ALLOWED_SYMBOLS",
        )
    if request.quantity > settings.max_order_quantity:
        raise RiskLimitError(
            f"quantity {_num(request.quantity)} exceeds the maximum order quantity "
            f"{_num(settings.max_order_quantity)}",
            "lower --quantity or raise ALGOTRADER_MAX_ORDER_QUANTITY",
        )
    price = request.reference_price
    if price is not None:
        check_notional(request, price, settings)


def check_notional(request: OrderRequest, price: float, settings: Settings) -> None:
    """Refuse when quantity x ``price`` exceeds ``max_order_notional`` (0 = no limit)."""
    limit = settings.max_order_notional
    if limit <= 0:
        return
    notional = request.quantity * price
    if notional > limit:
        raise RiskLimitError(
            f"{request.action} {_num(request.quantity)} {request.symbol} at {price:,.2f} is a "
            f"notional of {notional:,.2f}, above the limit of {limit:,.2f}",
            "lower --quantity or raise ALGOTRADER_MAX_ORDER_NOTIONAL",
        )


async def notional_check_for_market_order(
    gateway: OrderGateway, request: OrderRequest, settings: Settings
) -> float | None:
    """Run the notional check of a MKT order with the gateway's last price; returns that price."""
    if settings.max_order_notional <= 0:
        return None
    price = await gateway.last_price(request.symbol)
    if price is None:
        raise RiskLimitError(
            f"the gateway has no recent price for {request.symbol}, so the notional limit of a "
            "MKT order cannot be checked",
            "place a LMT order with --price, or set ALGOTRADER_MAX_ORDER_NOTIONAL=0 to switch "
            "the notional limit off",
        )
    check_notional(request, price, settings)
    return price


def refuse_live_port(settings: Settings, live: bool) -> None:
    """Before connecting: a live port (7496 TWS, 4001 Gateway) needs ``live=True``."""
    if is_live_port(settings.ib_port) and not live:
        raise LiveTradingRefusedError(
            f"refusing to send an order to port {settings.ib_port}, a live-trading port "
            "(orders are paper-only by default)",
            "pass --live to trade a live account, or use a paper port (7497 TWS, 4002 Gateway)",
        )


def resolve_account(accounts: list[str], settings: Settings) -> str:
    """The account orders go to: ``ALGOTRADER_IB_ACCOUNT`` or the gateway's only account."""
    if settings.ib_account:
        if accounts and settings.ib_account not in accounts:
            raise InvalidInputError(
                f"account {settings.ib_account} is not managed by this gateway "
                f"(it manages {', '.join(accounts)})",
                "fix ALGOTRADER_IB_ACCOUNT",
            )
        return settings.ib_account
    if len(accounts) == 1:
        return accounts[0]
    if not accounts:
        raise InvalidInputError(
            "the gateway reported no account to trade", "set ALGOTRADER_IB_ACCOUNT"
        )
    raise InvalidInputError(
        f"the gateway manages several accounts ({', '.join(accounts)})",
        "choose one with ALGOTRADER_IB_ACCOUNT",
    )


def check_trading_mode(account: str, settings: Settings, live: bool) -> bool:
    """True for paper trading; refuses a live account (or live port) unless ``live=True``.

    Live means: the connected port is a live one, or the account is not a paper account
    (paper accounts start with DU/DF). Both are checked because either can be misconfigured.
    """
    paper = is_paper_account(account) and not is_live_port(settings.ib_port)
    if not paper and not live:
        why = (
            f"port {settings.ib_port} is a live-trading port"
            if is_live_port(settings.ib_port)
            else "it is not a paper account (paper accounts start with DU)"
        )
        raise LiveTradingRefusedError(
            f"refusing to trade account {account}: {why}; orders are paper-only by default",
            "pass --live to place a real order",
        )
    return paper
