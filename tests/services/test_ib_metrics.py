"""IB metrics of an ingest through the simulator (the real ib_async client on a real socket).

The IB adapter counts its requests, pacing waits, error codes and reconnects as it makes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from algotrader.app.ingest import IngestRequest, IngestWindow, ingest
from algotrader.config import load_settings
from algotrader.errors import UserError
from algotrader.ibsim import SimConfig, start_in_thread
from algotrader.observability import REGISTRY
from algotrader.timeframes import RESOLUTIONS, Duration

NOW = datetime(2024, 6, 14, 20, 30, tzinfo=UTC)  # a Friday after the close


def _now() -> datetime:
    return NOW


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_ib_ingest_counts_requests_and_error_codes(tmp_path: Path) -> None:
    sim = start_in_thread(SimConfig(clock=_now, tick_interval=0.05))
    try:
        settings = load_settings(database_url=f"sqlite:///{tmp_path / 'ib.db'}",
                                 ib_host=sim.host, ib_port=sim.port, ib_client_id=31,
                                 log_dir=str(tmp_path))  # fmt: skip
        before = (_value("algotrader_ib_requests_total", kind="historical_data"),
                  _value("algotrader_ib_errors_total", code="200"))  # fmt: skip
        window = IngestWindow(duration=Duration(1, "M"), end=NOW)
        ingest(settings, IngestRequest(("AAPL",), (RESOLUTIONS["1d"],), window, source="ibsim"))
        with pytest.raises(UserError):  # IB answers an unknown symbol with error 200
            ingest(settings, IngestRequest(("ZZZZQ",), (RESOLUTIONS["1d"],), window,
                                           source="ibsim"))  # fmt: skip
    finally:
        sim.stop()
    assert _value("algotrader_ib_requests_total", kind="historical_data") >= before[0] + 1
    assert _value("algotrader_ib_errors_total", code="200") == before[1] + 1
