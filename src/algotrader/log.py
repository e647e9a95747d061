"""Logging: rich console output plus one rotating log file per module under ``logs/``.

A log folder that cannot be written (read-only, a file in the way, a full disk) costs one warning
line on stderr; the command carries on without log files rather than failing or printing a
"Logging error" block for every record.
"""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from rich.logging import RichHandler

_configured_dir: Path | None = None
_FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _RaisingFileHandler(RotatingFileHandler):
    """A rotating file whose write errors reach :class:`_ModuleFileHandler` (the standard
    handler prints a traceback block per record instead)."""

    def handleError(self, record: logging.LogRecord) -> None:
        raise  # called from inside emit's except block: re-raises its error


class _ModuleFileHandler(logging.Handler):
    """Routes each record to ``<log_dir>/<top module>.log`` (e.g. ``data.log``, ``ibkr.log``)."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__()
        self.log_dir = log_dir
        self._handlers: dict[str, RotatingFileHandler] = {}
        self.broken = False

    def _handler_for(self, name: str) -> RotatingFileHandler:
        parts = name.split(".")
        key = parts[1] if len(parts) > 1 and parts[0] == "algotrader" else parts[0]
        handler = self._handlers.get(key)
        if handler is None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            handler = _RaisingFileHandler(
                self.log_dir / f"{key}.log", maxBytes=5_000_000, backupCount=3, encoding="utf-8"
            )
            handler.setFormatter(logging.Formatter(_FILE_FORMAT))
            self._handlers[key] = handler
        return handler

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        try:
            self._handler_for(record.name).emit(record)
        except (OSError, ValueError) as exc:
            self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        self.broken = True
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(
            f"warning: cannot write log files in {self.log_dir} ({reason}); carrying on without "
            "them (set ALGOTRADER_LOG_DIR to a writable folder)",
            file=sys.stderr,
        )

    def close(self) -> None:
        for handler in self._handlers.values():
            handler.close()
        super().close()


def setup_logging(log_dir: Path, level: str = "INFO", console_level: str = "WARNING") -> None:
    """Configure the ``algotrader`` (and ``ib_async``) loggers once per log directory.

    The console shows warnings and errors only, so command output stays the seeds' lines;
    the files keep everything at ``level``. Python warnings (pandas' deprecations...) go to the
    files too (``py.warnings``), so they never add lines to a command's output.
    """
    global _configured_dir
    if _configured_dir == log_dir:
        return
    _configured_dir = log_dir
    files = _ModuleFileHandler(log_dir)  # shared: one warning if the folder is unwritable
    files.setLevel(level)
    for name in ("algotrader", "ib_async", "py.warnings"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
        logger.propagate = False
        logger.addHandler(files)
        if name == "py.warnings":
            continue  # files only
        console = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
        # ib_async reports every IB error code as a log record; we turn those we act on into
        # one clear line ourselves, so its console output would only repeat them.
        console.setLevel(console_level if name == "algotrader" else "CRITICAL")
        logger.addHandler(console)
    logging.captureWarnings(False)  # re-arm: another setup (tests) may have left it half-set
    logging.captureWarnings(True)
