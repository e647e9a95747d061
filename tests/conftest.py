"""Shared fixtures. Database tests take ``db_url`` and run once on SQLite and once on
PostgreSQL (a throw-away database on the local server). In CI (``CI`` set) a PostgreSQL server
that cannot be reached fails the run instead of skipping those tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

from algotrader.db.engine import open_database
from algotrader.db.instruments import SqlInstrumentStore
from algotrader.db.store import SqlBarStore
from algotrader.ports.bars import InstrumentInfo

PG_ADMIN_URL = os.environ.get("ALGOTRADER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    problem = _pg_available()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    name = f"algotrader_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


_TABLES = (
    "trading_fills",
    "trading_decisions",
    "trading_symbols",
    "trading_sessions",
    "market_prices",
    "series_state",
    "instruments",
    "market_events",
    "symbol_events",
    "external_signals",
    "backtest_runs",
    "orders",
    "ml_models",
    "watchlist",
    "refresh_runs",
    "jobs",
    "universes",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database URL; the test runs once per backend."""
    from sqlalchemy import text

    from algotrader.db.engine import open_database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = request.getfixturevalue("pg_server_url")
    db = open_database(url)
    with db.engine.begin() as conn:
        for table in _TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    db.dispose()
    return url


@pytest.fixture
def workdir(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run in a clean directory with no ALGOTRADER_* settings leaking in from the environment."""
    for key in list(os.environ):
        if key.startswith("ALGOTRADER_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# Hand-built bar frames for the engine and strategy tests.


def build_frame(
    close: Sequence[float], open_: Sequence[float] | None = None, **extra: Sequence[float]
) -> pd.DataFrame:
    """Daily bars with the given closes (opens default to the previous close, first = close)."""
    c = np.asarray(close, dtype=np.float64)
    o = np.asarray(open_, dtype=np.float64) if open_ is not None else np.r_[c[:1], c[:-1]]
    index = pd.date_range("2024-01-01", periods=c.size, freq="D", tz="UTC", name="ts")
    frame = pd.DataFrame(
        {
            "open": o,
            "high": np.maximum(o, c) + 1.0,
            "low": np.minimum(o, c) - 1.0,
            "close": c,
            "volume": np.full(c.size, 1000.0),
        },
        index=index,
    )
    for name, values in extra.items():
        frame[name] = np.asarray(values, dtype=np.float64)
    return frame


@pytest.fixture
def make_frame() -> Callable[..., pd.DataFrame]:
    return build_frame


def synthetic_indicator_frame(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    """A random walk with plausible indicator columns (pandas approximations, warm-up NaNs)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, n)))
    frame = build_frame(close, np.r_[close[:1], close[:-1]] * (1 + rng.normal(0, 0.003, n)))
    c = frame["close"]
    frame["ma20"] = c.rolling(20).mean()
    frame["ma50"] = c.rolling(50).mean()
    frame["ema_fast"] = c.ewm(span=12, adjust=False).mean()
    frame["ema_slow"] = c.ewm(span=26, adjust=False).mean()
    macd = frame["ema_fast"] - frame["ema_slow"]
    frame["macd"] = macd.where(np.arange(n) >= 25)
    frame["macd_signal"] = frame["macd"].ewm(span=9, adjust=False).mean()
    sd = c.rolling(20).std(ddof=0)
    frame["bb_mid"] = frame["ma20"]
    frame["bb_upper"] = frame["ma20"] + 2 * sd
    frame["bb_lower"] = frame["ma20"] - 2 * sd
    delta = c.diff()
    gain = delta.clip(lower=0).rolling(14).mean()
    loss = (-delta.clip(upper=0)).rolling(14).mean()
    frame["rsi"] = 100 - 100 / (1 + gain / loss)
    frame["tr"] = (frame["high"] - frame["low"]).where(np.arange(n) > 0)
    frame["atr"] = frame["tr"].rolling(14).mean()
    frame["ath"] = frame["high"].cummax()
    trend = np.where(c > frame["ma20"], 1.0, -1.0)
    trend[:19] = np.nan
    frame["supertrend_trend"] = trend
    band = frame["ma20"] - np.where(trend > 0, 1.0, -1.0) * frame["atr"]
    frame["supertrend"] = band
    frame["supertrend_upper"] = frame["ma20"] + frame["atr"]
    frame["supertrend_lower"] = frame["ma20"] - frame["atr"]
    return frame


@pytest.fixture(scope="session")
def indicator_frame() -> pd.DataFrame:
    return synthetic_indicator_frame()


# Bar frames for the research and executor tests: seeded random walks with noisy opens.


def random_walk(n: int, *, seed: int = 11, freq: str = "B", start: str = "2012-01-02",
                drift: float = 0.0002, unit: str = "us") -> pd.DataFrame:
    """``n`` OHLCV bars; the open differs from the previous close so fills matter."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(drift, 0.012, n)))
    open_ = np.r_[close[:1], close[:-1]] * (1 + rng.normal(0.0, 0.003, n))
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="ts").as_unit(unit)
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.004,
            "low": np.minimum(open_, close) * 0.996,
            "close": close,
            "volume": np.full(n, 1_000.0),
        },
        index=index,
    )


@pytest.fixture(scope="session")
def daily() -> pd.DataFrame:
    """700 business days of bars."""
    return random_walk(700)


@pytest.fixture(scope="session")
def daily_with_indicators() -> pd.DataFrame:
    from algotrader.indicators import compute_indicators

    frame = random_walk(700, seed=5)
    indicators = compute_indicators(frame)
    return frame.join(indicators[[c for c in indicators.columns if c not in frame.columns]])


@pytest.fixture(scope="session")
def walk():  # type: ignore[no-untyped-def]
    """The :func:`random_walk` builder, for tests that need their own bars."""
    return random_walk


def daily_test_bars(n: int, start: str = "2020-01-01", seed: int = 1) -> pd.DataFrame:
    """``n`` daily bars of a seeded random walk, for the store and pipeline tests."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    index = pd.date_range(start, periods=n, freq="D", tz="UTC", name="ts")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": rng.integers(100, 10_000, n).astype(float),
        },
        index=index,
    )


def bar_store_for_test(url: str) -> SqlBarStore:
    """The bar store of the database at ``url``, with the instrument ``TEST`` registered."""
    db = open_database(url)
    SqlInstrumentStore(db).ensure(InstrumentInfo("TEST"), "test")
    return SqlBarStore(db)


def pytest_configure(config: pytest.Config) -> None:
    """Compile the backtest kernel and the indicators once, in the controlling process, before
    pytest-xdist starts its workers: on a fresh clone each worker would otherwise compile the
    same numba code at the same time (over a minute each here); the workers load numba's cache."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    from algotrader.backtest import run_backtest
    from algotrader.indicators import compute_indicators
    from algotrader.strategies import get_strategy

    bars = build_frame(100.0 + np.sin(np.arange(60.0)))
    run_backtest(bars, get_strategy("ma_cross", fast=2, slow=5)).equity.to_numpy()
    compute_indicators(bars)
