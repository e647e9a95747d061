"""``algotrader orders``: place, cancel and list orders (paper accounts unless ``--live``).

    algotrader orders place --symbol TSLA --action BUY --quantity 1
    algotrader orders place --symbol TSLA --action BUY --quantity 1 --type LMT --price 240 --ref r1
    algotrader orders cancel 3            # our order id (see `orders list`)
    algotrader orders cancel 12 --ib      # IB's order id
    algotrader orders list --open         # stored orders, then the gateway's open orders

The gateway is ``ALGOTRADER_IB_HOST``/``ALGOTRADER_IB_PORT`` (or ``--host``/``--port``); limits
come from ``ALGOTRADER_MAX_ORDER_QUANTITY``, ``ALGOTRADER_MAX_ORDER_NOTIONAL`` and
``ALGOTRADER_ALLOWED_SYMBOLS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from algotrader.cli._common import console, settings_from
from algotrader.errors import InvalidInputError

if TYPE_CHECKING:
    from algotrader.app.orders import OrdersView
    from algotrader.config import Settings

orders_app = typer.Typer(
    help="Place, cancel and list orders through TWS / IB Gateway (paper unless --live).",
    no_args_is_help=True,
)

# Module-level option objects: typer reads them as defaults (calls in defaults trip B008).
_HOST = typer.Option(None, "--host", help="Gateway host (default ALGOTRADER_IB_HOST).")
_PORT = typer.Option(None, "--port", help="Gateway port (default ALGOTRADER_IB_PORT, 7497).")
_CLIENT_ID = typer.Option(
    None, "--client-id", help="API clientId (default ALGOTRADER_IB_CLIENT_ID)."
)


def _settings(
    ctx: typer.Context, host: str | None, port: int | None, client_id: int | None
) -> Settings:
    return settings_from(ctx, ib_host=host, ib_port=port, ib_client_id=client_id)


@orders_app.command("place")
def place(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "-s", "--symbol", help="Ticker, e.g. TSLA."),
    action: str = typer.Option(..., "-a", "--action", help="BUY or SELL."),
    quantity: float = typer.Option(..., "-q", "--quantity", help="Shares (> 0)."),
    order_type: str = typer.Option("MKT", "-t", "--type", help="MKT, LMT or STP."),
    price: float | None = typer.Option(
        None, "-p", "--price", help="Limit price (LMT) or stop price (STP)."
    ),
    tif: str = typer.Option("DAY", "--tif", help="Time in force: DAY or GTC."),
    ref: str | None = typer.Option(
        None,
        "--ref",
        help="Label that makes a retry safe: the same command with the same --ref is never "
        "sent twice. Generated and printed when omitted.",
    ),
    live: bool = typer.Option(
        False, "--live", help="Allow a live (real-money) account; refused without it."
    ),
    host: str | None = _HOST,
    port: int | None = _PORT,
    client_id: int | None = _CLIENT_ID,
) -> None:
    """Place one order after the risk checks; prints its first status (or its fill)."""
    import asyncio

    from algotrader.app.orders import OrderRequest, place_order

    request = OrderRequest.from_cli(symbol, action, quantity, order_type, price, tif, ref)
    settings = _settings(ctx, host, port, client_id)
    result = asyncio.run(place_order(settings, request, live=live))
    order = result.order
    if result.already_placed:
        console.print(f"Already placed (not sent again): {order.describe()}")
    else:
        console.print(order.describe())
    failed = (
        order.status in ("Cancelled", "ApiCancelled", "Inactive", "ValidationError")
        and not result.already_placed
    )
    if failed:
        # The line above says why (e.g. "[201: Order rejected - reason: ...]"). No retry hint:
        # the same --ref is never sent again, so a new attempt needs a new ref.
        raise typer.Exit(1)
    if result.generated_label:
        console.print(f"To retry this order safely, re-run with --ref {result.label}")


@orders_app.command("cancel")
def cancel(
    ctx: typer.Context,
    order_id_arg: int | None = typer.Argument(
        None, metavar="ORDER_ID", help="Our order id (see `orders list`)."
    ),
    order_id_opt: int | None = typer.Option(None, "--order-id", help="Same as ORDER_ID."),
    ib: bool = typer.Option(False, "--ib", help="ORDER_ID is IB's order id, not ours."),
    host: str | None = _HOST,
    port: int | None = _PORT,
) -> None:
    """Cancel an open order and wait for the gateway's confirmation."""
    if order_id_arg is not None and order_id_opt is not None and order_id_arg != order_id_opt:
        raise InvalidInputError(
            f"two different order ids given ({order_id_arg} and --order-id {order_id_opt})",
            "pass one",
        )
    order_id = order_id_arg if order_id_arg is not None else order_id_opt
    if order_id is None:
        raise InvalidInputError("no order id given", "pass ORDER_ID or --order-id N")
    settings = _settings(ctx, host, port, None)
    import asyncio

    from algotrader.app.orders import cancel_order

    order = asyncio.run(cancel_order(settings, order_id, by_ib_order_id=ib))
    console.print(order.describe())


@orders_app.command("list")
def list_command(
    ctx: typer.Context,
    show_open: bool = typer.Option(
        False,
        "--open",
        help="Ask the gateway too: update stored orders, then show its open orders.",
    ),
    limit: int = typer.Option(50, "--limit", help="How many of the newest orders to show."),
    host: str | None = _HOST,
    port: int | None = _PORT,
    client_id: int | None = _CLIENT_ID,
) -> None:
    """Show stored orders (newest last) and, with --open, the gateway's open orders."""
    settings = _settings(ctx, host, port, client_id)
    import asyncio

    from algotrader.app.orders import view_orders

    # Orders keep changing after `place` ends (fills, triggers, expiry): --open catches up.
    _render(asyncio.run(view_orders(settings, limit=limit, with_gateway=show_open)))


def _render(view: OrdersView) -> None:
    for order in view.updated:
        console.print(f"Updated: {order.describe()}")
    if not view.stored:
        console.print("No stored orders.")
    else:
        table = Table(title="Stored orders")
        for column in ("id", "created (UTC)", "ref", "account", "order", "status", "IB id"):
            table.add_column(column)
        for o in view.stored:
            account = f"{o.account or '?'}{'' if o.is_paper else ' LIVE'}"
            table.add_row(
                str(o.id),
                o.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                o.client_ref,
                account,
                o.terms,
                o.state,
                "" if o.ib_order_id is None else str(o.ib_order_id),
            )
        console.print(table)
    if view.open_at_gateway is None:
        return
    if not view.open_at_gateway:
        console.print(f"No open orders at {view.where}.")
        return
    table = Table(title=f"Open orders at {view.where}")
    for column in ("IB id", "client", "account", "ref", "order", "status", "filled"):
        table.add_column(column)
    for g in view.open_at_gateway:
        table.add_row(
            str(g.ib_order_id),
            str(g.client_id),
            g.account,
            g.client_ref,
            g.terms,
            g.status,
            f"{g.filled:g}/{g.filled + g.remaining:g}",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``orders`` command group to ``app``."""
    app.add_typer(orders_app, name="orders")
