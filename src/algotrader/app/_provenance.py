"""What a stored run records about its inputs: a fingerprint of the bars (and of the signals and
events aligned to them), the code version."""

from __future__ import annotations

import hashlib
import inspect
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from algotrader.frames import OHLCV_COLUMNS
from algotrader.ml.align import EVENT_PREFIX, REGIME, SIGNAL_PREFIX


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of what a backtest's result depends on: the bars' timestamps and OHLCV values,
    then each aligned signal or event column (``signal:*``, ``regime``, ``event:*``) by name and
    values, in name order. Bars without such columns hash as they always did."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(pd.DatetimeIndex(frame.index).as_unit("us").asi8).tobytes())
    for column in OHLCV_COLUMNS:
        digest.update(np.ascontiguousarray(frame[column].to_numpy(np.float64)).tobytes())
    for name in sorted(str(c) for c in frame.columns if _is_signal_column(str(c))):
        values = frame[name].to_numpy(np.float64)
        values = np.where(np.isnan(values), np.nan, values)  # one NaN bit pattern
        digest.update(b"\0" + name.encode() + b"\0")
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _is_signal_column(name: str) -> bool:
    return name == REGIME or name.startswith((SIGNAL_PREFIX, EVENT_PREFIX))


@cache
def _package_version() -> str:
    from importlib.metadata import version

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{version('algotrader')}+{digest.hexdigest()[:12]}"


def code_version(strategy: object | None = None) -> str:
    """The package version and a hash of its source, plus (for a strategy defined outside the
    package, e.g. ``strategies/my_strategy.py``) a hash of that strategy's source file."""
    version = _package_version()
    source = _strategy_source(strategy)
    if source is None:
        return version
    return f"{version}+s{hashlib.sha256(source).hexdigest()[:12]}"


def _strategy_source(strategy: object | None) -> bytes | None:
    if strategy is None:
        return None
    try:
        path = inspect.getsourcefile(type(strategy))
    except TypeError:
        return None
    if path is None:
        return None
    package = Path(__file__).resolve().parents[1]
    resolved = Path(path).resolve()
    if resolved.is_relative_to(package) or not resolved.is_file():
        return None
    return resolved.read_bytes()
