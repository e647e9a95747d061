"""compute_indicators: the one place a bar frame gets its indicator columns."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .registry import INDICATOR_COLUMNS, IndicatorSpec, kernel_of, specs_for


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    try:
        series = frame[name]
    except KeyError:
        raise KeyError(f"bar frame has no {name!r} column (needs open, high, low, close)") from None
    return np.ascontiguousarray(series.to_numpy(dtype=np.float64, copy=False))


def compute_indicators(
    frame: pd.DataFrame, columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """Return a new frame on ``frame.index`` with the stored indicator columns (float64).

    ``columns`` picks which (default: all of :data:`INDICATOR_COLUMNS`); only the indicators that
    write them are computed, and the result has exactly the indicators' columns in declaration
    order (asking for ``bb_upper`` gives the three Bollinger columns). ``frame`` is a bar frame;
    the declared inputs (``high``, ``low``, ``close``) are read. Definitions follow TA-Lib (see
    :mod:`algotrader.frames`); warm-up values are NaN. This is the only
    implementation: ingestion stores its output and backtests compute it in memory.
    """
    specs = specs_for(INDICATOR_COLUMNS if columns is None else columns)
    names = [c for spec in specs for c in spec.outputs]
    inputs: dict[str, np.ndarray] = {}
    for spec in specs:
        for name in spec.inputs:
            if name not in inputs:
                inputs[name] = _column(frame, name)
    # One C-ordered (columns x rows) block: each row is a contiguous kernel output, and its
    # transpose becomes the frame's single float64 block without the copy that consolidating a
    # dict of arrays would cost.
    block = np.empty((len(names), len(frame)))
    row = 0
    for spec in specs:
        outputs = block[row : row + len(spec.outputs)]
        _run(spec, inputs, outputs)
        row += len(spec.outputs)
    return pd.DataFrame(block.T, index=frame.index, columns=names, copy=False)


def _run(spec: IndicatorSpec, inputs: dict[str, np.ndarray], outputs: np.ndarray) -> None:
    kernel = kernel_of(spec)
    kernel(*(inputs[name] for name in spec.inputs), *spec.param_values, *outputs)
