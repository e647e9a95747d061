"""Requests the simulator does not simulate, answered at once with the error TWS would send.

Market data and real-time bars are streamed for the replay feed's symbols
(:mod:`~algotrader.ibsim.handlers.streaming`); for any other symbol, or without a feed, they
are refused here like the rest. A client waiting on one of these (``reqTickers``,
``reqMatchingSymbols``, ``reqSecDefOptParams``, ``reqHistoricalTicks``, ``reqPnL``...) gets its
answer immediately instead of hanging until its own timeout: the error carries the request id,
which is what ends the request in ``ib_async`` and in IB's own client. The codes are those TWS
sends when the data is not available to the account (354 market data not subscribed, 162
historical data service, 200 no security definition, 430 no fundamentals, 10276 news not
allowed); the texts say that this is the simulator. Cancels of such subscriptions need no
answer and are ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from algotrader.ibsim.handlers import Handler
from algotrader.ibsim.handlers.contracts import NO_SECURITY_TEXT
from algotrader.ibsim.history import HMDS
from algotrader.ibsim.protocol import join_fields, parse_int
from algotrader.ibsim.session import ClientSession

if TYPE_CHECKING:
    from algotrader.ibsim.server import IBSimulator

log = logging.getLogger("algotrader.ibsim")

_NOT_SUBSCRIBED = (
    "Requested market data is not subscribed. ibsim streams live data only for the symbols of "
    "its replay feed (SimConfig.feed, `algotrader ib-sim --feed`)"
)


@dataclass(frozen=True, slots=True)
class Unsimulated:
    """A request the simulator answers with an error: which field holds the request id, and
    the error TWS would send."""

    name: str
    req_id_field: int
    code: int
    text: str


def _validation(what: str) -> str:
    return f"Error validating request.-'ib' : cause - ibsim does not simulate {what}"


# Message id -> the request and its answer (``ibapi.message.OUT``; field positions as ib_async
# 2.1.0 writes them: "id, version, reqId" or "id, reqId").
UNSIMULATED: dict[int, Unsimulated] = {
    1: Unsimulated("reqMktData", 2, 354, _NOT_SUBSCRIBED),
    10: Unsimulated("reqMktDepth", 2, 354, _NOT_SUBSCRIBED),
    50: Unsimulated("reqRealTimeBars", 2, 354, _NOT_SUBSCRIBED),
    97: Unsimulated("reqTickByTickData", 1, 354, _NOT_SUBSCRIBED),
    96: Unsimulated("reqHistoricalTicks", 1, 162, f"{HMDS}ibsim does not simulate ticks"),
    88: Unsimulated("reqHistogramData", 1, 162, f"{HMDS}ibsim does not simulate histograms"),
    78: Unsimulated("reqSecDefOptParams", 1, 200, NO_SECURITY_TEXT),
    81: Unsimulated("reqMatchingSymbols", 1, 200, NO_SECURITY_TEXT),
    83: Unsimulated("reqSmartComponents", 1, 200, NO_SECURITY_TEXT),
    52: Unsimulated(
        "reqFundamentalData", 2, 430,
        "We are sorry, but fundamentals data for the security specified is not available.",
    ),
    84: Unsimulated("reqNewsArticle", 1, 10276, "News feed is not allowed."),
    86: Unsimulated("reqHistoricalNews", 1, 10276, "News feed is not allowed."),
    92: Unsimulated("reqPnL", 1, 321, _validation("PnL subscriptions")),
    94: Unsimulated("reqPnLSingle", 1, 321, _validation("PnL subscriptions")),
}
# Cancels of the above, and settings that need no answer.
IGNORED: frozenset[int] = frozenset({2, 11, 14, 23, 51, 53, 56, 57, 59, 89, 93, 95, 98})


class UnsupportedHandlers:
    """Answers :data:`UNSIMULATED` requests with their error; ignores :data:`IGNORED` ones."""

    def __init__(self, sim: IBSimulator) -> None:
        self.sim = sim

    def routes(self) -> dict[int, Handler]:
        routes: dict[int, Handler] = {msg_id: self.refuse for msg_id in UNSIMULATED}
        routes.update({msg_id: self.ignore for msg_id in IGNORED})
        return routes

    async def refuse(self, session: ClientSession, fields: list[str]) -> None:
        request = UNSIMULATED[int(fields[0])]
        field = request.req_id_field
        req_id = parse_int(fields[field], -1) if len(fields) > field else -1
        log.info("ibsim: %s is not simulated; answering %d", request.name, request.code)
        session.error(req_id, request.code, request.text)

    async def ignore(self, session: ClientSession, fields: list[str]) -> None:
        log.debug("ibsim: ignoring %s", join_fields(fields)[:200])

    def unknown(self, session: ClientSession, msg_id: int) -> None:
        """A message id nobody handles (non-strict mode): answer at once rather than never."""
        session.error(-1, 321, _validation(f"message id {msg_id}"))
