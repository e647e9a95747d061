"""The metric definitions: Prometheus naming conventions, bounded labels."""

from __future__ import annotations

import random
import string
import subprocess

from prometheus_client import generate_latest
from tests.services.conftest import need_program

from algotrader.observability import REGISTRY
from algotrader.observability import metrics as m


def _label_values() -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            for name, value in sample.labels.items():
                if name != "le":
                    seen.setdefault(name, set()).add(value)
    return seen


def test_label_values_stay_within_known_lists_whatever_is_recorded() -> None:
    rng = random.Random(5)
    for _ in range(200):
        junk = "".join(rng.choices(string.ascii_letters + string.digits, k=12))
        m.record_ingest(junk, junk, fetched=1, stored=1, seconds=0.1)
        m.record_ingest_failure(junk, "1d")
        m.record_backtest(junk, 0.01)
        m.record_job(junk, junk, 0.01)
        m.record_refresh(junk, junk, 0.5)
        m.record_ib_request(junk)
        m.record_ib_error(rng.randrange(100_000))
        m.record_order_status(junk)
    allowed = {
        "source": {*m.SOURCES, m.OTHER},
        "resolution": {*m.RESOLUTIONS, m.OTHER},
        "kind": {*m.IB_REQUEST_KINDS, *m.JOB_KINDS, m.OTHER},
        "code": {*m.IB_ERROR_CODES, m.OTHER},
        "outcome": {*m.INGEST_OUTCOMES, *m.JOB_OUTCOMES, *m.REFRESH_OUTCOMES, m.OTHER},
        "status": {*m.ORDER_STATUSES, m.OTHER},
        "command": None,
    }
    for label, values in _label_values().items():
        assert label in allowed, f"unexpected label {label!r}"
        if allowed[label] is not None:
            assert values <= allowed[label], (label, values - allowed[label])  # type: ignore[operator]


def test_the_exposition_passes_promtool_s_naming_lint() -> None:
    promtool = need_program("promtool")
    text = generate_latest(REGISTRY)
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert b"algotrader_ib_errors_total{code=\"162\"}" in text  # known series exist at zero


def test_every_metric_is_prefixed_and_counters_end_in_total() -> None:
    for family in REGISTRY.collect():
        assert family.name.startswith("algotrader_"), family.name
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
