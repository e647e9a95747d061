"""``algotrader orders place|cancel|list`` and the seed shims ``python -m scripts.place_order`` /
``scripts.cancel_order``, against the simulator running in a background thread.

In-process runs call ``main([...])`` (the console script's entry point); the shims run as real
``python -m`` subprocesses from the checkout's root.
"""

from __future__ import annotations

import os
import re
import runpy
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from algotrader.cli.app import main
from algotrader.db.engine import open_database
from algotrader.db.orders import SqlOrderLog as OrderLog
from algotrader.ibsim import Faults, SimConfig, SimulatorThread, start_in_thread
from algotrader.ports.orders import StoredOrder

ROOT = Path(__file__).resolve().parents[2]
FIXED_NOW = datetime(2024, 6, 14, 20, 30, tzinfo=UTC)
LINE = re.compile(
    r"^Order (\d+) \(IB (\d+), ref ([\w.:-]+)\): (.+) -> (.+) \((paper|LIVE) account (\w+)\)$"
)


def _config(**overrides: Any) -> SimConfig:
    return replace(SimConfig(clock=lambda: FIXED_NOW, tick_interval=0.02), **overrides)


@pytest.fixture
def sim(workdir: Path) -> Iterator[SimulatorThread]:
    with start_in_thread(_config()) as handle:
        yield handle


@pytest.fixture
def env(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALGOTRADER_DATA_DIR", str(workdir / "data"))
    monkeypatch.setenv("ALGOTRADER_LOG_DIR", str(workdir / "logs"))
    monkeypatch.setenv("ALGOTRADER_IB_TIMEOUT", "5")
    return workdir


def _run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    code = main(["--database-url", url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def _stored(url: str) -> list[StoredOrder]:
    db = open_database(url)
    try:
        return OrderLog(db).recent()
    finally:
        db.dispose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_place_market_order_prints_the_fill_and_list_shows_it(
    db_url: str, env: Path, sim: SimulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    port = str(sim.port)
    code, out, err = _run(capsys, db_url, "orders", "place", "--symbol", "TSLA", "--action",
                          "BUY", "--quantity", "1", "--port", port)
    assert (code, err) == (0, "")
    first, hint = out.splitlines()
    match = LINE.match(first)
    assert match is not None, first
    order_id, ib_id, ref, terms, state, kind, account = match.groups()
    [execution] = sim.call(lambda: list(sim.sim.book.executions))
    assert (terms, state, kind, account) == (
        "BUY 1 TSLA MKT DAY", f"Filled 1 @ {execution.price:.2f}", "paper", "DU1234567")
    assert hint == f"To retry this order safely, re-run with --ref {ref.rsplit('-', 1)[0]}"
    [stored] = _stored(db_url)
    assert (str(stored.id), str(stored.ib_order_id), stored.client_ref) == (order_id, ib_id, ref)
    assert stored.status_history[-1]["status"] == "Filled"

    code, out, err = _run(capsys, db_url, "orders", "list")
    assert (code, err) == (0, "")
    assert ref in out and f"Filled 1 @ {execution.price:.2f}" in out


def test_seed_scripts_place_then_cancel_a_limit_order(
    env: Path, sim: SimulatorThread, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"sqlite:///{env / 'orders.db'}"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRADER_")}
    child_env.update(ALGOTRADER_DATABASE_URL=url, ALGOTRADER_IB_PORT=str(sim.port),
                     ALGOTRADER_LOG_DIR=str(env / "logs"), ALGOTRADER_DATA_DIR=str(env / "data"))

    def script(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=child_env,
                              capture_output=True, text=True, timeout=60)

    placed = script("scripts.place_order", "--symbol", "AAPL", "--action", "BUY",
                    "--quantity", "2", "--type", "LMT", "--price", "10", "--ref", "seed-1")
    assert placed.returncode == 0, placed.stderr
    assert re.search(r"BUY 2 AAPL LMT 10\.00 DAY -> Submitted \(paper account DU1234567\)$",
                     placed.stdout.strip())
    [order] = _stored(url)

    # The cancel shim in-process (runpy), in both of its forms: saves two interpreter starts.
    monkeypatch.syspath_prepend(str(ROOT))
    for key, value in child_env.items():
        if key.startswith("ALGOTRADER_"):
            monkeypatch.setenv(key, value)

    def shim(*argv: str) -> int:
        monkeypatch.setattr(sys, "argv", ["cancel_order", *argv])
        with pytest.raises(SystemExit) as done:
            runpy.run_module("scripts.cancel_order", run_name="__main__")
        return int(done.value.code or 0)

    assert shim("--order-id", str(order.id)) == 0
    out, err = capsys.readouterr()
    assert "-> Cancelled [202: Order Canceled - reason:]" in out and err == ""
    assert sim.call(lambda: [o.status for o in sim.sim.book.orders.values()]) == ["Cancelled"]

    assert shim(str(order.id)) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (
        f"error: order {order.id} is already Cancelled; nothing to cancel: "
        "see `algotrader orders list`\n"
    )


def test_same_ref_twice_places_one_order_and_reports_the_existing_one(
    db_url: str, env: Path, sim: SimulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("orders", "place", "-s", "AAPL", "-a", "SELL", "-q", "3", "--type", "LMT",
            "--price", "9999", "--tif", "GTC", "--ref", "nightly-7", "--port", str(sim.port))
    code, first, _ = _run(capsys, db_url, *args)
    assert code == 0 and "-> Submitted" in first
    code, second, err = _run(capsys, db_url, *args)
    assert (code, err) == (0, "")
    assert second == f"Already placed (not sent again): {first}"
    assert sim.call(lambda: len(sim.sim.book.orders)) == 1
    assert len(_stored(db_url)) == 1


def test_list_open_syncs_stored_orders_and_shows_the_gateways_open_orders(
    env: Path, sim: SimulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{env / 'orders.db'}"
    port = str(sim.port)
    sim.call(lambda: sim.sim.set_price("MSFT", 400.0))
    for price in ("300", "390"):
        code, _, err = _run(capsys, url, "orders", "place", "-s", "MSFT", "-a", "BUY", "-q",
                            "1", "-t", "LMT", "-p", price, "--ref", "r" + price, "--port", port)
        assert (code, err) == (0, "")
    ids = [(o.ib_order_id, o.client_id, o.perm_id) for o in _stored(url)]
    assert all(None not in row for row in ids)
    sim.call(lambda: sim.sim.set_price("MSFT", 389.0))  # fills the 390 limit only

    code, out, err = _run(capsys, url, "orders", "list", "--open", "--port", port)
    assert (code, err) == (0, "")
    assert re.search(r"^Updated: Order 2 .* -> Filled 1 @ 389\.00 ", out, re.M)
    open_part = out.split("Open orders at", 1)[1]
    assert "r300-" in open_part and "r390-" not in open_part
    assert [o.status for o in _stored(url)] == ["Submitted", "Filled"]
    # The gateway reports completed orders without IB order id and clientId: keep ours.
    assert [(o.ib_order_id, o.client_id, o.perm_id) for o in _stored(url)] == ids


def test_live_account_is_refused_without_live_and_accepted_with_it(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{env / 'orders.db'}"
    with start_in_thread(_config(account="U7654321")) as live_sim:
        args = ("orders", "place", "-s", "AAPL", "-a", "BUY", "-q", "1", "-t", "LMT", "-p",
                "1", "--port", str(live_sim.port))
        code, out, err = _run(capsys, url, *args)
        assert (code, out) == (2, "")
        assert err.startswith("error: refusing to trade account U7654321: it is not a paper")
        assert err.endswith("pass --live to place a real order\n") and err.count("\n") == 1
        assert live_sim.call(lambda: dict(live_sim.sim.book.orders)) == {}
        assert _stored(url) == []

        code, out, err = _run(capsys, url, *args, "--live")
        assert (code, err) == (0, "")
        assert "-> Submitted (LIVE account U7654321)" in out


def test_risk_refusal_exits_2_and_sends_nothing(
    env: Path, sim: SimulatorThread, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"sqlite:///{env / 'orders.db'}"
    monkeypatch.setenv("ALGOTRADER_ALLOWED_SYMBOLS", "SPY")
    code, out, err = _run(capsys, url, "orders", "place", "-s", "TSLA", "-a", "BUY", "-q", "1",
                          "--port", str(sim.port))
    assert (code, out) == (2, "")
    assert err == ("error: TSLA is not an allowed symbol (allowed: SPY): trade one of those, or "
                   "add it to ALGOTRADER_ALLOWED_SYMBOLS\n")
    assert sim.call(lambda: dict(sim.sim.book.orders)) == {} and _stored(url) == []


def test_gateway_down_exits_2_with_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{env / 'orders.db'}"
    port = _closed_port()
    code, out, err = _run(capsys, url, "orders", "place", "-s", "TSLA", "-a", "BUY", "-q", "1",
                          "--port", str(port))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: no TWS/IB Gateway answers at 127.0.0.1:{port}")
    assert f"run `algotrader ib-sim --port {port}`" in err and err.count("\n") == 1
    assert _stored(url) == []


def test_cancel_of_an_unknown_id_exits_2_with_one_line(
    db_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, db_url, "orders", "cancel", "77")
    assert (code, out) == (2, "")
    assert err == "error: no stored order 77: see `algotrader orders list` for the order ids\n"
    code, out, err = _run(capsys, db_url, "orders", "cancel", "77", "--ib")
    assert code == 2 and err.startswith("error: no stored order with IB order id 77:")


def test_invalid_order_exits_2_before_any_connection(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{env / 'orders.db'}"
    code, out, err = _run(capsys, url, "orders", "place", "-s", "TSLA", "-a", "BUY", "-q", "1",
                          "--type", "LMT", "--port", str(_closed_port()))
    assert (code, out) == (2, "")
    assert err == "error: a LMT order needs a limit price: pass --price, e.g. --price 250.00\n"


def test_every_order_and_status_change_goes_to_the_orders_log_file(
    env: Path, sim: SimulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{env / 'orders.db'}"
    port = str(sim.port)
    code, _, err = _run(capsys, url, "orders", "place", "-s", "AAPL", "-a", "BUY", "-q", "2",
                        "-t", "LMT", "-p", "10", "--ref", "logged", "--port", port)
    assert (code, err) == (0, "")
    code, _, err = _run(capsys, url, "orders", "cancel", "1", "--port", port)
    assert (code, err) == (0, "")
    [order] = _stored(url)
    lines = [line for line in (env / "logs" / "orders.log").read_text().splitlines()
             if f"order 1 (ref {order.client_ref})" in line]
    assert "stored: BUY 2 AAPL LMT 10.00 DAY, account DU1234567 (paper) -> PendingSubmit" \
        in lines[0]
    # One line per entry of the stored status history (the first is the order itself).
    assert len(lines) == len(order.status_history)
    for line, entry in zip(lines[1:], order.status_history[1:], strict=True):
        assert f": {entry['status']}" in line
    said = [m.group(1) for line in lines[1:] if (m := re.search(r"\): (\w+)", line))]
    assert said == ["PendingSubmit", "PreSubmitted", "Submitted", "PendingCancel", "Cancelled",
                    "Cancelled"]
    assert lines[-1].endswith("Cancelled [202: Order Canceled - reason:]")


@pytest.fixture
def rejecting_sim(workdir: Path) -> Iterator[SimulatorThread]:
    """A simulator that rejects the second order it receives (error 201, then Inactive)."""
    with start_in_thread(_config(faults=Faults(reject_orders=frozenset({2})))) as handle:
        yield handle


def test_a_rejected_order_exits_1_with_one_line_saying_why_and_is_stored(
    db_url: str, env: Path, rejecting_sim: SimulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = rejecting_sim
    place = ("orders", "place", "-s", "AAPL", "-a", "BUY", "-q", "1", "--port", str(sim.port))
    code, out, err = _run(capsys, db_url, *place, "--ref", "first")
    assert (code, err) == (0, "") and "-> Filled 1 @ " in out  # order 1 goes through

    code, out, err = _run(capsys, db_url, *place, "--ref", "second")
    assert (code, err) == (1, "")
    [line] = out.splitlines()
    match = LINE.match(line)
    assert match is not None, line
    order_id, ib_id, ref, terms, state, _, _ = match.groups()
    assert terms == "BUY 1 AAPL MKT DAY"
    assert re.fullmatch(r"Cancelled \[201: Order rejected - reason:.+\]", state), state
    assert sim.call(lambda: sim.sim.orders.received) == 2
    assert sim.call(lambda: len(sim.sim.book.executions)) == 1  # nothing filled for order 2

    stored = {o.client_ref: o for o in _stored(db_url)}
    rejected = stored[ref]
    assert (str(rejected.id), str(rejected.ib_order_id)) == (order_id, ib_id)
    assert (rejected.status, rejected.filled) == ("Cancelled", 0.0)
    assert rejected.message.startswith("201: Order rejected - reason:")
    assert rejected.message in state
    assert stored[next(r for r in stored if r != ref)].status == "Filled"

    code, out, err = _run(capsys, db_url, "orders", "list")
    assert (code, err) == (0, "")
    [row] = [row for row in out.splitlines() if ref in row]
    assert "Cancelled" in row


def test_a_rejected_order_with_a_generated_ref_prints_no_retry_hint(
    env: Path, rejecting_sim: SimulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """Re-running with the same --ref would only report the rejected order again, so the
    retry hint printed for a placed order would mislead here."""
    url = f"sqlite:///{env / 'orders.db'}"
    sim = rejecting_sim
    place = (
        "orders",
        "place",
        "-s",
        "AAPL",
        "-a",
        "SELL",
        "-q",
        "2",
        "-t",
        "LMT",
        "-p",
        "9999",
        "--port",
        str(sim.port),
    )
    code, out, _ = _run(capsys, url, *place)
    assert code == 0 and "-> Submitted" in out
    code, out, err = _run(capsys, url, *place)
    assert (code, err) == (1, "")
    [line] = out.splitlines()
    assert "-> Cancelled [201: Order rejected - reason:" in line
    assert [o.status for o in _stored(url)] == ["Submitted", "Cancelled"]
