"""Keep numba's on-disk cache honest across modules.

numba invalidates a cached function only when its *own* source file changes; code it inlines
from another module (the order logic, the compiled rules) is not tracked, so editing only that
module would silently reuse stale machine code. :func:`guard` stores a digest of those sources
next to the cache and flushes the cached functions when it changes, before anything loads them.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from numba.core.dispatcher import Dispatcher


def guard(namespace: dict[str, Any], dependencies: Iterable[str]) -> None:
    """Flush the cached numba functions of ``namespace`` if ``dependencies`` (files) changed."""
    dispatchers = [v for v in namespace.values() if isinstance(v, Dispatcher)]
    found: list[Any] = [getattr(d, "_cache", None) for d in dispatchers]
    caches = [c for c in found if hasattr(c, "_cache_path")]
    if not caches:
        return
    digest = hashlib.sha256()
    for path in sorted(dependencies):
        digest.update(Path(path).read_bytes())
    stamp_file = Path(caches[0]._cache_path) / f"{namespace['__name__']}.deps"
    stamp = digest.hexdigest()
    with contextlib.suppress(OSError):
        if stamp_file.read_text(encoding="ascii") == stamp:
            return
    for cache in caches:
        cache.flush()
    # A read-only cache location: numba then compiles in memory anyway.
    with contextlib.suppress(OSError):
        stamp_file.write_text(stamp, encoding="ascii")
