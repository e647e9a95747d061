"""Account requests: positions, account updates (single and multi), the account summary,
managed accounts, order ids and the server's clock; and pushing changes after a fill.

Account updates carry one value TWS never sends, tag ``algotrader.ibsim`` (value
``synthetic``): the client reads it at connect and knows it talks to the simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from algotrader.ibkr.connection import SIMULATOR_ACCOUNT_TAG
from algotrader.ibsim import protocol as P
from algotrader.ibsim.handlers import Handler
from algotrader.ibsim.protocol import In, parse_bool, parse_int
from algotrader.ibsim.session import ClientSession

if TYPE_CHECKING:
    from algotrader.ibsim.server import IBSimulator


class AccountHandlers:
    """The one simulated account as TWS reports it."""

    def __init__(self, sim: IBSimulator) -> None:
        self.sim = sim

    def routes(self) -> dict[int, Handler]:
        return {
            In.REQ_CURRENT_TIME: self.current_time,
            In.REQ_POSITIONS: self.positions,
            In.CANCEL_POSITIONS: self.cancel_positions,
            In.REQ_ACCT_DATA: self.account_updates,
            In.REQ_ACCOUNT_UPDATES_MULTI: self.account_updates_multi,
            In.CANCEL_ACCOUNT_UPDATES_MULTI: self.cancel_account_updates_multi,
            In.REQ_ACCOUNT_SUMMARY: self.account_summary,
            In.REQ_IDS: self.req_ids,
            In.REQ_MANAGED_ACCTS: self.managed_accounts,
        }

    def marks(self) -> dict[str, float]:
        """The current price of every symbol that has one or is held."""
        prices = self.sim.prices
        marks = prices.known()
        for holding in self.sim.book.holdings.values():
            if holding.quantity and holding.instrument.symbol not in marks:
                marks[holding.instrument.symbol] = prices.price(holding.instrument)
        return marks

    def _account_rows(self, marks: dict[str, float]) -> list[tuple[str, str, str]]:
        # The simulator's signature: a tag TWS never sends (see algotrader.ibkr.connection).
        return [*self.sim.book.account_values(marks), (SIMULATOR_ACCOUNT_TAG, "synthetic", "")]

    def _send_position(self, session: ClientSession, con_id: int) -> None:
        h = self.sim.book.holdings[con_id]
        inst = h.instrument
        session.out(
            P.POSITION, account=self.sim.book.account, conId=inst.con_id, symbol=inst.symbol,
            secType=inst.sec_type, exchange=inst.primary_exchange, currency=inst.currency,
            localSymbol=inst.symbol, tradingClass=inst.trading_class, position=h.quantity,
            avgCost=h.avg_cost,
        )

    def _send_portfolio(
        self, session: ClientSession, con_id: int, marks: dict[str, float]
    ) -> None:
        h = self.sim.book.holdings[con_id]
        inst = h.instrument
        mark = marks.get(inst.symbol, h.avg_cost)
        session.out(
            P.PORTFOLIO_VALUE, conId=inst.con_id, symbol=inst.symbol, secType=inst.sec_type,
            primaryExchange=inst.primary_exchange, currency=inst.currency,
            localSymbol=inst.symbol, tradingClass=inst.trading_class, position=h.quantity,
            marketPrice=mark, marketValue=round(h.quantity * mark, 2), averageCost=h.avg_cost,
            unrealizedPNL=round((mark - h.avg_cost) * h.quantity, 2), realizedPNL=0.0,
            accountName=self.sim.book.account,
        )

    def _send_account_values(self, session: ClientSession, marks: dict[str, float]) -> None:
        for key, value, currency in self._account_rows(marks):
            session.out(P.ACCOUNT_VALUE, key=key, value=value, currency=currency,
                        account=self.sim.book.account)

    def _send_account_multi(
        self, session: ClientSession, req_id: int, marks: dict[str, float]
    ) -> None:
        for key, value, currency in self._account_rows(marks):
            session.out(P.ACCOUNT_UPDATE_MULTI, reqId=req_id, account=self.sim.book.account,
                        key=key, value=value, currency=currency)

    def push(self, con_id: int) -> None:
        """After a fill: send the changed position and account values to every subscriber."""
        marks = self.marks()
        for session in self.sim.live_sessions():
            if session.positions_subscribed:
                self._send_position(session, con_id)
            if session.account_updates_subscribed:
                self._send_portfolio(session, con_id, marks)
                self._send_account_values(session, marks)
            for req_id in session.multi_req_ids:
                self._send_account_multi(session, req_id, marks)

    async def positions(self, session: ClientSession, fields: list[str]) -> None:
        session.positions_subscribed = True
        for con_id, holding in self.sim.book.holdings.items():
            if holding.quantity:
                self._send_position(session, con_id)
        session.out(P.POSITION_END)

    async def cancel_positions(self, session: ClientSession, fields: list[str]) -> None:
        session.positions_subscribed = False

    async def account_updates(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_ACCT_DATA].parse(fields)
        if not parse_bool(req["subscribe"]):
            session.account_updates_subscribed = False
            return
        session.account_updates_subscribed = True
        marks = self.marks()
        self._send_account_values(session, marks)
        for con_id, holding in self.sim.book.holdings.items():
            if holding.quantity:
                self._send_portfolio(session, con_id, marks)
        stamp = self.sim.now().astimezone(self.sim.login_tz).strftime("%H:%M")
        session.out(P.ACCOUNT_TIME, timeStamp=stamp)
        session.out(P.ACCOUNT_DOWNLOAD_END, account=self.sim.book.account)

    async def account_updates_multi(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_ACCOUNT_UPDATES_MULTI].parse(fields)
        req_id = parse_int(req["reqId"])
        session.multi_req_ids.add(req_id)
        self._send_account_multi(session, req_id, self.marks())
        session.out(P.ACCOUNT_UPDATE_MULTI_END, reqId=req_id)

    async def cancel_account_updates_multi(
        self, session: ClientSession, fields: list[str]
    ) -> None:
        req = P.REQUESTS[In.CANCEL_ACCOUNT_UPDATES_MULTI].parse(fields)
        session.multi_req_ids.discard(parse_int(req["reqId"]))

    async def account_summary(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_ACCOUNT_SUMMARY].parse(fields)
        req_id = parse_int(req["reqId"])
        wanted = {t.strip() for t in req["tags"].split(",") if t.strip()}
        seen: set[str] = set()
        account = self.sim.book.account
        for tag, value, currency in self.sim.book.account_values(self.marks()):
            # One row per tag (the summary has no per-currency BASE rows).
            if tag in wanted and tag not in seen:
                seen.add(tag)
                session.out(P.ACCOUNT_SUMMARY, reqId=req_id, account=account, tag=tag,
                            value=value, currency=currency)
        session.out(P.ACCOUNT_SUMMARY_END, reqId=req_id)

    async def managed_accounts(self, session: ClientSession, fields: list[str]) -> None:
        session.out(P.MANAGED_ACCOUNTS, accountsList=self.sim.config.account)

    async def req_ids(self, session: ClientSession, fields: list[str]) -> None:
        session.out(P.NEXT_VALID_ID, orderId=self.sim.next_order_id)

    async def current_time(self, session: ClientSession, fields: list[str]) -> None:
        session.out(P.CURRENT_TIME, time=int(self.sim.now().timestamp()))
