"""Orders through the real ib_async client against the simulator on an ephemeral port.

Each test runs its own event loop (``asyncio.run``) with the simulator in it, so
``sim.set_price`` and the order code share one loop. Database tests run on SQLite and
PostgreSQL (``db_url``).
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from algotrader.app.orders import (
    OrderRequest,
    cancel_order,
    client_ref_for,
    place_order,
    sync_orders,
    view_orders,
)
from algotrader.app.risk import LiveTradingRefusedError, RiskLimitError
from algotrader.config import Settings
from algotrader.db.engine import Database, open_database
from algotrader.db.orders import SqlOrderLog as OrderLog
from algotrader.errors import (
    DataNotFoundError,
    GatewayUnavailableError,
    InvalidInputError,
    UserError,
)
from algotrader.ibsim import Faults, IBSimulator, SimConfig
from algotrader.ibsim.protocol import In

# A Friday evening: the synthetic history is complete, so the MKT price lookup is deterministic.
FIXED_NOW = datetime(2024, 6, 14, 20, 30, tzinfo=UTC)
T = TypeVar("T")
Body = Callable[[IBSimulator, Settings, Database], Awaitable[T]]


def _config(**overrides: Any) -> SimConfig:
    return replace(SimConfig(clock=lambda: FIXED_NOW, tick_interval=0.02), **overrides)


def _run(body: Body[T], db_url: str, config: SimConfig | None = None, **settings: Any) -> T:
    """Start a simulator, open the database, ``await body(sim, settings, db)``."""

    async def main() -> T:
        async with IBSimulator(config or _config()) as sim:
            cfg = Settings(**{"ib_port": sim.port, "database_url": db_url, "ib_timeout": 5.0,
                              **settings})
            db = open_database(cfg)
            try:
                return await body(sim, cfg, db)
            finally:
                db.dispose()

    return asyncio.run(main())


def _statuses(history: list[dict[str, Any]]) -> list[str]:
    return [entry["status"] for entry in history]


def _sqlite(tmp: Path, name: str = "orders.db") -> str:
    return f"sqlite:///{tmp / name}"


# -- requests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"order_type": "LMT"}, "a LMT order needs a limit price: pass --price"),
        ({"order_type": "STP"}, "a STP order needs a stop price: pass --price"),
        ({"action": "BYU"}, "invalid action 'BYU': use --action BUY or --action SELL"),
        ({"quantity": 0}, "invalid quantity 0: --quantity must be greater than 0"),
        ({"quantity": -3}, "invalid quantity -3"),
        ({"order_type": "MKT", "price": 10.0}, "a MKT order takes no price"),
        ({"order_type": "LMT", "price": -1.0}, "invalid limit price -1"),
        ({"order_type": "TRAIL"}, "invalid order type 'TRAIL'"),
        ({"tif": "IOC"}, "invalid time in force 'IOC'"),
        ({"ref": "has space"}, "invalid --ref 'has space'"),
        ({"symbol": "$$"}, "invalid symbol '$$'"),
    ],
)
def test_invalid_requests_are_refused_with_one_line(
    kwargs: dict[str, Any], expected: str
) -> None:
    args: dict[str, Any] = {"symbol": "TSLA", "action": "BUY", "quantity": 1, **kwargs}
    with pytest.raises(InvalidInputError) as err:
        OrderRequest.from_cli(**args)
    assert err.value.message.startswith(expected)
    assert "\n" not in err.value.message


def test_requests_are_normalised_and_refs_are_deterministic() -> None:
    request = OrderRequest.from_cli("tsla", "buy", 2, "stp", 240.0, "gtc", ref="batch-1")
    assert (request.symbol, request.action, request.order_type, request.tif) == (
        "TSLA", "BUY", "STP", "GTC")
    assert (request.stop_price, request.limit_price, request.reference_price) == (
        240.0, None, 240.0)
    same = OrderRequest("TSLA", "BUY", 2.0, "STP", stop_price=240.0, tif="GTC", ref="batch-1")
    assert client_ref_for(request, "batch-1") == client_ref_for(same, "batch-1")
    assert client_ref_for(request, "batch-1").startswith("batch-1-")
    other = OrderRequest("TSLA", "BUY", 3, "STP", stop_price=240.0, tif="GTC")
    assert client_ref_for(other, "batch-1") != client_ref_for(request, "batch-1")


# -- placing ---------------------------------------------------------------------------------


def test_market_order_fills_and_its_stored_history_ends_filled(
    db_url: str, workdir: Path
) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        result = await place_order(settings, OrderRequest("AAPL", "BUY", 3))
        order = result.order
        assert not result.already_placed and result.generated_label
        [sim_order] = sim.book.orders.values()
        assert sim_order.order_ref == order.client_ref
        assert sim_order.order_ref.startswith(result.label + "-")
        [execution] = sim.book.executions
        assert (order.status, order.filled, order.avg_fill_price) == (
            "Filled", 3.0, execution.price)
        assert (order.ib_order_id, order.perm_id) == (sim_order.order_id, sim_order.perm_id)
        assert order.is_paper and order.account == "DU1234567"
        assert result.reference_price is not None  # the notional check used the last close

        stored = OrderLog(db).get(order.id)
        assert stored is not None
        history = stored.status_history
        assert _statuses(history)[0] == "PendingSubmit"
        assert "Submitted" in _statuses(history)
        assert history[-1]["status"] == "Filled"
        assert history[-1]["filled"] == 3.0
        assert history[-1]["avg_fill_price"] == execution.price
        assert all(set(e) == {"ts", "status", "filled", "avg_fill_price", "message"}
                   for e in history)
        assert order.describe() == (
            f"Order {order.id} (IB {sim_order.order_id}, ref {order.client_ref}): "
            f"BUY 3 AAPL MKT DAY -> Filled 3 @ {execution.price:.2f} "
            "(paper account DU1234567)"
        )

    _run(body, db_url)


def test_limit_order_rests_then_cancel_is_stored_as_cancelled(
    db_url: str, workdir: Path
) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        limit = round(sim.price("AAPL") * 0.5, 2)
        request = OrderRequest("AAPL", "BUY", 5, "LMT", limit_price=limit, tif="GTC")
        placed = (await place_order(settings, request)).order
        assert placed.status == "Submitted" and placed.filled == 0.0
        [working] = sim.book.working()
        assert (working.lmt_price, working.tif, working.order_ref) == (
            limit, "GTC", placed.client_ref)

        cancelled = await cancel_order(settings, placed.id)
        assert cancelled.status == "Cancelled"
        assert sim.book.working() == []
        statuses = _statuses(cancelled.status_history)
        assert statuses.index("Submitted") < statuses.index("Cancelled")
        assert any(e["message"].startswith("202: Order Canceled") for e in
                   cancelled.status_history)

        with pytest.raises(InvalidInputError, match="already Cancelled; nothing to cancel"):
            await cancel_order(settings, placed.id)

    _run(body, db_url)


def test_cancel_by_ib_order_id(workdir: Path) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        request = OrderRequest("MSFT", "SELL", 1, "LMT", limit_price=round(
            sim.price("MSFT") * 2, 2))
        placed = (await place_order(settings, request)).order
        assert placed.ib_order_id is not None
        done = await cancel_order(settings, placed.ib_order_id, by_ib_order_id=True)
        assert (done.id, done.status) == (placed.id, "Cancelled")

    _run(body, _sqlite(workdir))


def test_stop_order_triggers_after_the_price_moves_and_sync_stores_the_fill(
    db_url: str, workdir: Path
) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        sim.set_price("AAPL", 200.0)
        request = OrderRequest("AAPL", "SELL", 2, "STP", stop_price=190.0)
        placed = (await place_order(settings, request)).order
        assert placed.status == "Submitted"
        sim.set_price("AAPL", 195.0)
        assert sim.book.working() != []  # above the stop: still resting
        sim.set_price("AAPL", 189.5)  # touches the stop: becomes a market order and fills
        assert sim.book.working() == []
        [execution] = sim.book.executions
        assert execution.price == 189.5

        # The placing command has ended; a later sync picks the fill up by orderRef.
        [synced] = await sync_orders(settings)
        assert (synced.id, synced.status, synced.filled) == (placed.id, "Filled", 2.0)
        assert synced.avg_fill_price == 189.5
        assert synced.status_history[-1]["status"] == "Filled"

    _run(body, db_url)


def test_stop_fill_within_the_grace_period_is_recorded_by_place(workdir: Path) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        sim.set_price("AAPL", 200.0)
        asyncio.get_running_loop().call_later(0.3, sim.set_price, "AAPL", 211.0)
        request = OrderRequest("AAPL", "BUY", 1, "STP", stop_price=210.0)
        order = (await place_order(settings, request, grace=3.0)).order
        assert (order.status, order.avg_fill_price) == ("Filled", 211.0)
        assert _statuses(order.status_history)[-2:] == ["Submitted", "Filled"]

    _run(body, _sqlite(workdir))


# -- risk checks: nothing is sent, nothing is stored ------------------------------------------


@pytest.mark.parametrize(
    ("request_args", "limits", "expected"),
    [
        ({"quantity": 5000}, {}, r"quantity 5,000 exceeds the maximum order quantity 1,000"),
        ({"quantity": 100}, {"max_order_notional": 1_000.0},
         # The last historical close, not the simulator's (unpublished) current price.
         r"BUY 100 AAPL at \d+\.\d\d is a notional of [\d,]+\.\d\d, above the limit of 1,000\.00"),
        ({"quantity": 100, "order_type": "LMT", "price": 50.0},
         {"max_order_notional": 1_000.0}, r"at 50\.00 is a notional of 5,000\.00"),
        ({"quantity": 1}, {"allowed_symbols": "spy, msft"},
         r"AAPL is not an allowed symbol \(allowed: MSFT, SPY\)"),
    ],
    ids=["quantity", "notional-mkt", "notional-lmt", "symbol"],
)
def test_risk_refusals_send_and_store_nothing(
    db_url: str, workdir: Path, request_args: dict[str, Any], limits: dict[str, Any],
    expected: str,
) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        sim.set_price("AAPL", 190.0)
        request = OrderRequest.from_cli("AAPL", "BUY", **request_args)
        with pytest.raises(RiskLimitError) as err:
            await place_order(settings, request)
        assert re.search(expected, err.value.message) and "\n" not in err.value.message
        assert sim.book.orders == {} and sim.book.executions == []
        assert OrderLog(db).recent() == []

    _run(body, db_url, **limits)


# -- paper by default -------------------------------------------------------------------------


def test_non_paper_account_is_refused_without_live_and_accepted_with_it(workdir: Path) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        request = OrderRequest("AAPL", "BUY", 1, "LMT", limit_price=1.0, ref="live-test")
        with pytest.raises(LiveTradingRefusedError) as err:
            await place_order(settings, request)
        assert err.value.message == (
            "refusing to trade account U1234567: it is not a paper account (paper accounts "
            "start with DU); orders are paper-only by default: pass --live to place a real order"
        )
        assert sim.book.orders == {} and OrderLog(db).recent() == []

        order = (await place_order(settings, request, live=True)).order
        assert order.status == "Submitted" and not order.is_paper
        assert order.describe().endswith("(LIVE account U1234567)")
        assert [o.account for o in sim.book.orders.values()] == ["U1234567"]

    _run(body, _sqlite(workdir), _config(account="U1234567"))


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_live_port_is_refused_without_live_and_accepted_with_it(workdir: Path) -> None:
    if not _free(4001):
        pytest.skip("port 4001 (IB Gateway live) is in use on this machine")

    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        assert settings.ib_port == 4001
        request = OrderRequest("AAPL", "BUY", 1, "LMT", limit_price=1.0)
        with pytest.raises(LiveTradingRefusedError, match="pass --live"):
            await place_order(settings, request)
        assert sim.book.orders == {} and sim.connected_client_ids == set()
        order = (await place_order(settings, request, live=True)).order
        assert order.status == "Submitted" and not order.is_paper  # a DU account, live port

    _run(body, _sqlite(workdir), _config(port=4001))


# -- idempotency -----------------------------------------------------------------------------


def test_same_ref_twice_sends_one_order_and_reports_the_first(
    db_url: str, workdir: Path
) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        request = OrderRequest("AAPL", "BUY", 1, "LMT", limit_price=1.0, ref="retry-me")
        first = await place_order(settings, request)
        again = await place_order(settings, request)
        assert not first.already_placed and again.already_placed
        assert again.order.id == first.order.id
        assert again.order.client_ref == first.order.client_ref
        assert len(sim.book.orders) == 1 and len(OrderLog(db).recent()) == 1
        # The same label on different terms is a different order.
        other = OrderRequest("AAPL", "BUY", 2, "LMT", limit_price=1.0, ref="retry-me")
        assert not (await place_order(settings, other)).already_placed
        assert len(sim.book.orders) == 2

    _run(body, db_url)


def test_order_known_only_to_the_gateway_is_adopted_not_resent(workdir: Path) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        request = OrderRequest("AAPL", "BUY", 1, "LMT", limit_price=1.0, ref="crash")
        first = (await place_order(settings, request)).order
        # Another database (or a run that died before storing): the gateway still knows it.
        elsewhere = settings.model_copy(update={"database_url": _sqlite(workdir, "other.db")})
        again = await place_order(elsewhere, request)
        assert again.already_placed and len(sim.book.orders) == 1
        assert (again.order.client_ref, again.order.ib_order_id, again.order.status) == (
            first.client_ref, first.ib_order_id, "Submitted")
        assert "found at the gateway" in (again.order.message or "")

    _run(body, _sqlite(workdir))


# -- failures --------------------------------------------------------------------------------


def test_gateway_down_is_one_line_and_stores_nothing(workdir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    settings = Settings(ib_port=port, database_url=_sqlite(workdir), ib_timeout=2.0)
    with pytest.raises(GatewayUnavailableError) as err:
        asyncio.run(place_order(settings, OrderRequest("AAPL", "BUY", 1)))
    assert err.value.message.startswith(f"no TWS/IB Gateway answers at 127.0.0.1:{port}")
    assert "--source" not in err.value.message and "\n" not in err.value.message
    db = open_database(settings)
    try:
        assert OrderLog(db).recent() == []
    finally:
        db.dispose()


def test_cancel_of_an_unknown_order_is_one_line(db_url: str, workdir: Path) -> None:
    settings = Settings(database_url=db_url, ib_port=1)
    for by_ib, expected in ((False, "no stored order 42"),
                            (True, "no stored order with IB order id 42")):
        with pytest.raises(DataNotFoundError) as err:
            asyncio.run(cancel_order(settings, 42, by_ib_order_id=by_ib))
        assert isinstance(err.value, UserError)
        assert err.value.message == f"{expected}: see `algotrader orders list` for the order ids"


def test_cancel_of_a_filled_order_is_refused(workdir: Path) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        order = (await place_order(settings, OrderRequest("AAPL", "BUY", 1))).order
        assert order.status == "Filled"
        with pytest.raises(InvalidInputError, match=r"order \d+ is already Filled 1 @ "):
            await cancel_order(settings, order.id)

    _run(body, _sqlite(workdir))


# -- a gateway that stays silent: every wait is bounded and ends in one line -------------------


@pytest.mark.parametrize(
    ("silent", "request_args", "expected"),
    [
        (In.REQ_CONTRACT_DATA, {}, "did not answer the contract lookup of AAPL within 1.5 s"),
        (In.REQ_ALL_OPEN_ORDERS, {}, "did not answer the open-orders request within 1.5 s"),
        (In.REQ_EXECUTIONS, {}, "did not answer its start-up requests within 1.5 s "
                                "(executions request timed out)"),
        (In.REQ_COMPLETED_ORDERS, {}, "(completed orders request timed out)"),
        (In.REQ_HISTORICAL_DATA, {}, "did not answer the price request for AAPL within 1.5 s"),
        (In.PLACE_ORDER, {"order_type": "LMT", "price": 1.0},
         "the gateway did not confirm order 1 (ref "),
    ],
    ids=["qualify", "open-orders", "executions", "completed-orders", "price", "acknowledgement"],
)
def test_every_wait_on_a_silent_gateway_ends_in_one_line(
    workdir: Path, silent: int, request_args: dict[str, Any], expected: str
) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        request = OrderRequest.from_cli("AAPL", "BUY", 1, **request_args)
        with pytest.raises(GatewayUnavailableError) as err:
            await asyncio.wait_for(place_order(settings, request), 60)  # a hang guard
        assert expected in err.value.message and "\n" not in err.value.message
        if silent != In.PLACE_ORDER:
            assert sim.book.orders == {} and OrderLog(db).recent() == []

    config = _config(faults=Faults(silent_messages=frozenset({silent})))
    _run(body, _sqlite(workdir), config, ib_timeout=1.5)


def test_a_cancel_the_gateway_never_confirms_ends_in_one_line(workdir: Path) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        request = OrderRequest("AAPL", "BUY", 1, "LMT", limit_price=1.0)
        placed = (await place_order(settings, request)).order
        sim.faults = Faults(silent_messages=frozenset({In.CANCEL_ORDER}))
        with pytest.raises(GatewayUnavailableError) as err:
            await asyncio.wait_for(cancel_order(settings, placed.id), 60)
        assert "did not confirm the cancel of IB order" in err.value.message
        assert sim.book.working() != []

    _run(body, _sqlite(workdir), ib_timeout=1.5)


def test_a_silent_sync_ends_in_one_line(workdir: Path) -> None:
    async def body(sim: IBSimulator, settings: Settings, db: Database) -> None:
        request = OrderRequest("AAPL", "BUY", 1, "LMT", limit_price=1.0)
        await place_order(settings, request)
        sim.faults = Faults(silent_messages=frozenset({In.REQ_ALL_OPEN_ORDERS}))
        with pytest.raises(GatewayUnavailableError, match=r"open-orders request within 1\.5 s"):
            await asyncio.wait_for(view_orders(settings, with_gateway=True), 60)

    _run(body, _sqlite(workdir), ib_timeout=1.5)
