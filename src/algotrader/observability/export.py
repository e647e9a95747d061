"""Getting the metrics of a one-shot command out: a textfile or a Pushgateway.

A service is scraped while it runs; a command such as ``algotrader ingest`` ends before any scrape.
With ``ALGOTRADER_METRICS_TEXTFILE`` its metrics are written, atomically, to a file that
node_exporter's textfile collector serves (``{command}`` in the path is replaced by the command's
name, so commands do not overwrite each other's file). With ``ALGOTRADER_METRICS_PUSHGATEWAY``
they are pushed (PUT, replacing the command's previous push) under ``job="algotrader"`` and a
``command`` grouping key. Both record when the command last ran and whether it succeeded.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from prometheus_client import Gauge, push_to_gateway, write_to_textfile

from algotrader.observability.metrics import REGISTRY

log = logging.getLogger(__name__)

COMMAND_LAST_RUN = Gauge(
    "algotrader_command_last_run_timestamp_seconds",
    "When this one-shot command last ended (Unix time).",
    ["command"],
    registry=REGISTRY,
)
COMMAND_SUCCESS = Gauge(
    "algotrader_command_success",
    "1 if the command's last run succeeded, else 0.",
    ["command"],
    registry=REGISTRY,
)


def export(command: str, *, succeeded: bool, textfile: str | None, pushgateway: str | None) -> None:
    """Record the run of ``command`` and write/push the registry as configured.

    Export problems are logged, never raised: metrics must not turn a successful command into a
    failed one.
    """
    if not textfile and not pushgateway:
        return
    COMMAND_LAST_RUN.labels(command).set(time.time())
    COMMAND_SUCCESS.labels(command).set(1 if succeeded else 0)
    if textfile:
        path = Path(textfile.replace("{command}", command))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_to_textfile(str(path), REGISTRY)
        except OSError as exc:
            log.warning("could not write the metrics textfile %s: %s", path, exc)
    if pushgateway:
        try:
            push_to_gateway(
                pushgateway, job="algotrader", grouping_key={"command": command}, registry=REGISTRY
            )
        except OSError as exc:
            log.warning("could not push metrics to %s: %s", pushgateway, exc)
