"""Deterministic crash injection for reliability tests.

``ALGOTRADER_TEST_KILL_AFTER_CHUNKS=N`` makes the process SIGKILL itself right after its N-th
bar chunk has been written (committed, or on SQLite added to the series transaction), so a
test can kill an ingest at an exact point instead of racing it with a timer. Unset, this costs
one dictionary lookup per chunk.
"""

from __future__ import annotations

import os
import signal
import threading

_lock = threading.Lock()
_written = 0


def chunk_written() -> None:
    """Count one written chunk; die here if the configured count is reached."""
    limit = os.environ.get("ALGOTRADER_TEST_KILL_AFTER_CHUNKS")
    if not limit:
        return
    global _written
    with _lock:
        _written += 1
        if _written >= int(limit):
            os.kill(os.getpid(), signal.SIGKILL)
