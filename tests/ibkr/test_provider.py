"""The IBKR provider against the TWS simulator: the real ib_async client on a real socket.

The simulator serves bars from :class:`SyntheticProvider` on a fixed clock, so what the provider
stores can be compared bar for bar with what the simulator served. Pacing and retry delays are
made tiny (injected pacer and retry policy) to keep the faults fast.
"""

from __future__ import annotations

import ast
import asyncio
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from ib_async import IB, Stock
from sqlalchemy import text

import algotrader.ibkr as ibkr_package
from algotrader.app._stores import stores_of
from algotrader.app.ingest import IngestRequest, IngestWindow, ingest, ingest_symbol
from algotrader.calendars import exchange_sessions
from algotrader.config import Settings
from algotrader.data.providers import get_provider, is_synthetic
from algotrader.data.providers.synthetic import SyntheticProvider
from algotrader.db.engine import open_database
from algotrader.db.store import SqlBarStore
from algotrader.errors import DataNotFoundError, GatewayUnavailableError, UserError
from algotrader.frames import OHLCV_COLUMNS
from algotrader.ibkr.connection import is_simulator
from algotrader.ibkr.history import (
    HistoricalPacer,
    PacingRules,
    RetryPolicy,
    bars_to_frame,
    ib_end,
    plan_duration,
)
from algotrader.ibkr.provider import SIMULATOR_LABEL, IbkrProvider
from algotrader.ibsim import Faults, SimConfig, SimulatorThread, start_in_thread
from algotrader.ibsim.protocol import In
from algotrader.indicators import compute_indicators
from algotrader.timeframes import IB_MAX_DURATION, Duration, parse_duration, parse_resolution

# A Friday evening after the close: every session before it is complete.
NOW = datetime(2024, 6, 14, 20, 30, tzinfo=UTC)
CLIENT_ID = 7


def _now() -> datetime:
    return NOW


# "30 D" is 30 trading days (IB's reading): six weeks and a day, Memorial Day being a holiday.
THIRTY_DAYS_BACK = parse_duration("30 D").start_before(NOW)


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    handle = start_in_thread(SimConfig(clock=_now, tick_interval=0.05))
    try:
        yield handle
    finally:
        handle.stop()


def _settings(port: int, tmp_path: Path, db_url: str | None = None, **extra: object) -> Settings:
    values: dict[str, object] = {
        "ib_host": "127.0.0.1",
        "ib_port": port,
        "ib_client_id": CLIENT_ID,
        "ib_timeout": 2.0,
        "database_url": db_url,
        "data_dir": tmp_path / "data",
        "log_dir": tmp_path / "logs",
        **extra,
    }
    return Settings(**values)  # type: ignore[arg-type]


FAST_RULES = PacingRules(identical_interval=0.05, per_contract_window=0.05, window=0.05)
FAST_RETRY = RetryPolicy(
    attempts=6, base_delay=0.05, factor=2.0, max_delay=0.5, request_timeout=5.0
)


@pytest.fixture
def make_provider(sim: SimulatorThread, tmp_path: Path) -> Iterator[Callable[..., IbkrProvider]]:
    made: list[IbkrProvider] = []

    def make(retry: RetryPolicy = FAST_RETRY, **kwargs: object) -> IbkrProvider:
        provider = IbkrProvider(
            _settings(sim.port, tmp_path),
            pacer=HistoricalPacer(FAST_RULES),
            retry=retry,
            **kwargs,  # type: ignore[arg-type]
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def _served(symbol: str, resolution: str, start: datetime, end: datetime = NOW) -> pd.DataFrame:
    """Every bar of the simulator's own bar source (on its clock) whose session overlaps
    ``[start, end)``: daily bars from the start's date on, weekly ones from its Monday. Computed
    from the source, not through the simulator, so a window the simulator trimmed shows."""
    first = pd.Timestamp(start).tz_convert(UTC)
    if resolution == "1d":
        first = first.floor("D")
    elif resolution == "1w":
        first = first.floor("D") - pd.Timedelta(days=first.day_of_week)
    return SyntheticProvider(clock=_now).fetch_bars(symbol, resolution, first, end)


def _stored(db_url: str, symbol: str, resolution: str) -> pd.DataFrame:
    db = open_database(db_url)
    try:
        return SqlBarStore(db).load_bars(symbol, resolution)
    finally:
        db.dispose()


def _ingest(
    provider: IbkrProvider, db_url: str, symbol: str, resolution: str, duration: str
) -> None:
    db = open_database(db_url)
    try:
        window = IngestWindow(duration=parse_duration(duration), end=NOW)
        ingest_symbol(stores_of(db), provider, symbol, parse_resolution(resolution), window)
    finally:
        db.dispose()


def _assert_same_bars(stored: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(stored) == len(expected) > 0
    assert stored.index.is_unique and stored.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(
        stored[list(OHLCV_COLUMNS)], expected[list(OHLCV_COLUMNS)], check_freq=False
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- connect and qualify -------------------------------------------------------------------------


def test_describe_qualifies_the_stock_with_ib_contract_details(
    make_provider: Callable[..., IbkrProvider],
) -> None:
    info = make_provider().describe("aapl")
    assert info.symbol == "AAPL"
    assert info.con_id == 265598
    assert info.exchange == "SMART" and info.primary_exchange == "NASDAQ"
    assert info.name == "APPLE INC" and info.timezone == "US/Eastern"
    assert info.currency == "USD" and info.sec_type == "STK"


def test_get_provider_builds_the_ibkr_provider_without_connecting(tmp_path: Path) -> None:
    provider = get_provider("ibkr", _settings(_closed_port(), tmp_path))
    assert isinstance(provider, IbkrProvider)
    assert (provider.name, provider.label) == ("ibkr", "IBKR")


def test_bars_from_the_simulator_are_labelled_synthetic_whatever_the_source_says(
    db_url: str, sim: SimulatorThread, tmp_path: Path
) -> None:
    provider = get_provider("ibkr", _settings(sim.port, tmp_path))
    assert (provider.name, provider.label) == ("ibkr", "IBKR")  # not connected yet
    try:
        db = open_database(db_url)
        try:
            window = IngestWindow(duration=parse_duration("1 M"), end=NOW)
            report = ingest_symbol(stores_of(db), provider, "AAPL", parse_resolution("1d"), window)
            with db.engine.connect() as conn:
                sources = conn.execute(
                    text("SELECT DISTINCT source FROM market_prices WHERE symbol = 'AAPL'")
                ).scalars().all()
        finally:
            db.dispose()
    finally:
        provider.close()
    assert (provider.name, provider.label) == ("ibsim", SIMULATOR_LABEL)
    assert report.source == "ibsim" and sources == ["ibsim"]
    assert is_synthetic(set(sources))


def test_a_gateway_without_the_simulator_tag_is_not_the_simulator() -> None:
    assert not is_simulator(IB())  # no account values: what TWS's never include


def test_ibkr_is_the_default_data_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALGOTRADER_DATA_SOURCE", raising=False)
    assert Settings(_env_file=None).data_source == "ibkr"  # type: ignore[call-arg]


# -- history, chunked ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolution", "duration", "requests"),
    [
        ("1d", "5 Y", 1),  # daily bars: up to 30 Y in one request
        ("1h", "20 D", 1),  # 1 M per request for 1-hour bars (20 trading days: 4 weeks)
        ("1m", "5 D", 1),  # 1 W per request for 1-minute bars
        ("1m", "30 D", 7),  # ... so 30 trading days (six weeks and a day) take seven
    ],
)
def test_ingest_stores_exactly_what_the_simulator_served_with_indicators(
    db_url: str,
    sim: SimulatorThread,
    make_provider: Callable[..., IbkrProvider],
    resolution: str,
    duration: str,
    requests: int,
) -> None:
    provider = make_provider()
    _ingest(provider, db_url, "AAPL", resolution, duration)

    assert sim.sim.historical_requests == requests == provider.requests
    start = parse_duration(duration).start_before(NOW)
    stored = _stored(db_url, "AAPL", resolution)
    _assert_same_bars(stored, _served("AAPL", resolution, start))
    indicators = compute_indicators(stored[list(OHLCV_COLUMNS)])
    np.testing.assert_allclose(stored["ma20"], indicators["ma20"], equal_nan=True)
    assert stored["rsi"].notna().sum() > len(stored) // 2

    db = open_database(db_url)
    try:
        with db.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT con_id, primary_exchange, name, timezone, exchange, currency "
                    "FROM instruments WHERE symbol='AAPL'"
                )
            ).one()
    finally:
        db.dispose()
    assert tuple(row) == (265598, "NASDAQ", "APPLE INC", "US/Eastern", "SMART", "USD")


def test_a_daily_window_starting_mid_day_includes_that_days_bar(
    make_provider: Callable[..., IbkrProvider],
) -> None:
    start = datetime(2024, 5, 1, 18, tzinfo=UTC)  # Wednesday, during the session
    bars = make_provider().fetch_bars("AAPL", "1d", start, NOW)
    assert bars.index[0] == pd.Timestamp("2024-05-01", tz=UTC)
    _assert_same_bars(bars, _served("AAPL", "1d", start))


def test_d_means_trading_days_for_the_provider_and_the_simulator_alike(
    db_url: str, sim: SimulatorThread, make_provider: Callable[..., IbkrProvider]
) -> None:
    # 45 D ending Friday 2024-06-14: 45 NYSE sessions (Good Friday and Memorial Day are not).
    _ingest(make_provider(), db_url, "AAPL", "1d", "45 D")
    stored = _stored(db_url, "AAPL", "1d")
    sessions = exchange_sessions().sessions(date(2024, 1, 1), date(2024, 6, 14))[-45:]
    assert list(stored.index.date) == [pd.Timestamp(d).date() for d in sessions]

    async def ask_the_simulator() -> list[date]:
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=CLIENT_ID + 1, timeout=10)
        try:
            bars = await ib.reqHistoricalDataAsync(
                Stock("AAPL", "SMART", "USD"), "", "45 D", "1 day", "TRADES", True, timeout=30
            )
        finally:
            ib.disconnect()
        return [b.date for b in bars]

    assert asyncio.run(ask_the_simulator()) == list(stored.index.date)


def test_weekly_bars_are_keyed_by_their_monday(
    make_provider: Callable[..., IbkrProvider],
) -> None:
    start = NOW - timedelta(days=400)
    bars = make_provider().fetch_bars("MSFT", "1w", start, NOW)
    assert (pd.DatetimeIndex(bars.index).day_of_week == 0).all()
    _assert_same_bars(bars, _served("MSFT", "1w", start))


def test_fetch_bars_with_no_bars_in_the_window_is_an_empty_frame(
    make_provider: Callable[..., IbkrProvider],
) -> None:
    saturday = datetime(2024, 6, 15, 12, tzinfo=UTC)
    bars = make_provider().fetch_bars("AAPL", "1h", saturday, saturday + timedelta(hours=6))
    assert bars.empty and list(bars.columns) == list(OHLCV_COLUMNS)


# -- faults -------------------------------------------------------------------------------------


def test_pacing_violations_mid_history_complete_after_back_off(
    db_url: str, sim: SimulatorThread, make_provider: Callable[..., IbkrProvider]
) -> None:
    # The third and fourth requests are refused with 162 "pacing violation"; the client's own
    # pacer is told nothing about it, so it has to back off and send them again.
    sim.sim.faults = Faults(pacing_violations=frozenset({3, 4}))
    provider = make_provider()
    _ingest(provider, db_url, "TSLA", "1m", "30 D")

    assert sim.sim.historical_requests == provider.requests == 7 + 2
    _assert_same_bars(_stored(db_url, "TSLA", "1m"), _served("TSLA", "1m", THIRTY_DAYS_BACK))


def test_a_dropped_connection_mid_history_resumes_after_reconnecting(
    db_url: str, sim: SimulatorThread, make_provider: Callable[..., IbkrProvider]
) -> None:
    sim.sim.faults = Faults(drop_on_historical_request=3)
    provider = make_provider()
    _ingest(provider, db_url, "NVDA", "1m", "30 D")

    assert provider.reconnects == 1
    assert sim.sim.historical_requests == 8  # seven chunks, the third one twice
    _assert_same_bars(_stored(db_url, "NVDA", "1m"), _served("NVDA", "1m", THIRTY_DAYS_BACK))


def test_a_crash_mid_history_loses_nothing_and_a_rerun_completes(
    db_url: str, sim: SimulatorThread, make_provider: Callable[..., IbkrProvider]
) -> None:
    # The connection dies at the third chunk and the run gives up at once (no retries): the two
    # chunks already received are committed; the re-run fills the rest without gap or duplicate.
    sim.sim.faults = Faults(drop_on_historical_request=3)
    crashing = make_provider(retry=replace(FAST_RETRY, attempts=1))
    with pytest.raises(UserError) as failed:
        _ingest(crashing, db_url, "META", "1m", "30 D")
    message = str(failed.value)
    assert "\n" not in message and "failed after 1 attempts" in message
    assert f"127.0.0.1:{sim.port}" in message
    expected = _served("META", "1m", THIRTY_DAYS_BACK)
    partial = _stored(db_url, "META", "1m")
    assert 0 < len(partial) < len(expected)
    _assert_same_bars(partial, expected[expected.index >= partial.index[0]])

    sim.sim.faults = Faults()
    _ingest(make_provider(), db_url, "META", "1m", "30 D")
    stored = _stored(db_url, "META", "1m")
    _assert_same_bars(stored, expected)
    fresh = compute_indicators(expected)
    for column in ("ma50", "macd", "supertrend", "atr"):
        np.testing.assert_allclose(stored[column], fresh[column], equal_nan=True)


def test_an_unknown_symbol_is_one_line(make_provider: Callable[..., IbkrProvider]) -> None:
    with pytest.raises(DataNotFoundError) as failed:
        make_provider().describe("XYZ")
    message = str(failed.value)
    assert message.startswith("IBKR has no contract for 'XYZ' (error 200")
    assert "\n" not in message


def test_a_symbol_without_data_is_one_line(
    db_url: str, sim: SimulatorThread, make_provider: Callable[..., IbkrProvider]
) -> None:
    sim.sim.faults = Faults(no_data_symbols=frozenset({"KO"}))
    with pytest.raises(DataNotFoundError) as failed:
        _ingest(make_provider(), db_url, "KO", "1d", "1 Y")
    message = str(failed.value)
    assert message.startswith(f"{SIMULATOR_LABEL} returned no 1d bars for KO")
    assert "\n" not in message


def test_a_gateway_that_is_down_is_one_line_naming_host_and_port(tmp_path: Path) -> None:
    port = _closed_port()
    provider = IbkrProvider(_settings(port, tmp_path))
    with provider, pytest.raises(GatewayUnavailableError) as failed:
        provider.describe("AAPL")
    message = str(failed.value)
    assert f"127.0.0.1:{port}" in message and "ib-sim" in message and "\n" not in message


def test_a_client_id_in_use_is_one_line(sim: SimulatorThread, tmp_path: Path) -> None:
    sim.sim.faults = Faults(client_ids_in_use=frozenset({CLIENT_ID}))
    settings = _settings(sim.port, tmp_path, ib_timeout=0.5)
    provider = IbkrProvider(settings)
    with provider, pytest.raises(GatewayUnavailableError) as failed:
        provider.describe("AAPL")
    message = str(failed.value)
    assert f"clientId {CLIENT_ID} may be in use" in message and "\n" not in message


def test_a_timeout_is_retried_then_reported_in_one_line(
    sim: SimulatorThread, make_provider: Callable[..., IbkrProvider]
) -> None:
    # The simulator never answers historical requests 2 and 3: the first attempt and its retry
    # both time out (the timeout is only how long silence is waited for).
    sim.sim.faults = Faults(silent_historical_requests=frozenset({2, 3}))
    provider = make_provider(retry=replace(FAST_RETRY, attempts=2, request_timeout=1.5))
    provider.fetch_bars("IBM", "1d", NOW - timedelta(days=10), NOW)  # request 1: answered
    with pytest.raises(UserError) as failed:
        provider.fetch_bars("IBM", "1d", NOW - timedelta(days=30), NOW)
    message = str(failed.value)
    assert "failed after 2 attempts" in message and "no answer within 1.5s" in message
    assert "\n" not in message
    assert sim.sim.historical_requests == provider.requests == 3


# -- several symbols ----------------------------------------------------------------------------


def test_several_symbols_are_ingested_concurrently_over_one_connection(
    db_url: str, sim: SimulatorThread, make_provider: Callable[..., IbkrProvider], tmp_path: Path
) -> None:
    symbols = ("AAPL", "MSFT", "SPY", "JPM", "XOM", "KO")
    provider = make_provider(max_concurrency=3)
    request = IngestRequest(
        symbols, (parse_resolution("1d"),), IngestWindow(duration=parse_duration("2 Y"), end=NOW)
    )
    reports = ingest(_settings(sim.port, tmp_path, db_url), request, provider=provider)
    assert [r.symbol for r in reports] == list(symbols)


@pytest.mark.parametrize(
    ("silent", "expected"),
    [
        (In.REQ_CONTRACT_DATA, "IBKR did not answer the contract lookup of NVDA within 1.5s"),
        (In.REQ_HEAD_TIMESTAMP, "IBKR head timestamp of NVDA failed after 2 attempts (last: "
                                "no head timestamp in time)"),
    ],
    ids=["contract", "head-timestamp"],
)
def test_every_wait_of_the_provider_is_bounded(
    sim: SimulatorThread, make_provider: Callable[..., IbkrProvider], silent: int, expected: str
) -> None:
    sim.sim.faults = Faults(silent_messages=frozenset({silent}))
    provider = make_provider(retry=replace(FAST_RETRY, attempts=2, request_timeout=1.5))
    with pytest.raises(UserError) as failed:
        provider.fetch_bars("NVDA", "1m", NOW - timedelta(days=20), NOW)
    assert str(failed.value).startswith(expected) and "\n" not in str(failed.value)


# -- several threads, one connection ----------------------------------------------------------


def test_threads_walk_different_series_at_once_over_one_connection(
    sim: SimulatorThread, make_provider: Callable[..., IbkrProvider]
) -> None:
    # Each thread takes its first chunk, then waits for the others: a provider that ran one
    # walk at a time would never let all three reach the barrier.
    provider = make_provider(max_concurrency=3)
    symbols = ["AAPL", "MSFT", "SPY"]
    barrier = threading.Barrier(len(symbols), timeout=60)
    start = NOW - timedelta(days=30)

    def walk(symbol: str) -> pd.DataFrame:
        chunks = []
        for n, chunk in enumerate(provider.iter_bars(symbol, "1m", start, NOW)):
            chunks.append(chunk)
            if n == 0:
                barrier.wait()
        return pd.concat(chunks[::-1])

    with ThreadPoolExecutor(provider.max_concurrency) as pool:
        frames = dict(zip(symbols, pool.map(walk, symbols), strict=True))
    assert provider.reconnects == 0 and sim.sim.connected_client_ids == {CLIENT_ID}
    assert provider.requests == sim.sim.historical_requests == 3 * 5
    for symbol, frame in frames.items():
        _assert_same_bars(frame, _served(symbol, "1m", start))


def test_ingest_of_several_stores_the_good_symbols_and_raises_the_first_failure(
    db_url: str, sim: SimulatorThread, make_provider: Callable[..., IbkrProvider], tmp_path: Path
) -> None:
    request = IngestRequest(
        ("AAPL", "NOPE", "MSFT"),
        (parse_resolution("1d"),),
        IngestWindow(duration=parse_duration("1 Y"), end=NOW),
    )
    with pytest.raises(DataNotFoundError, match="'NOPE'"):
        ingest(_settings(sim.port, tmp_path, db_url), request, provider=make_provider())
    assert len(_stored(db_url, "AAPL", "1d")) > 200 and len(_stored(db_url, "MSFT", "1d")) > 200


def test_closing_the_provider_ends_a_waiting_walk_with_one_line(
    sim: SimulatorThread, make_provider: Callable[..., IbkrProvider]
) -> None:
    # The walk waits on a request the simulator never answers; closing the provider (as
    # Ctrl-C during `algotrader ingest` does) must end that wait, not leave the thread hanging.
    sim.sim.faults = Faults(silent_historical_requests=frozenset({1}))
    provider = make_provider(retry=replace(FAST_RETRY, request_timeout=600))
    outcome: list[BaseException] = []

    def walk() -> None:
        try:
            list(provider.iter_bars("AAPL", "1d", NOW - timedelta(days=30), NOW))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=walk)
    worker.start()
    for _ in range(3000):  # until the request is on its way (a guard, not a measurement)
        if sim.call(lambda: sim.sim.historical_requests) == 1:
            break
        threading.Event().wait(0.01)
    provider.close()
    worker.join(60)
    assert not worker.is_alive()
    [error] = outcome
    assert isinstance(error, UserError) and str(error) == "interrupted: run the same command again"


def test_the_provider_declares_its_capabilities(tmp_path: Path) -> None:
    provider = IbkrProvider(_settings(_closed_port(), tmp_path), max_concurrency=6)
    assert (provider.name, provider.label, provider.max_concurrency) == ("ibkr", "IBKR", 6)
    assert not hasattr(provider, "ingest_many")
    provider.close()  # never connected: nothing to do, no error


def test_the_ib_code_imports_neither_the_ingest_pipeline_nor_the_database() -> None:
    package = Path(ibkr_package.__file__).parent
    imported = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert not {m for m in imported if m.startswith(("algotrader.db", "algotrader.data.ingest"))}


def test_blocking_methods_refuse_to_run_inside_an_event_loop(tmp_path: Path) -> None:
    async def main() -> None:
        provider = IbkrProvider(_settings(_closed_port(), tmp_path))
        with provider, pytest.raises(RuntimeError, match=r"asyncio\.to_thread"):
            provider.describe("AAPL")

    asyncio.run(main())


# -- pure parts: pacer, chunk plan, bar conversion ---------------------------------------------


class _FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _paced(rules: PacingRules, requests: Sequence[tuple[object, object, int]]) -> list[float]:
    """Send ``requests`` through a pacer on a fake clock; the time each went out."""
    fake = _FakeTime()
    pacer = HistoricalPacer(rules, clock=fake.clock, sleep=fake.sleep)

    async def main() -> list[float]:
        times = []
        for key, contract, seconds in requests:
            await pacer.acquire(key, contract, seconds)
            times.append(fake.now)
        return times

    return asyncio.run(main())


def test_pacer_spaces_identical_requests_by_15_seconds() -> None:
    times = _paced(PacingRules(), [("same", 1, 60), ("same", 1, 60), ("other", 1, 60)])
    assert times == [0.0, 15.0, 15.0]


def test_pacer_allows_five_requests_per_contract_within_two_seconds() -> None:
    times = _paced(PacingRules(), [(k, 1, 60) for k in range(6)] + [(99, 2, 60)])
    assert times == [0.0] * 5 + [2.0, 2.0]


def test_pacer_window_rule_applies_to_small_bars_unless_configured_for_all() -> None:
    rules = PacingRules(max_requests=3, window=10.0, per_contract_max=100)
    assert _paced(rules, [(k, k, 60) for k in range(4)]) == [0.0] * 4
    assert _paced(rules, [(k, k, 30) for k in range(4)]) == [0.0, 0.0, 0.0, 10.0]
    everything = replace(rules, window_max_bar_seconds=86_400)
    assert _paced(everything, [(k, k, 3600) for k in range(4)])[-1] == 10.0


def test_pacer_hold_pauses_every_request() -> None:
    fake = _FakeTime()
    pacer = HistoricalPacer(clock=fake.clock, sleep=fake.sleep)
    pacer.hold(4.0)
    assert pacer.delay("k", 1, 60) == 4.0
    assert asyncio.run(pacer.acquire("k", 1, 60)) == 4.0


@pytest.mark.parametrize(
    ("resolution", "days", "expected"),
    [
        ("1m", 0.5, Duration(43_200, "S")),
        ("1m", 5, Duration(1, "W")),
        ("1m", 30, Duration(1, "W")),  # the limit: the walk takes several
        ("1h", 30, Duration(1, "M")),
        ("1h", 20, Duration(3, "W")),
        ("1h", 90, Duration(1, "M")),
        ("1d", 5 * 365 + 1, Duration(5, "Y")),
        ("1d", 40, Duration(6, "W")),
        ("1d", 200, Duration(29, "W")),
        ("1d", 500, Duration(2, "Y")),
        ("1d", 365 * 40, Duration(30, "Y")),
    ],
)
def test_plan_duration_reaches_back_to_start_within_ib_limits(
    resolution: str, days: float, expected: Duration
) -> None:
    start = NOW - timedelta(days=days)
    assert plan_duration(NOW, start, parse_resolution(resolution)) == expected


def _smallest(cursor: datetime, start: datetime, resolution: str) -> Duration:
    """plan_duration by its definition: the first count, unit by unit, that reaches back."""
    limit = IB_MAX_DURATION.get(parse_resolution(resolution).ib_bar_size, Duration(1, "Y"))
    for unit, most in (("W", 52), ("M", 11), ("Y", 10**6)):
        fits = int(limit.approx_seconds // Duration(1, unit).approx_seconds)
        for n in range(1, min(most, limit.count if unit == limit.unit else fits) + 1):
            if Duration(n, unit).start_before(cursor) <= start:
                return Duration(n, unit)
    return limit


@pytest.mark.parametrize("resolution", ["1h", "1d"])
def test_plan_duration_is_the_smallest_duration_that_reaches_back(resolution: str) -> None:
    for hours in range(30, 24 * 365 * 6, 997):  # spans from a day to six years
        start = NOW - timedelta(hours=hours)
        assert plan_duration(NOW, start, parse_resolution(resolution)) == _smallest(
            NOW, start, resolution
        ), hours


def test_ib_end_is_explicit_utc() -> None:
    assert ib_end(datetime(2024, 6, 14, 16, 30, tzinfo=UTC) + timedelta(hours=0)) == (
        "20240614-16:30:00"
    )


def test_bars_to_frame_keys_days_weeks_and_intraday_in_utc_and_zeroes_missing_volume() -> None:
    def bar(when: object, volume: float) -> SimpleNamespace:
        return SimpleNamespace(date=when, open=10.0, high=11.0, low=9.0, close=10.5, volume=volume)

    daily = bars_to_frame(
        [bar(date(2024, 6, 13), -1), bar(date(2024, 6, 14), 5)],  # type: ignore[list-item]
        parse_resolution("1d"),
    )
    assert list(daily.index) == [
        pd.Timestamp("2024-06-13", tz=UTC),
        pd.Timestamp("2024-06-14", tz=UTC),
    ]
    assert list(daily["volume"]) == [0.0, 5.0]
    weekly = bars_to_frame([bar(date(2024, 6, 14), 1)], parse_resolution("1w"))  # type: ignore[list-item]
    assert weekly.index[0] == pd.Timestamp("2024-06-10", tz=UTC)
    minute = bars_to_frame(
        [bar(datetime(2024, 6, 14, 13, 30, tzinfo=UTC), 1)] * 2,  # type: ignore[list-item]
        parse_resolution("1m"),
    )
    assert len(minute) == 1 and minute.index[0] == pd.Timestamp("2024-06-14 13:30", tz=UTC)
