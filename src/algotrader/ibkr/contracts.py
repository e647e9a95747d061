"""Qualifying US stocks with IB and describing them for the ``instruments`` table.

``Stock(symbol, "SMART", "USD")`` is resolved with ``reqContractDetails``: conId, primary
exchange, long name, time zone, sector (IB's industry) and industry (IB's category) go into the
:class:`InstrumentInfo`. An unknown symbol is one line (IB's error 200).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from algotrader.data.providers.base import InstrumentInfo
from algotrader.errors import DataNotFoundError, UserError
from algotrader.ibkr.connection import IbConnection
from algotrader.ibkr.history import RetryPolicy, with_retries
from algotrader.observability import metrics

if TYPE_CHECKING:
    from ib_async import IB, Contract, ContractDetails


@dataclass(frozen=True, slots=True)
class QualifiedStock:
    """A contract IB has qualified (conId set, routed through SMART) and what it says about it."""

    contract: Contract
    info: InstrumentInfo


def instrument_info(symbol: str, details: ContractDetails) -> InstrumentInfo:
    """The ``instruments`` row for ``symbol`` from IB's contract details."""
    contract = details.contract
    assert contract is not None
    return InstrumentInfo(
        symbol=symbol,
        sec_type=contract.secType or "STK",
        exchange="SMART",
        primary_exchange=contract.primaryExchange or None,
        currency=contract.currency or "USD",
        con_id=int(contract.conId) if contract.conId else None,
        name=details.longName or None,
        timezone=details.timeZoneId or None,
        # IB's "industry" is the broad sector (Technology) and its "category" the industry
        # (Computers): what portfolio caps per sector and industry read
        sector=details.industry or None,
        industry=details.category or None,
    )


class ContractBook:
    """Qualified US stocks by symbol, looked up once per connection's lifetime."""

    def __init__(self, conn: IbConnection, retry: RetryPolicy) -> None:
        self.conn = conn
        self.retry = retry
        self._known: dict[str, QualifiedStock] = {}

    async def qualify(self, symbol: str) -> QualifiedStock:
        """``symbol`` as a SMART-routed USD stock; one line when IB does not know it."""
        known = self._known.get(symbol)
        if known is not None:
            return known
        try:
            details = await with_retries(
                self.conn, self.retry, f"contract lookup of {symbol}", self._lookup(symbol)
            )
        except TimeoutError:
            raise UserError(
                f"IBKR did not answer the contract lookup of {symbol} within "
                f"{self.retry.request_timeout:g}s",
                f"check TWS/IB Gateway at {self.conn.where}",
            ) from None
        best = details[0]
        contract = best.contract
        assert contract is not None
        contract.exchange = "SMART"  # route through SMART, as requested
        stock = QualifiedStock(contract, instrument_info(symbol, best))
        self._known[symbol] = stock
        return stock

    def _lookup(self, symbol: str) -> Callable[[IB], Awaitable[list[ContractDetails]]]:
        from ib_async import Stock

        async def op(ib: IB) -> list[ContractDetails]:
            before = set(self.conn.errors)
            metrics.record_ib_request("contract_details")
            details = await asyncio.wait_for(
                ib.reqContractDetailsAsync(Stock(symbol, "SMART", "USD")),
                self.retry.request_timeout,
            )
            if not details:
                # The request id is internal to ib_async: take the error that arrived meanwhile.
                new = self.conn.take_errors_since(before)
                code = new[-1][0] if new else 200
                raise DataNotFoundError(
                    f"IBKR has no contract for {symbol!r} (error {code}: no US stock by that "
                    "symbol on SMART)",
                    "check the ticker (e.g. BRK B for Berkshire class B) or use --source synthetic",
                )
            return list(details)

        return op
