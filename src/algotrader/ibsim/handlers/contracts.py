"""``reqContractDetails``: the instrument table as TWS describes a stock."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from algotrader.calendars import exchange_sessions
from algotrader.ibsim import protocol as P
from algotrader.ibsim.handlers import Handler
from algotrader.ibsim.instruments import Instrument
from algotrader.ibsim.protocol import In, parse_int
from algotrader.ibsim.session import ClientSession

if TYPE_CHECKING:
    from algotrader.ibsim.server import IBSimulator

NO_SECURITY_TEXT = "No security definition has been found for the request"
# Extended hours around the regular session (as the synthetic bars have them): 04:00 to four
# hours after the close.
_PRE_MARKET = timedelta(hours=5, minutes=30)
_AFTER_HOURS = timedelta(hours=4)


class ContractHandlers:
    """Contract details (and error 200 for what the table does not hold)."""

    def __init__(self, sim: IBSimulator) -> None:
        self.sim = sim

    def routes(self) -> dict[int, Handler]:
        return {In.REQ_CONTRACT_DATA: self.contract_details}

    def _hours(self, inst: Instrument, extended: bool) -> str:
        """A week of sessions in TWS's notation (``20240614:0930-20240614:1600;...``), from the
        exchange calendar: holidays CLOSED, early closes at 13:00 (extended hours end four hours
        after the close, 20:00 or 17:00)."""
        tz = ZoneInfo(inst.time_zone)
        sessions = exchange_sessions()
        today = self.sim.now().astimezone(tz).date()
        parts = []
        for offset in range(7):
            day = today + timedelta(days=offset)
            d = day.strftime("%Y%m%d")
            hours = sessions.session_hours(day)
            if hours is None:
                parts.append(f"{d}:CLOSED")
                continue
            opened, closed = (t.astimezone(tz) for t in hours)
            if extended:
                opened, closed = opened - _PRE_MARKET, closed + _AFTER_HOURS
            parts.append(f"{d}:{opened:%H%M}-{d}:{closed:%H%M}")
        return ";".join(parts)

    async def contract_details(self, session: ClientSession, fields: list[str]) -> None:
        req = P.REQUESTS[In.REQ_CONTRACT_DATA].parse(fields)
        req_id = parse_int(req["reqId"])
        inst = self.sim.lookup(req["conId"], req["symbol"], req["secType"], req["currency"])
        if inst is None:
            session.error(req_id, 200, NO_SECURITY_TEXT)
            return
        session.out(
            P.CONTRACT_DATA,
            reqId=req_id,
            symbol=inst.symbol,
            secType=inst.sec_type,
            exchange=req["exchange"] or "SMART",
            currency=inst.currency,
            localSymbol=inst.symbol,
            marketName=inst.market_name,
            tradingClass=inst.trading_class,
            conId=inst.con_id,
            minTick=inst.min_tick,
            orderTypes=inst.order_types,
            validExchanges=inst.valid_exchanges,
            longName=inst.long_name,
            primaryExchange=inst.primary_exchange,
            industry=inst.industry,
            category=inst.category,
            subcategory=inst.subcategory,
            timeZoneId=inst.time_zone,
            tradingHours=self._hours(inst, extended=True),
            liquidHours=self._hours(inst, extended=False),
            marketRuleIds="26,26,26,26,26,26,26,26,26,26,26",
            stockType=inst.stock_type,
            minSize=0.0001,
            sizeIncrement=0.0001,
            suggestedSizeIncrement=100.0,
        )
        session.out(P.CONTRACT_DATA_END, reqId=req_id)
