"""The bars message: a round trip is bit-exact, and everything unusable is named poison."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from algotrader.stream.schema import (
    BAD_SCHEMA,
    BARS_SCHEMA,
    INVALID_BAR,
    UNKNOWN_RESOLUTION,
    PoisonMessage,
    decode_bars,
    decode_job,
    encode_bars,
    encode_job,
    invalid_rows,
    series_key,
    why_invalid,
)

from .conftest import minute_bars


def _document(**changes: object) -> bytes:
    document: dict[str, object] = {
        "schema": BARS_SCHEMA,
        "symbol": "AAPL",
        "resolution": "1m",
        "source": "csv",
        "ts": [1_709_562_600_000_000, 1_709_562_660_000_000],
        "open": [10.0, 10.5],
        "high": [11.0, 11.0],
        "low": [9.5, 10.0],
        "close": [10.5, 10.8],
        "volume": [100, 200],
    }
    document.update(changes)
    return orjson.dumps(document)


def test_a_round_trip_gives_back_every_bar_bit_for_bit() -> None:
    bars = minute_bars(1_000, seed=1)
    bars.iloc[3, 0] = 0.1 + 0.2  # a float without a short decimal form
    raw = decode_bars(encode_bars("AAPL", "1m", "ibkr", bars))
    assert (raw.symbol, raw.resolution, raw.source) == ("AAPL", "1m", "ibkr")
    assert raw.frame().equals(bars)
    assert raw.frame().index.equals(bars.index)


def test_the_document_names_its_schema_and_the_key_names_the_series() -> None:
    document = orjson.loads(encode_bars("MSFT", "1h", "csv", minute_bars(2, seed=2)))
    assert document["schema"] == "algotrader.bars/1"
    assert isinstance(document["ts"][0], int)
    assert series_key("MSFT", "1h") == b"MSFT|1h"
    assert decode_job(encode_job("MSFT", "1h")).resolution == "1h"


@pytest.mark.parametrize(
    "value,kind,words",
    [
        (b"", BAD_SCHEMA, "empty"),
        (b"{not json", BAD_SCHEMA, "not JSON"),
        (b"[1, 2]", BAD_SCHEMA, "not a JSON object"),
        (_document(schema="algotrader.bars/2"), BAD_SCHEMA, "algotrader.bars/2"),
        (_document(symbol="aapl"), BAD_SCHEMA, "symbol"),
        (_document(source=""), BAD_SCHEMA, "source"),
        (_document(ts=[1.5, 2.5]), BAD_SCHEMA, "integers"),
        (_document(close=["10.5", "10.8"]), BAD_SCHEMA, "numbers"),
        (_document(volume=[1]), BAD_SCHEMA, "different lengths"),
        (_document(resolution="2m"), UNKNOWN_RESOLUTION, "'2m'"),
        (_document(resolution="1 min"), UNKNOWN_RESOLUTION, "canonical"),
    ],
)
def test_an_unreadable_message_is_poison_with_its_reason(
    value: bytes, kind: str, words: str
) -> None:
    with pytest.raises(PoisonMessage) as caught:
        decode_bars(value)
    assert caught.value.kind == kind
    assert words in caught.value.detail


@pytest.mark.parametrize(
    "changes,words",
    [
        ({"high": [9.0, 11.0]}, "high 9 is below low 9.5"),
        ({"close": [None, 10.8]}, "empty or NaN"),
        ({"low": [-1.0, 10.0]}, "not a positive price"),
        ({"volume": [-5, 200]}, "negative volume"),
        ({"ts": [1_709_562_600_000_000, 1_709_562_600_000_000]}, "repeats"),
    ],
)
def test_a_bad_bar_makes_only_its_own_message_invalid(
    changes: dict[str, object], words: str
) -> None:
    good = decode_bars(_document())
    bad = decode_bars(_document(**changes))
    assert invalid_rows([good, bad, good]).tolist() == [False, True, False]
    assert words in why_invalid(bad)
    assert INVALID_BAR == "invalid-bar"


def test_the_same_timestamp_in_two_messages_is_not_invalid() -> None:
    first = decode_bars(_document())
    assert not invalid_rows([first, first]).any()
    assert invalid_rows([]).shape == (0,)
    assert np.all(decode_bars(_document(volume=[1, 2])).values[4] == [1.0, 2.0])
