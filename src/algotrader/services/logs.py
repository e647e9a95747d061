"""Service logging: one line per event on stdout, plain text or JSON.

With ``ALGOTRADER_LOG_FORMAT=json`` every line is one JSON object (``level``, ``logger``,
``message``, ``service``, ``time`` in ISO 8601 UTC; python-json-logger), ready for Loki,
Elasticsearch or ``jq``. The console stays quiet: the services' own lines (one per refresh or
job) at INFO, and warnings and errors from everything else (the ingest's per-series details go
to the rotating files under ``logs/`` as before). ``--verbose`` shows every INFO line.
"""

from __future__ import annotations

import logging
import sys
import time

from pythonjsonlogger.json import JsonFormatter
from rich.logging import RichHandler

from algotrader.config import Settings

_LOGGERS = ("algotrader", "ib_async", "apscheduler", "procrastinate")
_SERVICE_LOGGER = "algotrader.services"


class _Quiet(logging.Filter):
    """INFO lines of the services themselves; WARNING and above from everyone."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self._verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if self._verbose or record.levelno >= logging.WARNING:
            return True
        return record.name == _SERVICE_LOGGER or record.name.startswith(_SERVICE_LOGGER + ".")


def formatter(log_format: str, service: str) -> logging.Formatter:
    """The line format: JSON objects, or ``time level service logger: message`` (UTC times)."""
    if log_format == "json":
        return JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service": service},
            timestamp="time",
        )
    text = logging.Formatter(
        f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ"
    )
    text.converter = time.gmtime
    return text


def _is_console(handler: logging.Handler) -> bool:
    if isinstance(handler, RichHandler):
        return True
    return isinstance(handler, logging.StreamHandler) and not isinstance(
        handler, logging.FileHandler
    )


def configure_logging(settings: Settings, service: str, *, verbose: bool = False) -> None:
    """Send the platform's and its libraries' logs to stdout in ``settings.log_format``,
    replacing the interactive console handler (log files are kept)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter(settings.log_format, service))
    handler.addFilter(_Quiet(verbose))
    handler.setLevel(logging.INFO)
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if _is_console(old):
                logger.removeHandler(old)
        if name != "algotrader":
            logger.setLevel(logging.INFO if verbose else logging.WARNING)
        logger.addHandler(handler)
        logger.propagate = False
