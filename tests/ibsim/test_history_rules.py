"""How the simulator reads endDateTime, durationStr and barSizeSetting; and its CLI command."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

from algotrader.cli.ibsim import register
from algotrader.ibsim.history import (
    RequestRejected,
    duration_for,
    parse_end,
    request_window,
    resolution_for,
)
from algotrader.ibsim.protocol import parse_handshake_versions
from algotrader.timeframes import RESOLUTIONS, Duration

NY = ZoneInfo("US/Eastern")
NOW = datetime(2024, 6, 16, 12, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize(
    ("text", "expected", "zone_missing"),
    [
        ("", NOW, False),
        ("20240612 16:00:00 UTC", datetime(2024, 6, 12, 16, tzinfo=UTC), False),
        ("20240612-16:00:00", datetime(2024, 6, 12, 16, tzinfo=UTC), False),
        ("20240612 16:00:00 US/Eastern", datetime(2024, 6, 12, 20, tzinfo=UTC), False),
        ("20240612 16:00:00", datetime(2024, 6, 12, 20, tzinfo=UTC), True),
        ("20300101-00:00:00", NOW, False),  # no future
    ],
)
def test_end_forms(text: str, expected: datetime, zone_missing: bool) -> None:
    end = parse_end(text, NOW, NY)
    assert (end.at, end.zone_missing) == (expected, zone_missing)


@pytest.mark.parametrize(
    "text", ["2024-06-12", "20240612 25:00:00 UTC", "20240612 16:00:00 Mars/X"]
)
def test_bad_end_is_10314(text: str) -> None:
    with pytest.raises(RequestRejected) as err:
        parse_end(text, NOW, NY)
    assert err.value.code == 10314


def test_bar_sizes_and_duration_limits() -> None:
    assert resolution_for("1 min") is RESOLUTIONS["1m"]
    assert resolution_for("1 week") is RESOLUTIONS["1w"]
    with pytest.raises(RequestRejected) as unknown:
        resolution_for("7 mins")
    assert unknown.value.code == 321
    with pytest.raises(RequestRejected) as unsimulated:
        resolution_for("2 mins")
    assert unsimulated.value.code == 162
    assert duration_for("30 Y", "1 day") == Duration(30, "Y")
    assert duration_for("7 D", "1 min") == Duration(7, "D")
    for text, bar in [("8 D", "1 min"), ("2 M", "5 mins"), ("31 Y", "1 day")]:
        with pytest.raises(RequestRejected, match="Time length exceed max"):
            duration_for(text, bar)
    with pytest.raises(RequestRejected) as bad:
        duration_for("5 years", "1 day")
    assert bad.value.code == 321


def test_day_durations_count_sessions() -> None:
    # "1 D" on a Sunday is Friday's session; "2 D" adds Thursday.
    start, end = request_window(NOW, Duration(1, "D"), RESOLUTIONS["1m"], NY)
    assert start == datetime(2024, 6, 14, 4, tzinfo=UTC) and end == NOW
    start, _ = request_window(NOW, Duration(2, "D"), RESOLUTIONS["1m"], NY)
    assert start == datetime(2024, 6, 13, 4, tzinfo=UTC)
    # daily bars are keyed 00:00 UTC of the session date
    start, end = request_window(NOW, Duration(5, "D"), RESOLUTIONS["1d"], NY)
    assert (start, end) == (datetime(2024, 6, 10, tzinfo=UTC), datetime(2024, 6, 15, tzinfo=UTC))
    # weekly bars by their Monday
    start, _ = request_window(NOW, Duration(1, "M"), RESOLUTIONS["1w"], NY)
    assert start == datetime(2024, 5, 13, tzinfo=UTC)


def test_day_durations_skip_exchange_holidays() -> None:
    # Friday 2024-07-05: "2 D" is Friday and Wednesday (Independence Day is no session).
    friday = datetime(2024, 7, 5, 21, tzinfo=UTC)
    start, _ = request_window(friday, Duration(2, "D"), RESOLUTIONS["1m"], NY)
    assert start == datetime(2024, 7, 3, 4, tzinfo=UTC)
    start, end = request_window(friday, Duration(2, "D"), RESOLUTIONS["1d"], NY)
    assert (start, end) == (datetime(2024, 7, 3, tzinfo=UTC), datetime(2024, 7, 6, tzinfo=UTC))


def test_a_calendar_span_keeps_the_daily_bar_of_the_day_it_starts_on() -> None:
    # "1 W" ending Friday 16:30 New York starts Friday a week before, 16:30: that Friday's
    # daily bar (keyed 00:00 UTC) belongs to the window.
    friday = datetime(2024, 6, 14, 20, 30, tzinfo=UTC)
    start, end = request_window(friday, Duration(1, "W"), RESOLUTIONS["1d"], NY)
    assert (start, end) == (datetime(2024, 6, 7, tzinfo=UTC), datetime(2024, 6, 15, tzinfo=UTC))


def test_handshake_versions() -> None:
    assert parse_handshake_versions("v157..178") == (157, 178)
    assert parse_handshake_versions("v157..178 +PACEAPI") == (157, 178)
    assert parse_handshake_versions("v100") == (100, 100)


def test_cli_registers_ib_sim() -> None:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps typer from flattening the group
        pass

    result = CliRunner().invoke(app, ["ib-sim", "--help"])
    assert result.exit_code == 0
    for flag in ("--port", "--host", "--account", "--pacing-limit", "--latency", "--no-data",
                 "--drop-on-request"):
        assert flag in result.output
