"""The paper broker fills like the backtest and keeps its state; the replay source yields
completed bars only, each with the next bar's open, and resumes after ``since``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from algotrader.backtest import BacktestConfig
from algotrader.errors import InvalidInputError
from algotrader.paper import PaperBroker, ReplayBarSource
from algotrader.ports.trading import BrokerEvent, Fill, LiveBar, OrderStatusEvent, TradeOrder

T1 = datetime(2024, 3, 8, 15, 1, tzinfo=UTC)
COSTS = BacktestConfig(commission_per_share=0.01, commission_min=1.0, slippage_bps=10)


def test_market_orders_fill_at_the_next_quote_with_the_backtests_costs(tmp_path: Path) -> None:
    broker = PaperBroker(COSTS, tmp_path / "paper.jsonl")
    events: list[BrokerEvent] = []
    broker.listen(events.append)
    ack = asyncio.run(broker.place(TradeOrder("r1", "AAPL", "BUY", 50)))
    assert ack.status == "Submitted" and not ack.duplicate
    assert broker.quote("MSFT", T1, 10.0) == 0  # another symbol
    assert broker.quote("AAPL", T1, 100.0) == 1
    (fill,) = [e for e in events if isinstance(e, Fill)]
    assert fill.price == pytest.approx(100.1) and fill.commission == 1.0  # minimum
    assert fill.ts == T1 and fill.client_ref == "r1"
    statuses = [e.status for e in events if isinstance(e, OrderStatusEvent)]
    assert statuses == ["Submitted", "Filled"]
    assert broker.quote("AAPL", T1, 90.0) == 0  # filled once


def test_a_known_reference_is_never_placed_twice_even_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "paper.jsonl"
    first = PaperBroker(COSTS, path)
    asyncio.run(first.place(TradeOrder("r1", "AAPL", "BUY", 50)))
    first.quote("AAPL", T1, 100.0)
    asyncio.run(first.place(TradeOrder("r2", "AAPL", "SELL", 20)))
    again = PaperBroker(COSTS, path)
    assert asyncio.run(again.place(TradeOrder("r1", "AAPL", "BUY", 50))).duplicate
    (working,) = asyncio.run(again.open_orders())
    assert working.client_ref == "r2" and working.remaining_signed == -20
    (held,) = asyncio.run(again.positions())
    assert held.quantity == 50
    assert [f.client_ref for f in asyncio.run(again.executions())] == ["r1"]
    assert asyncio.run(again.cancel("r2")) and not asyncio.run(again.cancel("r2"))
    assert asyncio.run(again.open_orders()) == []


def _frame(n: int) -> pd.DataFrame:
    index = pd.date_range("2024-03-08 15:00", periods=n, freq="1min", tz="UTC", name="ts")
    opens = [100.0 + i for i in range(n)]
    return pd.DataFrame({"open": opens, "high": [o + 1 for o in opens],
                         "low": [o - 1 for o in opens], "close": [o + 0.5 for o in opens],
                         "volume": [1000.0] * n}, index=index)  # fmt: skip


async def _collect(source: ReplayBarSource, **since: datetime) -> list[LiveBar]:
    return [bar async for bar in source.subscribe(["AAPL", "MSFT"], "1m", since)]


def test_replay_yields_completed_bars_with_the_next_open() -> None:
    source = ReplayBarSource({"AAPL": _frame(4), "MSFT": _frame(3)})
    bars = asyncio.run(_collect(source))
    assert [(b.symbol, b.start.minute) for b in bars] == [
        ("AAPL", 0), ("MSFT", 0), ("AAPL", 1), ("MSFT", 1), ("AAPL", 2),
    ]  # fmt: skip
    assert all(b.next_open == b.open + 1 for b in bars)
    resumed = asyncio.run(_collect(source, AAPL=bars[2].start))
    assert [(b.symbol, b.start.minute) for b in resumed] == [("MSFT", 0), ("MSFT", 1), ("AAPL", 2)]


def test_replay_quotes_each_open_after_the_bars_before_it() -> None:
    quotes: list[tuple[str, int, float]] = []

    class Market:
        def quote(self, symbol: str, ts: datetime, price: float) -> int:
            quotes.append((symbol, ts.minute, price))
            return 0

    source = ReplayBarSource({"AAPL": _frame(3)}, Market())
    seen = []

    async def run() -> None:
        async for bar in source.subscribe(["AAPL"], "1m"):
            seen.append((bar.start.minute, len(quotes)))

    asyncio.run(run())
    # bar 0 completes when bar 1 opens: the open is quoted after bar 0 was handled.
    assert seen == [(0, 1), (1, 2)]
    assert quotes == [("AAPL", 0, 100.0), ("AAPL", 1, 101.0), ("AAPL", 2, 102.0)]


def test_replay_refuses_unknown_symbols_and_negative_speed() -> None:
    with pytest.raises(InvalidInputError, match="--speed"):
        ReplayBarSource({}, speed=-1)
    with pytest.raises(InvalidInputError, match="nothing to replay for MSFT"):
        ReplayBarSource({"AAPL": _frame(3)}).subscribe(["MSFT"], "1m")
