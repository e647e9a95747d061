"""Bars read back from the Parquet data lake written by ``algotrader stream archive``.

``algotrader ingest --source lake --lake URL -s AAPL -r 1m`` stores them like any other
source. Each bar keeps the source it was archived with: the provider is named after the
symbol's archived source (``ibkr``, ``csv``...; ``synthetic`` if any of it is synthetic, so made-up
prices stay labelled; ``lake`` when several real sources are mixed), which makes a round trip
database -> lake -> database change nothing.
"""

from __future__ import annotations

import difflib
from datetime import datetime

import pandas as pd

from algotrader.data.providers.base import (
    InstrumentInfo,
    WholeWindowProvider,
    as_resolution,
    as_utc,
    normalise_symbol,
)
from algotrader.data.validation import validate_bars
from algotrader.errors import DataNotFoundError
from algotrader.frames import OHLCV_COLUMNS, empty_bars
from algotrader.stream.lake import Lake
from algotrader.timeframes import Resolution

_SYNTHETIC = frozenset({"synthetic", "ibsim"})


class LakeProvider(WholeWindowProvider):
    """Reads one lake (any fsspec URL: a folder, ``s3://bucket/prefix``...)."""

    def __init__(self, url: str) -> None:
        self.lake = Lake(url)
        self.name = "lake"
        self.label = f"the data lake at {url}"

    def describe(self, symbol: str) -> InstrumentInfo:
        symbol = normalise_symbol(symbol)
        sources = self.lake.sources(symbol)
        if not sources:
            known = self.lake.symbols()
            close = difflib.get_close_matches(symbol, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise DataNotFoundError(
                f"{self.label} holds no bars of {symbol}",
                f"{hint}archive it first with: algotrader stream archive -s {symbol} --to URL",
            )
        if len(sources) == 1:
            self.name = next(iter(sources))
        else:
            self.name = "synthetic" if sources & _SYNTHETIC else "lake"
        self.label = f"the data lake at {self.lake.url} ({self.name} data)"
        return InstrumentInfo(symbol=symbol)

    def fetch_bars(
        self, symbol: str, resolution: Resolution | str, start: datetime, end: datetime
    ) -> pd.DataFrame:
        res = as_resolution(resolution)
        frame = self.lake.read_series(
            normalise_symbol(symbol),
            res.name,
            as_utc(start, "start").to_pydatetime(),
            as_utc(end, "end").to_pydatetime(),
        )
        if frame.empty:
            return empty_bars()
        return validate_bars(frame[list(OHLCV_COLUMNS)])
