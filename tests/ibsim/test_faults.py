"""Injected faults and loud failures: pacing, drops, clientId conflicts, latency, unknown ids."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from ib_async import IB, Stock

from algotrader.ibsim import Faults, IBSimulator, SimulatorError
from algotrader.ibsim.protocol import In

AAPL = Stock("AAPL", "SMART", "USD")


def _bars(ib: IB, duration: str = "5 D") -> Any:
    return ib.reqHistoricalDataAsync(AAPL, "", duration, "1 day", "TRADES", True, timeout=3)


def test_pacing_violations_answer_the_numbered_requests(
    run_with_ib: Callable[..., Any], make_config: Callable[..., Any]
) -> None:
    errors: list[tuple[int, str]] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
        assert len(await _bars(ib)) == 5
        assert list(await _bars(ib)) == []  # request 2
        assert len(await _bars(ib)) == 5
        assert list(await _bars(ib)) == []  # request 4
        assert sim.historical_requests == 4

    run_with_ib(body, make_config(faults=Faults(pacing_violations=frozenset({2, 4}))))
    assert errors == 2 * [(162, "Historical Market Data Service error message:"
                                "Historical data request pacing violation")]


def test_the_wall_clock_pacing_limit_refuses_requests_over_the_limit(
    run_with_ib: Callable[..., Any], make_config: Callable[..., Any]
) -> None:
    # IB's own rule, for interactive use; the window (an hour) cannot pass during the test.
    codes: list[int] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        ib.errorEvent += lambda req_id, code, text, contract: codes.append(code)
        assert len(await _bars(ib)) == 5
        assert len(await _bars(ib)) == 5
        assert list(await _bars(ib)) == []

    run_with_ib(body, make_config(faults=Faults(pacing_limit=2, pacing_window=3600)))
    assert codes == [162]


def test_silent_requests_are_never_answered_and_the_others_are(
    run_with_ib: Callable[..., Any], make_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        # ib_async gives up on a request after its timeout and returns no bars.
        assert list(await ib.reqHistoricalDataAsync(
            AAPL, "", "5 D", "1 day", "TRADES", True, timeout=1)) == []
        assert len(await _bars(ib)) == 5  # request 2 is answered
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ib.reqCurrentTimeAsync(), 1)
        [details] = await ib.reqContractDetailsAsync(AAPL)  # other messages still answered
        assert details.contract.conId == 265598

    faults = Faults(silent_historical_requests=frozenset({1}),
                    silent_messages=frozenset({In.REQ_CURRENT_TIME}))
    run_with_ib(body, make_config(faults=faults))


def test_no_data_symbols(run_with_ib: Callable[..., Any], make_config: Callable[..., Any]) -> None:
    errors: list[tuple[int, str]] = []

    async def body(sim: IBSimulator, ib: IB) -> None:
        ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
        assert list(await _bars(ib)) == []

    run_with_ib(body, make_config(faults=Faults(no_data_symbols=frozenset({"AAPL"}))))
    assert errors == [(162, "Historical Market Data Service error message:"
                            "HMDS query returned no data: AAPL@SMART Trades")]


def test_connection_drop_mid_request_then_reconnect(
    run_with_ib: Callable[..., Any], make_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        dropped: list[bool] = []
        ib.disconnectedEvent += lambda: dropped.append(True)
        assert len(await _bars(ib)) == 5
        with pytest.raises(ConnectionError):
            await _bars(ib)
        await asyncio.sleep(0.01)
        assert dropped and not ib.isConnected()
        await ib.connectAsync(sim.host, sim.port, clientId=1, timeout=2)
        assert len(await _bars(ib)) == 5
        assert sim.historical_requests == 3

    run_with_ib(body, make_config(faults=Faults(drop_on_historical_request=2)))


def test_client_id_in_use_fails_connect(
    run_with_ib: Callable[..., Any], make_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        other = IB()
        codes: list[int] = []
        other.errorEvent += lambda req_id, code, text, contract: codes.append(code)
        with pytest.raises(asyncio.TimeoutError):
            # ib_async only notices when its own timeout expires (research: TWS closes the
            # socket before nextValidId, so apiStart never comes).
            # The simulator refuses only after giving a closing socket a second to go.
            await other.connectAsync(sim.host, sim.port, clientId=1, timeout=5)
        assert codes == [326] and not other.isConnected()
        with pytest.raises(asyncio.TimeoutError):
            await other.connectAsync(sim.host, sim.port, clientId=9, timeout=1)
        await other.connectAsync(sim.host, sim.port, clientId=2, timeout=2)
        assert sim.connected_client_ids == {1, 2}
        other.disconnect()

    run_with_ib(body, make_config(faults=Faults(client_ids_in_use=frozenset({9}))))


def test_latency_still_answers_every_request_in_order(
    run_with_ib: Callable[..., Any], make_config: Callable[..., Any]
) -> None:
    async def body(sim: IBSimulator, ib: IB) -> None:
        now = await ib.reqCurrentTimeAsync()
        bars, again = await asyncio.gather(_bars(ib), ib.reqCurrentTimeAsync())
        assert len(bars) == 5 and now == again

    run_with_ib(body, make_config(faults=Faults(latency=0.05)))


def test_unknown_message_id_is_loud(make_config: Callable[..., Any]) -> None:
    async def main() -> None:
        async with IBSimulator(make_config()) as sim:
            ib = IB()
            await ib.connectAsync(sim.host, sim.port, clientId=1, timeout=2)
            dropped: list[bool] = []
            ib.disconnectedEvent += lambda: dropped.append(True)
            ib.client.send(24, 1)  # reqScannerParameters: not a request ibsim knows
            for _ in range(500):
                if dropped:
                    break
                await asyncio.sleep(0.01)
            assert dropped, "strict mode hangs up on an unknown message"
            assert "unknown message id 24" in sim.failures[0]

    with pytest.raises(SimulatorError, match="unknown message id 24"):
        asyncio.run(main())


def test_unknown_message_id_only_logs_when_not_strict(
    make_config: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with IBSimulator(make_config(strict=False)) as sim:
            ib = IB()
            await ib.connectAsync(sim.host, sim.port, clientId=1, timeout=2)
            codes: list[tuple[int, int]] = []
            ib.errorEvent += lambda req_id, code, text, contract: codes.append((req_id, code))
            ib.client.send(24, 1)
            assert await ib.reqCurrentTimeAsync()  # still served
            assert ib.isConnected() and len(sim.failures) == 1
            assert codes == [(-1, 321)]  # answered at once, not left waiting
            ib.disconnect()
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert "unknown message id 24" in caplog.text


def test_client_without_version_178_is_refused(
    make_config: Callable[..., Any], raw_client: Any
) -> None:
    async def main() -> None:
        async with IBSimulator(make_config()) as sim:
            client = await raw_client.open(sim.port, versions=b"v100..176")
            with pytest.raises(asyncio.IncompleteReadError):
                await client.read()
            await client.close()

    with pytest.raises(SimulatorError, match=r"offers API versions 100\.\.176"):
        asyncio.run(main())
