"""Shared helpers for the live-trading IB adapters against the simulator's replay feed.

Each test drives its own event loop with ``asyncio.run``: the simulator (step mode: the feed
moves only on ``sim.advance``) and the real ``ib_async`` client share it over a loopback socket.
Waits poll a condition; their timeouts only guard against a hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from algotrader.config import Settings, load_settings
from algotrader.ibkr.history import HistoricalPacer, PacingRules, RetryPolicy
from algotrader.ibsim import FeedConfig, IBSimulator, SimConfig

# The Monday of a fixed week: the synthetic feed has whole sessions of 1-minute bars from here.
FEED_START = datetime(2024, 6, 10, tzinfo=UTC)
# Tiny back-off: the faults are counted, never timed.
FAST_RETRY = RetryPolicy(attempts=40, base_delay=0.02, factor=1.5, max_delay=0.2,
                         request_timeout=10.0)  # fmt: skip


def fast_pacer() -> HistoricalPacer:
    """A pacer with IB's rules shrunk to nothing (the simulator injects the violations)."""
    return HistoricalPacer(PacingRules(identical_interval=0.0, per_contract_window=0.0))


def feed_config(symbols: tuple[str, ...], history_bars: int = 5, **overrides: Any) -> SimConfig:
    """A strict simulator replaying synthetic 1-minute bars of ``symbols`` in step mode."""
    feed = overrides.pop("feed", None) or FeedConfig(
        symbols, "1m", history_bars=history_bars, start=FEED_START
    )
    return replace(SimConfig(tick_interval=0.02), feed=feed, **overrides)


def settings_for(sim: IBSimulator, client_id: int = 3, **changes: Any) -> Settings:
    values: dict[str, Any] = {"ib_timeout": 5.0, **changes}
    return load_settings(ib_port=sim.port, ib_client_id=client_id, **values)


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for ``predicate`` (polling); the timeout only guards against a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


def hold_client(sim: IBSimulator, client_id: int, held: bool) -> None:
    """Refuse (or accept again) ``client_id`` at connect, as if another app held it: keeps a
    dropped client away while the feed moves on, so what it misses is known."""
    ids = set(sim.faults.client_ids_in_use)
    ids = ids | {client_id} if held else ids - {client_id}
    sim.faults = replace(sim.faults, client_ids_in_use=frozenset(ids))
