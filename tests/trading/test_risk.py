"""The pre-trade risk layer: each rule rejects what it should (with a reason naming it), lets
position-reducing orders through, and runs on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from algotrader.errors import InvalidInputError
from algotrader.trading.risk import RiskGate, RiskLimits

T0 = datetime(2024, 3, 8, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _gate(**limits: float) -> tuple[RiskGate, Clock]:
    clock = Clock()
    return RiskGate(RiskLimits(**limits), clock), clock  # type: ignore[arg-type]


def test_max_position_per_symbol_in_shares_and_value() -> None:
    gate, _ = _gate(max_position=100, max_position_value=5_000)
    assert gate.check("AAPL", 40, 100.0) is None
    assert "max position 100" in (gate.check("AAPL", 101, 10.0) or "")
    assert "max position value 5,000.00" in (gate.check("AAPL", 60, 100.0) or "")
    gate.ledger.fill("AAPL", 90, 10.0, 0.0)
    assert gate.check("AAPL", 20, 10.0) is not None  # 110 shares
    assert gate.check("AAPL", -50, 10.0) is None  # reduces


def test_max_gross_exposure_counts_every_symbol_at_its_last_price() -> None:
    gate, _ = _gate(max_gross_exposure=10_000)
    gate.ledger.fill("AAPL", 50, 100.0, 0.0)
    gate.mark("AAPL", 120.0)  # 6,000 held
    assert gate.check("MSFT", 30, 100.0) is None  # 9,000
    assert "max gross exposure" in (gate.check("MSFT", 50, 100.0) or "")  # 11,000
    assert gate.check("AAPL", -50, 120.0) is None  # flattening always passes


def test_max_orders_per_minute_on_the_injected_clock() -> None:
    gate, clock = _gate(max_orders_per_minute=2)
    for _ in range(2):
        assert gate.check("AAPL", 1, 10.0) is None
        gate.sent()
    assert "max orders per minute 2" in (gate.check("AAPL", 1, 10.0) or "")
    clock.now += timedelta(seconds=59)
    assert gate.check("AAPL", 1, 10.0) is not None
    clock.now += timedelta(seconds=1)
    assert gate.check("AAPL", 1, 10.0) is None


def test_daily_loss_limit_stops_new_positions_until_the_next_day() -> None:
    gate, clock = _gate(daily_loss_limit=500)
    gate.ledger.fill("AAPL", 100, 100.0, 0.0)
    gate.mark("AAPL", 100.0)  # the day starts here
    gate.mark("AAPL", 96.0)  # -400
    assert gate.check("MSFT", 10, 50.0) is None
    gate.mark("AAPL", 94.0)  # -600
    assert "daily loss limit 500.00" in (gate.check("MSFT", 10, 50.0) or "")
    assert gate.check("AAPL", -100, 94.0) is None  # closing is allowed
    gate.mark("AAPL", 99.0)  # recovered, but the halt holds for the day
    assert gate.check("MSFT", 10, 50.0) is not None
    assert gate.halt_ends() == datetime(2024, 3, 9, tzinfo=UTC)
    clock.now += timedelta(days=1)
    gate.mark("AAPL", 99.0)
    assert gate.check("MSFT", 10, 50.0) is None


def test_the_kill_switch_rejects_everything() -> None:
    gate, _ = _gate()
    assert gate.check("AAPL", 1, 10.0) is None
    gate.kill()
    assert "kill switch" in (gate.check("AAPL", 1, 10.0) or "")


@pytest.mark.parametrize("field", ["max_position", "max_gross_exposure", "daily_loss_limit"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(InvalidInputError, match="--" + field.replace("_", "-")):
        RiskLimits(**{field: 0})  # type: ignore[arg-type]
