"""The simulator's instrument table: a dozen US stocks as IB describes them.

conIds are IB's real ones for these listings, so contracts qualified against the simulator look
like contracts qualified against TWS. Add more with :func:`stock` and ``SimConfig.instruments``.
"""

from __future__ import annotations

from dataclasses import dataclass

US_EASTERN = "US/Eastern"

_STOCK_ORDER_TYPES = (
    "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AON,AVGCOST,BASKET,BENCHPX,CASHQTY,COND,CONDORDER,"
    "DARKONLY,DARKPOLL,DAY,DEACT,DEACTDIS,DEACTEOD,DIS,DUR,GAT,GTC,GTD,GTT,HID,IBKRATS,ICE,IMB,"
    "IOC,LIT,LMT,LOC,MIDPX,MIT,MKT,MOC,MTL,NGCOMB,NODARK,NONALGO,OCA,OPG,OPGREROUT,PEGBENCH,"
    "PEGMID,POSTATS,POSTONLY,PREOPGRTH,PRICECHK,REL,REL2MID,RELPCTOFS,RPI,RTH,SCALE,SCALEODD,"
    "SCALERST,SNAPMID,SNAPMKT,SNAPREL,STP,STPLMT,SWEEP,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF"
)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One listing. ``ref_price`` seeds the order-fill price process when no bars are available."""

    symbol: str
    con_id: int
    primary_exchange: str
    long_name: str
    industry: str = ""
    category: str = ""
    subcategory: str = ""
    currency: str = "USD"
    sec_type: str = "STK"
    time_zone: str = US_EASTERN
    min_tick: float = 0.01
    ref_price: float = 100.0
    stock_type: str = "COMMON"

    @property
    def market_name(self) -> str:
        # IB reports NASDAQ listings with market name / trading class "NMS", others by symbol.
        return "NMS" if self.primary_exchange == "NASDAQ" else self.symbol

    @property
    def trading_class(self) -> str:
        return self.market_name

    @property
    def valid_exchanges(self) -> str:
        return f"SMART,AMEX,NYSE,CBOE,PHLX,ISE,CHX,ARCA,NASDAQ,IEX,{self.primary_exchange}"

    @property
    def order_types(self) -> str:
        return _STOCK_ORDER_TYPES


def stock(
    symbol: str,
    con_id: int,
    primary_exchange: str,
    long_name: str,
    *,
    industry: str = "",
    category: str = "",
    ref_price: float = 100.0,
    stock_type: str = "COMMON",
) -> Instrument:
    """A US stock listing for the table (US/Eastern, USD)."""
    return Instrument(
        symbol=symbol,
        con_id=con_id,
        primary_exchange=primary_exchange,
        long_name=long_name,
        industry=industry,
        category=category,
        subcategory=category,
        ref_price=ref_price,
        stock_type=stock_type,
    )


DEFAULT_INSTRUMENTS: dict[str, Instrument] = {
    i.symbol: i
    for i in (
        stock("AAPL", 265598, "NASDAQ", "APPLE INC", industry="Technology",
              category="Computers", ref_price=190.0),
        stock("MSFT", 272093, "NASDAQ", "MICROSOFT CORP", industry="Technology",
              category="Software", ref_price=410.0),
        stock("AMZN", 3691937, "NASDAQ", "AMAZON.COM INC", industry="Communications",
              category="Internet", ref_price=180.0),
        stock("GOOGL", 208813719, "NASDAQ", "ALPHABET INC-CL A", industry="Communications",
              category="Internet", ref_price=170.0),
        stock("META", 107113386, "NASDAQ", "META PLATFORMS INC-CLASS A",
              industry="Communications", category="Internet", ref_price=500.0),
        stock("NVDA", 4815747, "NASDAQ", "NVIDIA CORP", industry="Technology",
              category="Semiconductors", ref_price=120.0),
        stock("TSLA", 76792991, "NASDAQ", "TESLA INC", industry="Consumer, Cyclical",
              category="Auto Manufacturers", ref_price=250.0),
        stock("JPM", 1520593, "NYSE", "JPMORGAN CHASE & CO", industry="Financial",
              category="Banks", ref_price=200.0),
        stock("XOM", 13977, "NYSE", "EXXON MOBIL CORP", industry="Energy",
              category="Oil&Gas", ref_price=115.0),
        stock("IBM", 8314, "NYSE", "INTL BUSINESS MACHINES CORP", industry="Technology",
              category="Computers", ref_price=180.0),
        stock("KO", 8894, "NYSE", "COCA-COLA CO/THE", industry="Consumer, Non-cyclical",
              category="Beverages", ref_price=62.0),
        stock("SPY", 756733, "ARCA", "SPDR S&P 500 ETF TRUST", industry="Funds",
              category="Equity Fund", ref_price=520.0, stock_type="ETF"),
        stock("QQQ", 320227571, "NASDAQ", "INVESCO QQQ TRUST SERIES 1", industry="Funds",
              category="Equity Fund", ref_price=440.0, stock_type="ETF"),
    )
}
