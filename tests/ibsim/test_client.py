"""The unmodified ib_async client against the simulator: connect, contracts, history, account."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ib_async import IB, Stock

from algotrader.calendars import exchange_sessions
from algotrader.ibsim import IBSimulator, start_in_thread


def test_connect_answers_every_start_up_request(run_with_ib: Callable[..., Any]) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        # raiseSyncErrors: a start-up request left unanswered fails the connect.
        await ib.connectAsync(sim.host, sim.port, clientId=7, timeout=10, raiseSyncErrors=True)
        assert ib.client.serverVersion() == 178
        assert ib.managedAccounts() == ["DU1234567"]
        assert ib.positions() == [] and ib.openTrades() == []
        assert {v.tag for v in ib.accountValues()} >= {"NetLiquidation", "TotalCashValue"}
        assert sim.connected_client_ids == {7}

    run_with_ib(body, connect=False)


def test_qualify_known_and_unknown(run_with_ib: Callable[..., Any]) -> None:
    errors: list[tuple[int, int, str]] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        ib.errorEvent += lambda req_id, code, text, contract: errors.append((req_id, code, text))
        aapl, bogus = Stock("AAPL", "SMART", "USD"), Stock("NOPE", "SMART", "USD")
        result = await ib.qualifyContractsAsync(aapl, bogus)
        assert result == [aapl, None]
        assert (aapl.conId, aapl.primaryExchange, aapl.exchange, aapl.tradingClass) == (
            265598, "NASDAQ", "SMART", "NMS")
        [details] = await ib.reqContractDetailsAsync(Stock("MSFT", "SMART", "USD"))
        assert details.longName == "MICROSOFT CORP" and details.timeZoneId == "US/Eastern"

    run_with_ib(body)
    assert [(code, text) for _, code, text in errors] == [
        (200, "No security definition has been found for the request")]


def test_five_years_of_daily_bars(run_with_ib: Callable[..., Any]) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        bars = await ib.reqHistoricalDataAsync(
            Stock("AAPL", "SMART", "USD"), "", "5 Y", "1 day", "TRADES", True, timeout=5)
        # NYSE sessions from 2019-06-14 (the window starts during that day) to 2024-06-14.
        assert len(bars) == len(exchange_sessions().sessions(date(2019, 6, 14), date(2024, 6, 14)))
        assert all(type(b.date) is date for b in bars)
        assert bars[-1].date == date(2024, 6, 14) and bars[0].date >= date(2019, 6, 14)
        assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)
        assert all(b.volume > 0 and b.barCount > 0 for b in bars)

    run_with_ib(body)


def test_minute_bars_in_both_date_formats(run_with_ib: Callable[..., Any]) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = Stock("AAPL", "SMART", "USD")
        eastern = await ib.reqHistoricalDataAsync(
            aapl, "20240612 16:00:00 US/Eastern", "1 D", "1 min", "TRADES", True, 1, timeout=5)
        utc = await ib.reqHistoricalDataAsync(
            aapl, datetime(2024, 6, 12, 20, tzinfo=UTC), "1 D", "1 min", "TRADES", True, 2,
            timeout=5)
        assert len(eastern) == len(utc) == 390
        assert eastern[0].date == datetime(2024, 6, 12, 9, 30, tzinfo=ZoneInfo("US/Eastern"))
        assert eastern[0].date.tzinfo == ZoneInfo("US/Eastern")
        assert utc[0].date == datetime(2024, 6, 12, 13, 30, tzinfo=UTC)
        assert utc[0].date.tzinfo is UTC
        assert [b.close for b in eastern] == [b.close for b in utc]
        # the UTC dash form means the same instant
        dash = await ib.reqHistoricalDataAsync(
            aapl, "20240612-20:00:00", "1 D", "1 min", "TRADES", True, 2, timeout=5)
        assert [b.date for b in dash] == [b.date for b in utc]

    run_with_ib(body)


def test_midpoint_bars_carry_minus_one_volume(run_with_ib: Callable[..., Any]) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        bars = await ib.reqHistoricalDataAsync(
            Stock("SPY", "SMART", "USD"), "", "3 D", "1 hour", "MIDPOINT", True, 2, timeout=5)
        assert len(bars) == 3 * 7
        assert {(b.volume, b.average, b.barCount) for b in bars} == {(-1.0, -1.0, -1)}

    run_with_ib(body)


def test_duration_over_ib_limit_is_rejected_with_162(run_with_ib: Callable[..., Any]) -> None:
    errors: list[tuple[int, str]] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
        bars = await ib.reqHistoricalDataAsync(
            Stock("AAPL", "SMART", "USD"), "", "2 W", "1 min", "TRADES", True, 2, timeout=5)
        assert list(bars) == []
        ok = await ib.reqHistoricalDataAsync(
            Stock("AAPL", "SMART", "USD"), "", "1 W", "1 min", "TRADES", True, 2, timeout=5)
        assert len(ok) == 5 * 390

    run_with_ib(body)
    assert errors == [
        (162, "Historical Market Data Service error message:Time length exceed max.")]


def test_end_without_zone_warns_2174_and_bad_end_is_10314(
    run_with_ib: Callable[..., Any],
) -> None:
    codes: list[int] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        ib.errorEvent += lambda req_id, code, text, contract: codes.append(code)
        aapl = Stock("AAPL", "SMART", "USD")
        bars = await ib.reqHistoricalDataAsync(
            aapl, "20240612 16:00:00", "1 D", "1 hour", "TRADES", True, timeout=5)
        assert len(bars) == 7  # taken in the login zone (US/Eastern), as TWS does
        assert list(await ib.reqHistoricalDataAsync(
            aapl, "June 12", "1 D", "1 hour", "TRADES", True, timeout=5)) == []

    run_with_ib(body)
    assert codes == [2174, 10314]


def test_head_timestamp_current_time_account_summary(
    run_with_ib: Callable[..., Any], fixed_now: datetime
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = Stock("AAPL", "SMART", "USD")
        assert await ib.reqHeadTimeStampAsync(aapl, "TRADES", True, 2) == datetime(
            2000, 1, 3, tzinfo=UTC)
        naive = await ib.reqHeadTimeStampAsync(aapl, "TRADES", True, 1)
        assert naive.tzinfo is None  # formatDate 1: TWS's UTC notation, parsed naive
        assert naive == datetime(2000, 1, 3, tzinfo=UTC).replace(tzinfo=None)
        assert await ib.reqCurrentTimeAsync() == fixed_now
        summary = {v.tag: v for v in await ib.accountSummaryAsync()}
        assert summary["NetLiquidation"].value == "1000000.00"
        assert summary["NetLiquidation"].currency == "USD"
        assert summary["AccountType"].value == "INDIVIDUAL"
        assert summary["BuyingPower"].account == "DU1234567"

    run_with_ib(body)


def test_blocking_api_against_a_threaded_simulator(make_config: Callable[..., Any]) -> None:
    with start_in_thread(make_config()) as handle:
        ib = IB()
        try:
            ib.connect(handle.host, handle.port, clientId=3, timeout=2)
            [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
            bars = ib.reqHistoricalData(aapl, "", "10 D", "1 day", "TRADES", True, timeout=5)
            assert len(bars) == 10 and bars[-1].date == date(2024, 6, 14)
            assert handle.call(lambda: handle.sim.connected_client_ids) == {3}
        finally:
            ib.disconnect()


def test_outside_regular_hours_serves_the_extended_session(
    run_with_ib: Callable[..., Any],
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        aapl = Stock("AAPL", "SMART", "USD")
        end = "20240612 20:00:00 US/Eastern"
        extended = await ib.reqHistoricalDataAsync(aapl, end, "1 D", "1 hour", "TRADES", False,
                                                   timeout=5)
        regular = await ib.reqHistoricalDataAsync(aapl, end, "1 D", "1 hour", "TRADES", True,
                                                  timeout=5)
        hours = [b.date.strftime("%H:%M") for b in extended]
        assert hours == [f"{h:02d}:00" for h in range(4, 20)]
        assert [b.date.strftime("%H:%M") for b in regular] == [
            "09:30", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00"]
        [details] = await ib.reqContractDetailsAsync(aapl)
        # What the contract details promise is what the bars cover; Juneteenth is closed.
        assert details.tradingHours.startswith("20240614:0400-20240614:2000;20240615:CLOSED")
        assert "20240619:CLOSED" in details.tradingHours
        assert "20240618:0930-20240618:1600" in details.liquidHours

    run_with_ib(body)
