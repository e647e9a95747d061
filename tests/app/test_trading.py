"""The trading use case with the paper broker, on SQLite and PostgreSQL (issue 14): a replayed
series places the backtest's orders at the backtest's bars, one by one; a restart sends nothing
twice; the risk layer and the kill switch act and leave their reasons; live accounts are
refused without --live."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from algotrader.app._stores import open_stores
from algotrader.app.risk import LiveTradingRefusedError
from algotrader.app.trading import (
    ReplaySpec,
    TradeEvent,
    TradeRequest,
    run_trading,
    stop_trading,
    trade_ref,
    trading_status,
)
from algotrader.backtest import BacktestConfig, run_backtest
from algotrader.config import Settings, load_settings
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.errors import InvalidInputError
from algotrader.paper import PaperBroker
from algotrader.ports.trading_state import DecisionRecord
from algotrader.strategies.registry import get_strategy
from algotrader.trading.risk import RiskLimits

END = datetime(2024, 3, 8, 21, 0, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT", "TSLA")
BARS = 240
PARAMS = {"fast": "5", "slow": "20"}
CONFIG = BacktestConfig(allow_short=True, whole_shares=True, commission_per_share=0.005)


@pytest.fixture
def settings(db_url: str, workdir: Path) -> Settings:
    return load_settings(
        database_url=db_url, data_dir=str(workdir / "data"), log_dir=str(workdir / "logs")
    )


def _request(**changes: object) -> TradeRequest:
    values: dict[str, object] = {
        "strategy": "ma_cross",
        "symbols": SYMBOLS,
        "resolution": "1m",
        "params": PARAMS,
        "config": CONFIG,
        "replay": ReplaySpec(source="synthetic", bars=BARS, end=END),
        **changes,
    }
    return TradeRequest(**values)  # type: ignore[arg-type]


def _replayed(symbol: str) -> pd.DataFrame:
    """The bars the replay plays (the synthetic series ending at END), independently."""
    start = datetime(2024, 2, 20, tzinfo=UTC)
    return SyntheticProvider().fetch_bars(symbol, "1m", start, END).iloc[-BARS:]


def _backtest_orders(
    strategy: str = "ma_cross", params: dict[str, str] = PARAMS, symbols: tuple[str, ...] = SYMBOLS
) -> list[tuple]:
    """(symbol, fill bar, side, quantity) of the backtest's fills, a reversal as one order."""
    out = []
    for symbol in symbols:
        result = run_backtest(_replayed(symbol), get_strategy(strategy, **params), CONFIG)
        fills = result.fills.groupby(["ts", "action"], sort=True)["quantity"].sum()
        out += [(symbol, ts.to_pydatetime(), side, qty) for (ts, side), qty in fills.items()]
    return sorted(out)


def _session_orders(settings: Settings) -> tuple[list[tuple], list[str]]:
    """(symbol, fill bar, side, quantity) of the session's fills, and every order's ref."""
    with open_stores(settings) as stores:
        (session,) = stores.trading.sessions()
        fills = stores.trading.fills(session.id)
        refs = [d.client_ref for d in stores.trading.decisions(session.id, orders_only=True)
                if d.status != "rejected"]  # fmt: skip
    per_order = Counter[tuple]()
    for f in fills:
        per_order[(f.symbol, f.ts, f.side)] += f.quantity
    return sorted((s, ts, side, q) for (s, ts, side), q in per_order.items()), [
        r for r in refs if r is not None
    ]


def _positions_from(orders: list[tuple]) -> dict[str, float]:
    held: Counter[str] = Counter()
    for symbol, _, side, qty in orders:
        held[symbol] += qty if side == "BUY" else -qty
    return {s: q for s, q in sorted(held.items()) if q}


def test_paper_session_places_the_backtests_orders_bar_for_bar(settings: Settings) -> None:
    result = asyncio.run(run_trading(settings, _request()))

    live, refs = _session_orders(settings)
    expected = _backtest_orders()
    assert len(expected) > 10
    assert live == expected  # symbol, bar, side and quantity, one by one
    assert len(refs) == len(set(refs)) == result.orders
    assert result.bars == len(SYMBOLS) * (BARS - 1)  # the last bar is still forming
    assert result.positions == _positions_from(expected)
    with open_stores(settings) as stores:
        for symbol in SYMBOLS:
            stored = stores.bars.load_bars(symbol, "1m")
            replayed = _replayed(symbol).iloc[:-1]
            assert stored.index.equals(replayed.index)
            assert stored["close"].tolist() == replayed["close"].tolist()
            assert stored["ma20"].notna().sum() == len(stored) - 19  # indicators refreshed


def test_restart_mid_session_sends_no_order_twice(settings: Settings) -> None:
    first = asyncio.run(run_trading(settings, _request(max_bars=300)))
    second = asyncio.run(run_trading(settings, _request()))

    assert first.stopped_by == "max_bars" and second.stopped_by == "end of feed"
    assert first.bars + second.bars == len(SYMBOLS) * (BARS - 1)
    live, refs = _session_orders(settings)
    assert live == _backtest_orders()
    assert len(refs) == len(set(refs)) == first.orders + second.orders
    broker = PaperBroker(CONFIG, settings.data_dir / "paper" / f"{first.session}.jsonl")
    held = {p.symbol: p.quantity for p in asyncio.run(broker.positions())}
    assert held == second.positions == _positions_from(live)


def test_a_user_on_bar_strategy_trades_like_its_backtest(settings: Settings, workdir: Path) -> None:
    path = workdir / "above_ma.py"
    path.write_text(
        "from algotrader import Strategy\n"
        "class AboveMA(Strategy):\n"
        "    def start(self):\n        self.seen = 0\n"
        "    def on_bar(self, i, row, df):\n"
        "        self.seen += 1\n"
        "        if self.seen % 7 == 0:\n"
        "            return 'BUY' if row['close'] > row['ma20'] else 'SELL'\n"
        "        return None\n"
    )
    spec, one = f"{path}:AboveMA", ("TSLA",)
    asyncio.run(run_trading(settings, _request(strategy=spec, params={}, symbols=one,
                                               max_bars=100)))  # fmt: skip
    asyncio.run(run_trading(settings, _request(strategy=spec, params={}, symbols=one)))

    live, refs = _session_orders(settings)
    assert len(live) > 5
    assert live == _backtest_orders(spec, {}, one)
    assert len(refs) == len(set(refs))


def test_every_risk_rejection_is_stored_with_its_reason(settings: Settings) -> None:
    limits = RiskLimits(max_position=50, max_orders_per_minute=1)
    config = BacktestConfig(whole_shares=True, sizing="shares", size=60, allow_short=True)
    request = _request(limits=limits, config=config, symbols=("AAPL",))
    result = asyncio.run(run_trading(settings, request))

    assert result.rejected > 0
    with open_stores(settings) as stores:
        (session,) = stores.trading.sessions()
        decisions = stores.trading.decisions(session.id, orders_only=True)
    rejected = [d for d in decisions if d.status == "rejected"]
    assert len(rejected) == result.rejected
    assert all("max position 50" in (d.reason or "") for d in rejected)
    assert result.orders == 0 and result.positions == {}


def test_the_kill_switch_cancels_flattens_and_stops(settings: Settings) -> None:
    events: list[TradeEvent] = []
    fills_seen = 0

    def watch(event: TradeEvent) -> None:
        nonlocal fills_seen
        events.append(event)
        fills_seen += event.kind == "fill"
        if fills_seen == 3:
            stop_trading(settings, flatten=True)

    result = asyncio.run(run_trading(settings, _request(), watch))

    assert result.stopped_by == "stop"
    assert result.bars < len(SYMBOLS) * (BARS - 1)
    assert any(e.kind == "stopped" for e in events)
    assert result.positions == {}  # flattened: the fills sum to nothing
    (status,) = trading_status(settings)
    assert status.session.state == "stopped" and status.positions == {}


def test_a_live_port_is_refused_without_live(settings: Settings) -> None:
    live_port = load_settings(
        database_url=settings.database_url, data_dir=str(settings.data_dir), ib_port=7496
    )
    with pytest.raises(LiveTradingRefusedError, match="--live"):
        asyncio.run(run_trading(live_port, _request(broker="ib")))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"symbols": ("AAPL", "not a symbol!")}, "symbol"),
        ({"resolution": "7x"}, "resolution"),
        ({"broker": "etrade"}, "--broker"),
        ({"config": BacktestConfig(stop_loss=0.05)}, "--stop-loss"),
        ({"warmup": -1}, "--warmup"),
    ],
)
def test_bad_requests_are_one_line_errors(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        _request(**changes)


def test_a_bad_replay_is_a_one_line_error() -> None:
    with pytest.raises(InvalidInputError, match="--bars"):
        ReplaySpec(bars=1)
    with pytest.raises(InvalidInputError, match="--speed"):
        ReplaySpec(speed=-1)


def test_an_order_stored_but_never_sent_before_a_crash_is_not_sent_after_it(
    settings: Settings,
) -> None:
    first = asyncio.run(run_trading(settings, _request(max_bars=150)))
    with open_stores(settings) as stores:
        (session,) = stores.trading.sessions()
        mark = stores.trading.symbol_states(session.id)["AAPL"].last_bar_ts
        assert mark is not None
        bar = _replayed("AAPL").index.get_loc(pd.Timestamp(mark)) + 1
        bar_ts = _replayed("AAPL").index[bar].to_pydatetime()
        # The crash: the order's decision was stored (pending), the process died before sending.
        ref = trade_ref(session.name, "AAPL", bar_ts, "BUY")
        pending = DecisionRecord(
            session.id, "AAPL", bar_ts, 1.0, 1, "pending", datetime.now(UTC),
            side="BUY", quantity=1.0, client_ref=ref,
        )  # fmt: skip
        stores.trading.add_decision(pending)

    second = asyncio.run(run_trading(settings, _request()))

    assert second.reconciled == 1
    with open_stores(settings) as stores:
        lost = stores.trading.decision_by_ref(session.id, ref)
        fills = stores.trading.fills(session.id)
    assert lost is not None and lost.status == "lost"
    broker = PaperBroker(CONFIG, settings.data_dir / "paper" / f"{first.session}.jsonl")
    assert ref not in {f.client_ref for f in asyncio.run(broker.executions())}
    assert ref not in {o.client_ref for o in asyncio.run(broker.open_orders())}
    held = {p.symbol: p.quantity for p in asyncio.run(broker.positions())}
    assert (
        held
        == second.positions
        == _positions_from([(f.symbol, f.ts, f.side, f.quantity) for f in fills])
    )
    _, refs = _session_orders(settings)
    assert len(refs) == len(set(refs))


def test_the_kill_switch_stops_an_idle_paper_session_at_once(settings: Settings) -> None:
    ran = asyncio.run(run_trading(settings, _request()))
    assert ran.positions  # something to flatten

    stopped = stop_trading(settings, ran.session, flatten=True)

    assert stopped.sessions == [ran.session] and stopped.running == []
    (status,) = trading_status(settings, ran.session)
    assert status.session.state == "stopped" and status.positions == {}
    broker = PaperBroker(CONFIG, settings.data_dir / "paper" / f"{ran.session}.jsonl")
    assert asyncio.run(broker.open_orders()) == [] and asyncio.run(broker.positions()) == []
