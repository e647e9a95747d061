"""Order requests: place (and what-if), cancel, global cancel, open and completed orders,
executions; and telling the owning clients about fills and cancels."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from algotrader.ibsim import protocol as P
from algotrader.ibsim.handlers import Handler
from algotrader.ibsim.handlers.contracts import NO_SECURITY_TEXT
from algotrader.ibsim.instruments import Instrument
from algotrader.ibsim.protocol import In, parse_bool, parse_float, parse_int
from algotrader.ibsim.session import ClientSession
from algotrader.ibsim.state import SUPPORTED_ORDER_TYPES, Execution, SimOrder

if TYPE_CHECKING:
    from algotrader.ibsim.server import IBSimulator


class _Refused(Exception):
    """TWS answers the placeOrder with this error instead of an acknowledgement."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def _order_tail(fields: list[str], start: int) -> dict[str, object]:
    """The placeOrder fields after ``hidden`` that matter here (v178, non-BAG), up to whatIf.

    Walks the same conditional groups ib_async's ``Client.placeOrder`` writes.
    """
    it = iter(fields[start:])

    def take(n: int = 1) -> list[str]:
        return [next(it, "") for _ in range(n)]

    (_shares_alloc, _discretionary, good_after, good_till, *_fa) = take(6)
    take(1)  # modelCode
    take(22)  # shortSaleSlot .. volatilityType
    (dn_type,) = take(1)
    take(1)  # deltaNeutralAuxPrice
    if dn_type:
        take(8)
    take(4)  # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent
    take(2)  # scaleInitLevelSize, scaleSubsLevelSize
    (increment,) = take(1)
    if 0 < parse_float(increment) < P.UNSET_DOUBLE:
        take(7)
    take(3)  # scaleTable, activeStartTime, activeStopTime
    (hedge_type,) = take(1)
    if hedge_type:
        take(1)
    take(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    (dnc,) = take(1)
    if parse_bool(dnc):
        take(3)
    (algo,) = take(1)
    if algo:
        (count,) = take(1)
        take(2 * parse_int(count))
    take(1)  # algoId
    (what_if,) = take(1)
    return {"goodAfterTime": good_after, "goodTillDate": good_till, "whatIf": parse_bool(what_if)}


def _parse_exec_filter_time(text: str, tz: ZoneInfo) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    zone = UTC if "-" in text[:9] else tz
    for pattern in ("%Y%m%d-%H:%M:%S", "%Y%m%d %H:%M:%S"):
        with contextlib.suppress(ValueError):
            return datetime.strptime(text[:17] + "+0000", pattern + "%z").replace(tzinfo=zone)
    return None


def _validated(req: dict[str, str]) -> tuple[str, float, str, float | None, float | None]:
    """Order type, quantity, action, limit and aux price of a placeOrder; or :class:`_Refused`."""
    order_type = req["orderType"].upper()
    if order_type not in SUPPORTED_ORDER_TYPES:
        raise _Refused(387, "Unsupported order type for this exchange and security type.")
    quantity = parse_float(req["totalQuantity"], 0.0)
    if quantity <= 0:
        raise _Refused(434, "The order size cannot be zero.")
    action = req["action"].upper()
    if action not in ("BUY", "SELL"):
        raise _Refused(321, f"Error validating request.-'bO' : cause - Invalid side: "
                            f"{req['action']}")
    lmt = parse_float(req["lmtPrice"], P.UNSET_DOUBLE)
    aux = parse_float(req["auxPrice"], P.UNSET_DOUBLE)
    lmt_price = None if lmt == P.UNSET_DOUBLE else lmt
    aux_price = None if aux == P.UNSET_DOUBLE else aux
    if order_type in ("LMT", "STP LMT") and lmt_price is None:
        raise _Refused(321, "Error validating request.-'bO' : cause - The limit price is missing")
    if order_type in ("STP", "STP LMT") and aux_price is None:
        raise _Refused(321, "Error validating request.-'bO' : cause - The stop price is missing")
    return order_type, quantity, action, lmt_price, aux_price


class OrderHandlers:
    """Orders of every client; also the :class:`~algotrader.ibsim.matching.MatchListener`."""

    def __init__(self, sim: IBSimulator) -> None:
        self.sim = sim
        self.received = 0  # placeOrder messages, 1-based numbering for Faults.reject_orders

    def routes(self) -> dict[int, Handler]:
        return {
            In.REQ_OPEN_ORDERS: self.open_orders,
            In.REQ_ALL_OPEN_ORDERS: self.all_open_orders,
            In.REQ_COMPLETED_ORDERS: self.completed_orders,
            In.REQ_EXECUTIONS: self.executions,
            In.REQ_GLOBAL_CANCEL: self.global_cancel,
            In.PLACE_ORDER: self.place_order,
            In.CANCEL_ORDER: self.cancel_order,
        }

    # -- messages --------------------------------------------------------------------------

    def _order_fields(self, order: SimOrder) -> dict[str, object]:
        inst = order.instrument
        return dict(
            conId=inst.con_id, symbol=inst.symbol, secType=inst.sec_type,
            exchange=order.exchange, currency=inst.currency, localSymbol=inst.symbol,
            tradingClass=inst.trading_class, action=order.action,
            totalQuantity=order.quantity, orderType=order.order_type,
            lmtPrice=P.UNSET_DOUBLE if order.lmt_price is None else order.lmt_price,
            auxPrice=P.UNSET_DOUBLE if order.aux_price is None else order.aux_price,
            tif=order.tif, account=order.account, orderRef=order.order_ref,
            permId=order.perm_id, outsideRth=order.outside_rth,
        )

    def _send_open_order(self, session: ClientSession, order: SimOrder, **state: object) -> None:
        session.out(
            P.OPEN_ORDER, orderId=order.order_id, clientId=order.client_id,
            status=state.pop("status", order.status), **self._order_fields(order), **state,
        )

    def _send_order_status(self, session: ClientSession, order: SimOrder) -> None:
        session.out(
            P.ORDER_STATUS, orderId=order.order_id, status=order.status, filled=order.filled,
            remaining=order.remaining, avgFillPrice=order.avg_fill_price, permId=order.perm_id,
            lastFillPrice=order.last_fill_price, clientId=order.client_id,
        )

    def _send_execution(self, session: ClientSession, req_id: int, ex: Execution) -> None:
        inst = ex.instrument
        session.out(
            P.EXEC_DETAILS, reqId=req_id, orderId=ex.order_id, conId=inst.con_id,
            symbol=inst.symbol, secType=inst.sec_type, exchange=ex.exchange,
            currency=inst.currency, localSymbol=inst.symbol, tradingClass=inst.trading_class,
            execId=ex.exec_id, time=self.sim.stamp(ex.time), acctNumber=ex.account,
            execExchange=ex.exchange, side=ex.side, shares=ex.shares, price=ex.price,
            permId=ex.perm_id, clientId=ex.client_id, cumQty=ex.cum_qty, avgPrice=ex.avg_price,
            orderRef=ex.order_ref,
        )

    def _send_commission(self, session: ClientSession, ex: Execution) -> None:
        session.out(
            P.COMMISSION_REPORT, execId=ex.exec_id, commission=ex.commission,
            realizedPNL=P.UNSET_DOUBLE if ex.realized_pnl is None else round(ex.realized_pnl, 4),
        )

    def _owners(self, order: SimOrder) -> Iterator[ClientSession]:
        return (s for s in self.sim.live_sessions() if s.client_id == order.client_id)

    # -- MatchListener ---------------------------------------------------------------------

    def order_filled(self, order: SimOrder, execution: Execution) -> None:
        # TWS's order for a fill: execDetails, openOrder, orderStatus, then the commission.
        for owner in self._owners(order):
            self._send_execution(owner, -1, execution)
            self._send_open_order(owner, order)
            self._send_order_status(owner, order)
            self._send_commission(owner, execution)
        self.sim.account.push(order.instrument.con_id)

    def order_cancelled(self, order: SimOrder) -> None:
        for owner in self._owners(order):
            self._send_order_status(owner, order)
            owner.error(order.order_id, 202, "Order Canceled - reason:")

    # -- requests --------------------------------------------------------------------------

    async def place_order(self, session: ClientSession, fields: list[str]) -> None:
        """TWS's sequence: ``PreSubmitted``, then ``Submitted`` (openOrder + orderStatus each);
        a feed symbol's order then matches at once against the last price (the forming bar's
        open), so a market order fills before this returns."""
        req = P.REQUESTS[In.PLACE_ORDER].parse(fields)
        order_id = parse_int(req["orderId"])
        self.sim.next_order_id = max(self.sim.next_order_id, order_id + 1)
        self.received += 1
        if self.received in self.sim.faults.reject_orders:
            self._reject(session, order_id, req)
            return
        inst = None
        if req["secType"] != "BAG":
            inst = self.sim.lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        if inst is None:
            session.error(order_id, 200, NO_SECURITY_TEXT)
            return
        try:
            terms = _validated(req)
        except _Refused as refused:
            session.error(order_id, refused.code, refused.text)
            return
        tail = _order_tail(fields, len(P.REQUESTS[In.PLACE_ORDER].fields) + 1)
        if tail.get("whatIf"):
            self._what_if(session, order_id, inst, req, terms)
            return
        order = self._upsert(session, order_id, inst, req, terms)
        if order is None:
            return
        if order.status == "PreSubmitted":  # new: TWS holds it a moment before routing it
            self._send_open_order(session, order)
            self._send_order_status(session, order)
            order.status = "Submitted"
        self._send_open_order(session, order)
        self._send_order_status(session, order)
        if inst.symbol in self.sim.engine.external:
            self.sim.engine.match(inst)

    def _reject(self, session: ClientSession, order_id: int, req: dict[str, str]) -> None:
        """The ``reject_orders`` fault: 201 as TWS rejects an order; it ends ``Inactive``."""
        inst = self.sim.lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        key = (session.client_id or 0, order_id)
        if inst is not None and key not in self.sim.book.orders:
            self.sim.book.orders[key] = SimOrder(
                order_id=order_id, client_id=session.client_id or 0,
                perm_id=self.sim.book.new_perm_id(), instrument=inst,
                exchange=req["exchange"] or "SMART", action=req["action"].upper(),
                quantity=parse_float(req["totalQuantity"], 0.0),
                order_type=req["orderType"].upper(), lmt_price=None, aux_price=None,
                tif=req["tif"] or "DAY", account=req["account"] or self.sim.book.account,
                order_ref=req["orderRef"], status="Inactive",
                completed_time=self.sim.stamp(self.sim.now()),
            )
        session.error(order_id, 201, "Order rejected - reason:ibsim rejects this order "
                                     f"(fault: placeOrder #{self.received})")

    def _upsert(
        self, session: ClientSession, order_id: int, inst: Instrument, req: dict[str, str],
        terms: tuple[str, float, str, float | None, float | None],
    ) -> SimOrder | None:
        """A new order, or the modified working one (TWS keeps its permId); None if refused."""
        order_type, quantity, action, lmt_price, aux_price = terms
        book = self.sim.book
        key = (session.client_id or 0, order_id)
        existing = book.orders.get(key)
        if existing is not None and not existing.is_working:
            session.error(order_id, 103, "Duplicate order id")
            return None
        if existing is not None:
            existing.quantity, existing.order_type = quantity, order_type
            existing.lmt_price, existing.aux_price = lmt_price, aux_price
            existing.tif = req["tif"] or existing.tif
            existing.order_ref = req["orderRef"]
            return existing
        order = SimOrder(
            order_id=order_id, client_id=session.client_id or 0, perm_id=book.new_perm_id(),
            instrument=inst, exchange=req["exchange"] or "SMART", action=action,
            quantity=quantity, order_type=order_type, lmt_price=lmt_price,
            aux_price=aux_price, tif=req["tif"] or "DAY",
            account=req["account"] or book.account, order_ref=req["orderRef"],
            outside_rth=parse_bool(req["outsideRth"]), status="PreSubmitted",
        )
        book.orders[key] = order
        self.sim.prices.price(inst)  # fix the reference price now, before the next tick
        return order

    def _what_if(
        self, session: ClientSession, order_id: int, inst: Instrument, req: dict[str, str],
        terms: tuple[str, float, str, float | None, float | None],
    ) -> None:
        order_type, quantity, action, lmt_price, aux_price = terms
        book = self.sim.book
        price = self.sim.prices.price(inst)
        marks = self.sim.account.marks()
        equity = float(dict((k, v) for k, v, _ in book.account_values(marks))
                       ["EquityWithLoanValue"])
        gross = sum(abs(h.quantity) * marks.get(h.instrument.symbol, h.avg_cost)
                    for h in book.holdings.values())
        before, change = 0.25 * gross, 0.25 * quantity * price
        commission = book.commission(quantity, price)
        probe = SimOrder(
            order_id=order_id, client_id=session.client_id or 0, perm_id=0, instrument=inst,
            exchange=req["exchange"] or "SMART", action=action, quantity=quantity,
            order_type=order_type, lmt_price=lmt_price, aux_price=aux_price,
            tif=req["tif"] or "DAY", account=req["account"] or book.account,
            order_ref=req["orderRef"], status="PreSubmitted",
        )
        self._send_open_order(
            session, probe, whatIf=True,
            initMarginBefore=f"{before:.2f}", maintMarginBefore=f"{before:.2f}",
            equityWithLoanBefore=f"{equity:.2f}", initMarginChange=f"{change:.2f}",
            maintMarginChange=f"{change:.2f}", equityWithLoanChange=f"{-commission:.2f}",
            initMarginAfter=f"{before + change:.2f}", maintMarginAfter=f"{before + change:.2f}",
            equityWithLoanAfter=f"{equity - commission:.2f}", commission=commission,
            minCommission=commission, maxCommission=commission, commissionCurrency="USD",
        )

    async def cancel_order(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.CANCEL_ORDER].parse(fields)
        order_id = parse_int(req["orderId"])
        order = self.sim.book.orders.get((session.client_id or 0, order_id))
        if order is None:
            session.error(order_id, 10147,
                          f"OrderId {order_id} that needs to be cancelled is not found.")
        elif not order.is_working:
            session.error(order_id, 10148, f"OrderId {order_id} that needs to be cancelled "
                                           f"cannot be cancelled, state: {order.status}.")
        else:
            self.sim.engine.cancel(order)

    async def global_cancel(self, session: ClientSession, fields: list[str]) -> None:
        for order in self.sim.book.working():
            self.sim.engine.cancel(order)

    def _send_orders(self, session: ClientSession, orders: list[SimOrder]) -> None:
        for order in orders:
            self._send_open_order(session, order)
            self._send_order_status(session, order)
        session.out(P.OPEN_ORDER_END)

    async def open_orders(self, session: ClientSession, fields: list[str]) -> None:
        # clientId 0 is TWS's "master" view of every API client's orders.
        client = None if session.client_id == 0 else session.client_id
        self._send_orders(session, self.sim.book.working(client))

    async def all_open_orders(self, session: ClientSession, fields: list[str]) -> None:
        self._send_orders(session, self.sim.book.working())

    async def completed_orders(self, session: ClientSession, fields: list[str]) -> None:
        for order in self.sim.book.completed():
            values = self._order_fields(order)
            session.out(
                P.COMPLETED_ORDER, status=order.status, filledQuantity=order.filled,
                completedTime=order.completed_time, completedStatus=order.status, **values,
            )
        session.out(P.COMPLETED_ORDERS_END)

    async def executions(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_EXECUTIONS].parse(fields)
        req_id = parse_int(req["reqId"])
        client = parse_int(req["clientId"])
        side = {"BUY": "BOT", "SELL": "SLD"}.get(req["side"].upper(), req["side"].upper())
        since = _parse_exec_filter_time(req["time"], self.sim.login_tz)
        matches = [
            ex for ex in self.sim.book.executions
            if (not client or ex.client_id == client)
            and (not req["acctCode"] or ex.account == req["acctCode"])
            and (not req["symbol"] or ex.instrument.symbol == req["symbol"].upper())
            and (not req["secType"] or ex.instrument.sec_type == req["secType"])
            and (not side or ex.side == side)
            and (since is None or ex.time >= since)
        ]
        for ex in matches:
            self._send_execution(session, req_id, ex)
            self._send_commission(session, ex)
        session.out(P.EXEC_DETAILS_END, reqId=req_id)
