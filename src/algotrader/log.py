"""Logging: rich console output plus one rotating log file per module under ``logs/``."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from rich.logging import RichHandler

_configured_dir: Path | None = None
_FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _ModuleFileHandler(logging.Handler):
    """Routes each record to ``<log_dir>/<top module>.log`` (e.g. ``data.log``, ``ibkr.log``)."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__()
        self.log_dir = log_dir
        self._handlers: dict[str, RotatingFileHandler] = {}

    def _handler_for(self, name: str) -> RotatingFileHandler:
        parts = name.split(".")
        key = parts[1] if len(parts) > 1 and parts[0] == "algotrader" else parts[0]
        handler = self._handlers.get(key)
        if handler is None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            handler = RotatingFileHandler(
                self.log_dir / f"{key}.log", maxBytes=5_000_000, backupCount=3, encoding="utf-8"
            )
            handler.setFormatter(logging.Formatter(_FILE_FORMAT))
            self._handlers[key] = handler
        return handler

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._handler_for(record.name).emit(record)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        for handler in self._handlers.values():
            handler.close()
        super().close()


def setup_logging(log_dir: Path, level: str = "INFO", console_level: str = "WARNING") -> None:
    """Configure the ``algotrader`` (and ``ib_async``) loggers once per log directory.

    The console shows warnings and errors only, so command output stays the seeds' lines;
    the files keep everything at ``level``.
    """
    global _configured_dir
    if _configured_dir == log_dir:
        return
    _configured_dir = log_dir
    for name in ("algotrader", "ib_async"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
        logger.propagate = False
        files = _ModuleFileHandler(log_dir)
        files.setLevel(level)
        console = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
        # ib_async reports every IB error code as a log record; we turn those we act on into
        # one clear line ourselves, so its console output would only repeat them.
        console.setLevel(console_level if name == "algotrader" else "CRITICAL")
        logger.addHandler(files)
        logger.addHandler(console)
