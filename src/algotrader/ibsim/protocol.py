"""TWS API wire format at server version 178: framing, value encoding and named message layouts.

Every message the simulator sends is built from a :class:`Layout`, a named field list that mirrors
``ib_async.decoder.Decoder`` at server version 178 field by field (the decoder unpacks with
``*rest``, so a shifted field would be misassigned silently; named layouts keep that reviewable).
Incoming requests are decoded the same way with :class:`RequestLayout`.

Framing, both directions after the handshake: a 4-byte big-endian length, then NUL-terminated
ASCII fields; field 0 is the message id.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

SERVER_VERSION: Final = 178

UNSET_INTEGER: Final = 2**31 - 1
UNSET_DOUBLE: Final = sys.float_info.max
# TWS writes unset doubles in Java's notation; both ib_async and IB's own decoder parse it.
_UNSET_DOUBLE_TEXT: Final = "1.7976931348623157E308"

_REQUIRED: Final = object()


class ProtocolError(Exception):
    """A peer broke the wire protocol (bad handshake, unknown or truncated message)."""


def fmt(value: object) -> str:
    """One field as TWS writes it: bools as 1/0, unset doubles in Java notation, None as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value == UNSET_DOUBLE:
            return _UNSET_DOUBLE_TEXT
        return repr(value)
    return str(value)


def frame(fields: Sequence[object]) -> bytes:
    """A length-prefixed message from already ordered fields."""
    payload = "".join(fmt(f) + "\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def split_payload(payload: bytes) -> list[str]:
    """The fields of one frame's payload (as ib_async does: split on NUL, drop the trailing '')."""
    fields = payload.decode(errors="backslashreplace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


@dataclass(frozen=True, slots=True)
class Layout:
    """An outgoing message: its id and its fields, in wire order, each with a default.

    A field whose default is ``_REQUIRED`` must be given to :meth:`build`; unknown names raise, so a
    typo cannot silently drop a value.
    """

    name: str
    msg_id: int
    fields: tuple[tuple[str, object], ...]

    def build(self, **values: object) -> list[object]:
        unknown = set(values) - {name for name, _ in self.fields}
        if unknown:
            raise KeyError(f"{self.name}: unknown fields {sorted(unknown)}")
        out: list[object] = [self.msg_id]
        for name, default in self.fields:
            value = values.get(name, default)
            if value is _REQUIRED:
                raise KeyError(f"{self.name}: field {name!r} is required")
            out.append(value)
        return out

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)


def _layout(name: str, msg_id: int, *fields: str | tuple[str, object]) -> Layout:
    spec = tuple((f, _REQUIRED) if isinstance(f, str) else f for f in fields)
    return Layout(name, msg_id, spec)


# The contract block of execDetails, position and openOrder (no primaryExchange in these).
_CONTRACT_11: tuple[str | tuple[str, object], ...] = (
    "conId",
    "symbol",
    ("secType", "STK"),
    ("lastTradeDateOrContractMonth", ""),
    ("strike", 0.0),
    ("right", ""),
    ("multiplier", ""),
    "exchange",
    ("currency", "USD"),
    "localSymbol",
    "tradingClass",
)


class Out:
    """Message ids the simulator sends (``ibapi.message.IN``)."""

    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERR_MSG = 4
    OPEN_ORDER = 5
    ACCT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MANAGED_ACCTS = 15
    HISTORICAL_DATA = 17
    CURRENT_TIME = 49
    REAL_TIME_BARS = 50
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    TICK_SNAPSHOT_END = 57
    COMMISSION_REPORT = 59
    POSITION_DATA = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI = 73
    ACCOUNT_UPDATE_MULTI_END = 74
    TICK_REQ_PARAMS = 81
    HEAD_TIMESTAMP = 88
    HISTORICAL_DATA_UPDATE = 90
    COMPLETED_ORDER = 101
    COMPLETED_ORDERS_END = 102


MANAGED_ACCOUNTS = _layout("managedAccounts", Out.MANAGED_ACCTS, ("version", 1), "accountsList")
NEXT_VALID_ID = _layout("nextValidId", Out.NEXT_VALID_ID, ("version", 1), "orderId")
# advancedOrderRejectJson exists since server version 166; errorTime only from 194.
ERROR = _layout(
    "error", Out.ERR_MSG, ("version", 2), "reqId", "errorCode", "errorString",
    ("advancedOrderRejectJson", ""),
)
CURRENT_TIME = _layout("currentTime", Out.CURRENT_TIME, ("version", 1), "time")

# No version field from server version 164 on; 40 fields with no secIds.
CONTRACT_DATA = _layout(
    "contractData", Out.CONTRACT_DATA,
    "reqId", "symbol", ("secType", "STK"), ("lastTradeDateOrContractMonth", ""), ("strike", 0.0),
    ("right", ""), "exchange", ("currency", "USD"), "localSymbol", "marketName", "tradingClass",
    "conId", ("minTick", 0.01), ("multiplier", ""), ("orderTypes", ""), ("validExchanges", ""),
    ("priceMagnifier", 1), ("underConId", 0), "longName", "primaryExchange", ("contractMonth", ""),
    ("industry", ""), ("category", ""), ("subcategory", ""), "timeZoneId", ("tradingHours", ""),
    ("liquidHours", ""), ("evRule", ""), ("evMultiplier", ""), ("numSecIds", 0),
    ("aggGroup", 1), ("underSymbol", ""), ("underSecType", ""), ("marketRuleIds", ""),
    ("realExpirationDate", ""), ("stockType", "COMMON"), ("minSize", 1.0),
    ("sizeIncrement", 1.0), ("suggestedSizeIncrement", 100.0),
)
CONTRACT_DATA_END = _layout("contractDataEnd", Out.CONTRACT_DATA_END, ("version", 1), "reqId")

# No version field from v124; bars follow as 8-field groups (BAR_FIELDS); the end marker is
# implicit before v196 (msg 108 does not exist at 178).
HISTORICAL_DATA = _layout(
    "historicalData", Out.HISTORICAL_DATA, "reqId", "startDateStr", "endDateStr", "itemCount"
)
BAR_FIELDS: tuple[str, ...] = ("date", "open", "high", "low", "close", "volume", "wap", "barCount")
HEAD_TIMESTAMP = _layout("headTimestamp", Out.HEAD_TIMESTAMP, "reqId", "headTimestamp")
# keepUpToDate updates: no version field, and the bar in *another* order than historicalData
# (barCount first, close before high/low, WAP before volume).
HISTORICAL_DATA_UPDATE = _layout(
    "historicalDataUpdate", Out.HISTORICAL_DATA_UPDATE,
    "reqId", "barCount", "date", "open", "close", "high", "low", "wap", "volume",
)
REAL_TIME_BAR = _layout(
    "realtimeBar", Out.REAL_TIME_BARS, ("version", 3), "reqId", "time", "open", "high", "low",
    "close", "volume", "wap", "count",
)

# Market data. tickPrice carries its size (and TWS's attribute bit mask) since version 3.
TICK_PRICE = _layout(
    "tickPrice", Out.TICK_PRICE, ("version", 6), "reqId", "tickType", "price", "size",
    ("attrMask", 0),
)
TICK_SIZE = _layout("tickSize", Out.TICK_SIZE, ("version", 6), "reqId", "tickType", "size")
TICK_SNAPSHOT_END = _layout("tickSnapshotEnd", Out.TICK_SNAPSHOT_END, ("version", 1), "reqId")
TICK_REQ_PARAMS = _layout(
    "tickReqParams", Out.TICK_REQ_PARAMS, "reqId", "minTick", "bboExchange",
    ("snapshotPermissions", 3),
)


class Tick:
    """Tick types (``ibapi.ticktype``) the simulator sends."""

    BID_SIZE = 0
    BID = 1
    ASK = 2
    ASK_SIZE = 3
    LAST = 4
    LAST_SIZE = 5
    VOLUME = 8
    CLOSE = 9

ACCOUNT_SUMMARY = _layout(
    "accountSummary", Out.ACCOUNT_SUMMARY, ("version", 1), "reqId", "account", "tag", "value",
    "currency",
)
ACCOUNT_SUMMARY_END = _layout("accountSummaryEnd", Out.ACCOUNT_SUMMARY_END, ("version", 1), "reqId")
POSITION = _layout(
    "position", Out.POSITION_DATA, ("version", 3), "account", *_CONTRACT_11, "position", "avgCost"
)
POSITION_END = _layout("positionEnd", Out.POSITION_END, ("version", 1))
ACCOUNT_VALUE = _layout(
    "updateAccountValue", Out.ACCT_VALUE, ("version", 2), "key", "value", "currency", "account"
)
# updatePortfolio carries primaryExchange where the other contract blocks carry exchange.
PORTFOLIO_VALUE = _layout(
    "updatePortfolio", Out.PORTFOLIO_VALUE, ("version", 8),
    "conId", "symbol", ("secType", "STK"), ("lastTradeDateOrContractMonth", ""), ("strike", 0.0),
    ("right", ""), ("multiplier", ""), "primaryExchange", ("currency", "USD"), "localSymbol",
    "tradingClass", "position", "marketPrice", "marketValue", "averageCost", "unrealizedPNL",
    "realizedPNL", "accountName",
)
ACCOUNT_TIME = _layout("updateAccountTime", Out.ACCT_UPDATE_TIME, ("version", 1), "timeStamp")
ACCOUNT_DOWNLOAD_END = _layout(
    "accountDownloadEnd", Out.ACCT_DOWNLOAD_END, ("version", 1), "account"
)
ACCOUNT_UPDATE_MULTI = _layout(
    "accountUpdateMulti", Out.ACCOUNT_UPDATE_MULTI, ("version", 1), "reqId", "account",
    ("modelCode", ""), "key", "value", "currency",
)
ACCOUNT_UPDATE_MULTI_END = _layout(
    "accountUpdateMultiEnd", Out.ACCOUNT_UPDATE_MULTI_END, ("version", 1), "reqId"
)

# No version field from v131.
ORDER_STATUS = _layout(
    "orderStatus", Out.ORDER_STATUS,
    "orderId", "status", "filled", "remaining", "avgFillPrice", "permId", ("parentId", 0),
    "lastFillPrice", "clientId", ("whyHeld", ""), ("mktCapPrice", 0.0),
)
OPEN_ORDER_END = _layout("openOrderEnd", Out.OPEN_ORDER_END, ("version", 1))
COMPLETED_ORDERS_END = _layout("completedOrdersEnd", Out.COMPLETED_ORDERS_END)
# No version field from MIN_SERVER_VER_LAST_LIQUIDITY; pendingPriceRevision since 178.
EXEC_DETAILS = _layout(
    "execDetails", Out.EXECUTION_DATA,
    "reqId", "orderId", *_CONTRACT_11, "execId", "time", "acctNumber", "execExchange", "side",
    "shares", "price", "permId", "clientId", ("liquidation", 0), "cumQty", "avgPrice",
    ("orderRef", ""), ("evRule", ""), ("evMultiplier", ""), ("modelCode", ""),
    ("lastLiquidity", 1), ("pendingPriceRevision", False),
)
EXEC_DETAILS_END = _layout("execDetailsEnd", Out.EXECUTION_DATA_END, ("version", 1), "reqId")
COMMISSION_REPORT = _layout(
    "commissionReport", Out.COMMISSION_REPORT, ("version", 1), "execId", "commission",
    ("currency", "USD"), ("realizedPNL", UNSET_DOUBLE), ("yield_", UNSET_DOUBLE),
    ("yieldRedemptionDate", 0),
)

# openOrder at v178: no version field (>= 145), no faProfile (>= 177). Conditional groups
# (delta-neutral, combo legs, scale, hedge, algo params, conditions) are emitted empty, so this
# fixed list is exact for the simulator's plain MKT/LMT/STP/STP LMT orders: 127 fields.
OPEN_ORDER = _layout(
    "openOrder", Out.OPEN_ORDER,
    "orderId", *_CONTRACT_11,
    "action", "totalQuantity", "orderType", ("lmtPrice", UNSET_DOUBLE), ("auxPrice", UNSET_DOUBLE),
    ("tif", "DAY"), ("ocaGroup", ""), "account", ("openClose", ""), ("origin", 0),
    ("orderRef", ""), "clientId", "permId", ("outsideRth", False), ("hidden", False),
    ("discretionaryAmt", 0.0), ("goodAfterTime", ""), ("sharesAllocation", ""), ("faGroup", ""),
    ("faMethod", ""), ("faPercentage", ""),
    ("modelCode", ""), ("goodTillDate", ""), ("rule80A", ""), ("percentOffset", UNSET_DOUBLE),
    ("settlingFirm", ""), ("shortSaleSlot", 0), ("designatedLocation", ""), ("exemptCode", -1),
    ("auctionStrategy", 0), ("startingPrice", UNSET_DOUBLE), ("stockRefPrice", UNSET_DOUBLE),
    ("delta", UNSET_DOUBLE), ("stockRangeLower", UNSET_DOUBLE),
    ("stockRangeUpper", UNSET_DOUBLE), ("displaySize", 0), ("blockOrder", False),
    ("sweepToFill", False), ("allOrNone", False), ("minQty", UNSET_INTEGER), ("ocaType", 3),
    ("eTradeOnly", False), ("firmQuoteOnly", False), ("nbboPriceCap", UNSET_DOUBLE),
    ("parentId", 0), ("triggerMethod", 0), ("volatility", UNSET_DOUBLE), ("volatilityType", 0),
    # An empty deltaNeutralOrderType tells the decoder that no delta-neutral fields follow.
    ("deltaNeutralOrderType", ""), ("deltaNeutralAuxPrice", UNSET_DOUBLE),
    ("continuousUpdate", False), ("referencePriceType", 0), ("trailStopPrice", UNSET_DOUBLE),
    ("trailingPercent", UNSET_DOUBLE), ("basisPoints", UNSET_DOUBLE),
    ("basisPointsType", UNSET_INTEGER), ("comboLegsDescrip", ""),
    ("numComboLegs", 0), ("numOrderComboLegs", 0), ("numSmartComboRoutingParams", 0),
    ("scaleInitLevelSize", UNSET_INTEGER), ("scaleSubsLevelSize", UNSET_INTEGER),
    ("scalePriceIncrement", UNSET_DOUBLE),
    ("hedgeType", ""),
    ("optOutSmartRouting", False), ("clearingAccount", ""), ("clearingIntent", "IB"),
    ("notHeld", False), ("deltaNeutralContractPresent", False),
    ("algoStrategy", ""),
    ("solicited", False), ("whatIf", False), "status",
    ("initMarginBefore", _UNSET_DOUBLE_TEXT), ("maintMarginBefore", _UNSET_DOUBLE_TEXT),
    ("equityWithLoanBefore", _UNSET_DOUBLE_TEXT), ("initMarginChange", _UNSET_DOUBLE_TEXT),
    ("maintMarginChange", _UNSET_DOUBLE_TEXT), ("equityWithLoanChange", _UNSET_DOUBLE_TEXT),
    ("initMarginAfter", _UNSET_DOUBLE_TEXT), ("maintMarginAfter", _UNSET_DOUBLE_TEXT),
    ("equityWithLoanAfter", _UNSET_DOUBLE_TEXT), ("commission", UNSET_DOUBLE),
    ("minCommission", UNSET_DOUBLE), ("maxCommission", UNSET_DOUBLE),
    ("commissionCurrency", ""), ("warningText", ""),
    ("randomizeSize", False), ("randomizePrice", False),
    ("numConditions", 0),
    ("adjustedOrderType", "None"), ("triggerPrice", UNSET_DOUBLE),
    ("trailStopPrice2", UNSET_DOUBLE), ("lmtPriceOffset", UNSET_DOUBLE),
    ("adjustedStopPrice", UNSET_DOUBLE), ("adjustedStopLimitPrice", UNSET_DOUBLE),
    ("adjustedTrailingAmount", UNSET_DOUBLE), ("adjustableTrailingUnit", 0),
    ("softDollarTierName", ""), ("softDollarTierValue", ""), ("softDollarTierDisplayName", ""),
    ("cashQty", UNSET_DOUBLE), ("dontUseAutoPriceForHedge", True), ("isOmsContainer", False),
    ("discretionaryUpToLimitPrice", False), ("usePriceMgmtAlgo", False),
    ("duration", UNSET_INTEGER), ("postToAts", UNSET_INTEGER), ("autoCancelParent", False),
    ("minTradeQty", UNSET_INTEGER), ("minCompeteSize", UNSET_INTEGER),
    ("competeAgainstBestOffset", UNSET_DOUBLE), ("midOffsetAtWhole", UNSET_DOUBLE),
    ("midOffsetAtHalf", UNSET_DOUBLE),
)

# completedOrder at v178: like openOrder but without orderId/clientId and with the completion
# fields at the end.
COMPLETED_ORDER = _layout(
    "completedOrder", Out.COMPLETED_ORDER,
    *_CONTRACT_11,
    "action", "totalQuantity", "orderType", ("lmtPrice", UNSET_DOUBLE), ("auxPrice", UNSET_DOUBLE),
    ("tif", "DAY"), ("ocaGroup", ""), "account", ("openClose", ""), ("origin", 0),
    ("orderRef", ""), "permId", ("outsideRth", False), ("hidden", False),
    ("discretionaryAmt", 0.0), ("goodAfterTime", ""), ("faGroup", ""), ("faMethod", ""),
    ("faPercentage", ""),
    ("modelCode", ""), ("goodTillDate", ""), ("rule80A", ""), ("percentOffset", UNSET_DOUBLE),
    ("settlingFirm", ""), ("shortSaleSlot", 0), ("designatedLocation", ""), ("exemptCode", -1),
    ("startingPrice", UNSET_DOUBLE), ("stockRefPrice", UNSET_DOUBLE), ("delta", UNSET_DOUBLE),
    ("stockRangeLower", UNSET_DOUBLE), ("stockRangeUpper", UNSET_DOUBLE), ("displaySize", 0),
    ("sweepToFill", False), ("allOrNone", False), ("minQty", UNSET_INTEGER), ("ocaType", 3),
    ("triggerMethod", 0), ("volatility", UNSET_DOUBLE), ("volatilityType", 0),
    ("deltaNeutralOrderType", ""), ("deltaNeutralAuxPrice", UNSET_DOUBLE),
    ("continuousUpdate", False), ("referencePriceType", 0), ("trailStopPrice", UNSET_DOUBLE),
    ("trailingPercent", UNSET_DOUBLE), ("comboLegsDescrip", ""),
    ("numComboLegs", 0), ("numOrderComboLegs", 0), ("numSmartComboRoutingParams", 0),
    ("scaleInitLevelSize", UNSET_INTEGER), ("scaleSubsLevelSize", UNSET_INTEGER),
    ("scalePriceIncrement", UNSET_DOUBLE),
    ("hedgeType", ""),
    ("clearingAccount", ""), ("clearingIntent", "IB"), ("notHeld", False),
    ("deltaNeutralContractPresent", False),
    ("algoStrategy", ""),
    ("solicited", False), "status", ("randomizeSize", False), ("randomizePrice", False),
    ("numConditions", 0),
    ("trailStopPrice2", UNSET_DOUBLE), ("lmtPriceOffset", UNSET_DOUBLE),
    ("cashQty", UNSET_DOUBLE), ("dontUseAutoPriceForHedge", True), ("isOmsContainer", False),
    ("autoCancelDate", ""), "filledQuantity", ("refFuturesConId", UNSET_INTEGER),
    ("autoCancelParent", False), ("shareholder", "Not an insider or substantial shareholder"),
    ("imbalanceOnly", False), ("routeMarketableToBbo", False), ("parentPermId", UNSET_INTEGER),
    "completedTime", "completedStatus",
    ("minTradeQty", UNSET_INTEGER), ("minCompeteSize", UNSET_INTEGER),
    ("competeAgainstBestOffset", UNSET_DOUBLE), ("midOffsetAtWhole", UNSET_DOUBLE),
    ("midOffsetAtHalf", UNSET_DOUBLE),
)


# ---------------------------------------------------------------------------------------------
# Incoming requests


class In:
    """Message ids the simulator understands (``ibapi.message.OUT``)."""

    REQ_MKT_DATA = 1
    CANCEL_MKT_DATA = 2
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCT_DATA = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DATA = 9
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_ALL_OPEN_ORDERS = 16
    REQ_MANAGED_ACCTS = 17
    REQ_HISTORICAL_DATA = 20
    CANCEL_HISTORICAL_DATA = 25
    REQ_CURRENT_TIME = 49
    REQ_REAL_TIME_BARS = 50
    CANCEL_REAL_TIME_BARS = 51
    REQ_GLOBAL_CANCEL = 58
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    CANCEL_ACCOUNT_UPDATES_MULTI = 77
    REQ_HEAD_TIMESTAMP = 87
    CANCEL_HEAD_TIMESTAMP = 90
    REQ_COMPLETED_ORDERS = 99


# The 12 contract fields ib_async's Client.send writes for a Contract.
CONTRACT_12: tuple[str, ...] = (
    "conId", "symbol", "secType", "lastTradeDateOrContractMonth", "strike", "right",
    "multiplier", "exchange", "primaryExchange", "currency", "localSymbol", "tradingClass",
)


@dataclass(frozen=True, slots=True)
class RequestLayout:
    """The leading fields of an incoming request (after the message id), by name.

    Requests may carry more fields than named (placeOrder has ~114; only the prefix is needed);
    fewer is a protocol error.
    """

    name: str
    fields: tuple[str, ...]

    def parse(self, fields: Sequence[str]) -> dict[str, str]:
        body = fields[1:]
        if len(body) < len(self.fields):
            raise ProtocolError(
                f"{self.name}: expected at least {len(self.fields)} fields after the id, "
                f"got {len(body)}: {list(fields)!r}"
            )
        return dict(zip(self.fields, body, strict=False))


REQUESTS: Mapping[int, RequestLayout] = {
    In.START_API: RequestLayout("startApi", ("version", "clientId", "optionalCapabilities")),
    In.REQ_CONTRACT_DATA: RequestLayout(
        "reqContractDetails",
        ("version", "reqId", *CONTRACT_12, "includeExpired", "secIdType", "secId", "issuerId"),
    ),
    In.REQ_HISTORICAL_DATA: RequestLayout(
        "reqHistoricalData",
        ("reqId", *CONTRACT_12, "includeExpired", "endDateTime", "barSizeSetting",
         "durationStr", "useRTH", "whatToShow", "formatDate", "keepUpToDate", "chartOptions"),
    ),
    In.CANCEL_HISTORICAL_DATA: RequestLayout("cancelHistoricalData", ("version", "reqId")),
    # reqMktData: BAG legs and a delta-neutral contract may follow; the rest is read by index.
    In.REQ_MKT_DATA: RequestLayout("reqMktData", ("version", "reqId", *CONTRACT_12)),
    In.CANCEL_MKT_DATA: RequestLayout("cancelMktData", ("version", "reqId")),
    In.REQ_REAL_TIME_BARS: RequestLayout(
        "reqRealTimeBars",
        ("version", "reqId", *CONTRACT_12, "barSize", "whatToShow", "useRTH", "options"),
    ),
    In.CANCEL_REAL_TIME_BARS: RequestLayout("cancelRealTimeBars", ("version", "reqId")),
    In.REQ_HEAD_TIMESTAMP: RequestLayout(
        "reqHeadTimeStamp",
        ("reqId", *CONTRACT_12, "includeExpired", "useRTH", "whatToShow", "formatDate"),
    ),
    In.CANCEL_HEAD_TIMESTAMP: RequestLayout("cancelHeadTimeStamp", ("reqId",)),
    In.REQ_CURRENT_TIME: RequestLayout("reqCurrentTime", ("version",)),
    In.REQ_POSITIONS: RequestLayout("reqPositions", ("version",)),
    In.CANCEL_POSITIONS: RequestLayout("cancelPositions", ("version",)),
    In.REQ_OPEN_ORDERS: RequestLayout("reqOpenOrders", ("version",)),
    In.REQ_ALL_OPEN_ORDERS: RequestLayout("reqAllOpenOrders", ("version",)),
    In.REQ_AUTO_OPEN_ORDERS: RequestLayout("reqAutoOpenOrders", ("version", "autoBind")),
    In.REQ_COMPLETED_ORDERS: RequestLayout("reqCompletedOrders", ("apiOnly",)),
    In.REQ_ACCT_DATA: RequestLayout("reqAccountUpdates", ("version", "subscribe", "acctCode")),
    In.REQ_ACCOUNT_UPDATES_MULTI: RequestLayout(
        "reqAccountUpdatesMulti", ("version", "reqId", "account", "modelCode", "ledgerAndNLV")
    ),
    In.CANCEL_ACCOUNT_UPDATES_MULTI: RequestLayout(
        "cancelAccountUpdatesMulti", ("version", "reqId")
    ),
    In.REQ_EXECUTIONS: RequestLayout(
        "reqExecutions",
        ("version", "reqId", "clientId", "acctCode", "time", "symbol", "secType", "exchange",
         "side"),
    ),
    In.REQ_ACCOUNT_SUMMARY: RequestLayout(
        "reqAccountSummary", ("version", "reqId", "groupName", "tags")
    ),
    In.CANCEL_ACCOUNT_SUMMARY: RequestLayout("cancelAccountSummary", ("version", "reqId")),
    In.REQ_IDS: RequestLayout("reqIds", ("version", "numIds")),
    In.REQ_MANAGED_ACCTS: RequestLayout("reqManagedAccts", ("version",)),
    In.REQ_GLOBAL_CANCEL: RequestLayout("reqGlobalCancel", ("version",)),
    # placeOrder has no version field at v178; only the fixed prefix up to `hidden` is named
    # (BAG contracts insert legs after it and are refused before anything else is read).
    In.PLACE_ORDER: RequestLayout(
        "placeOrder",
        ("orderId", *CONTRACT_12, "secIdType", "secId", "action", "totalQuantity", "orderType",
         "lmtPrice", "auxPrice", "tif", "ocaGroup", "account", "openClose", "origin",
         "orderRef", "transmit", "parentId", "blockOrder", "sweepToFill", "displaySize",
         "triggerMethod", "outsideRth", "hidden"),
    ),
    In.CANCEL_ORDER: RequestLayout(
        "cancelOrder", ("version", "orderId", "manualCancelOrderTime")
    ),
}


def parse_bool(text: str) -> bool:
    return text not in ("", "0", "false", "False")


def parse_int(text: str, default: int = 0) -> int:
    return int(text) if text else default


def parse_float(text: str, default: float = UNSET_DOUBLE) -> float:
    return float(text) if text else default


def parse_handshake_versions(text: str) -> tuple[int, int]:
    """``"v157..178 +PACEAPI"`` -> ``(157, 178)``; ``"v100"`` -> ``(100, 100)``."""
    head = text.split(" ", 1)[0]
    if not head.startswith("v"):
        raise ProtocolError(f"handshake: expected 'vMIN..MAX', got {text!r}")
    parts = head[1:].split("..")
    try:
        low = int(parts[0])
        high = int(parts[1]) if len(parts) > 1 else low
    except (ValueError, IndexError) as exc:
        raise ProtocolError(f"handshake: bad version range {text!r}") from exc
    return low, high


def join_fields(fields: Iterable[object]) -> str:
    """Fields as ib_async logs them (``a,b,c``), for error messages and logs."""
    return ",".join(fmt(f) for f in fields)
