"""The stored indicators: their declarations (in :mod:`algotrader.frames`) and their kernels.

The declarations live in the basic layer so the store, the models and every other layer can
read them without importing the indicator code; see "Adding an indicator" in
:mod:`algotrader.frames`. This module resolves a declaration to its compiled kernel.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from algotrader.frames import (
    INDICATOR_COLUMNS,
    STORED_INDICATORS,
    IndicatorSpec,
    is_indicator_column,
    spec_for,
    specs_for,
)

_KERNEL_MODULE = "algotrader.indicators._kernels"


def kernel_of(spec: IndicatorSpec) -> Callable[..., Any]:
    """The compiled kernel of ``spec`` (imports numba and the kernels on first use)."""
    kernel: Callable[..., Any] = getattr(importlib.import_module(_KERNEL_MODULE), spec.kernel)
    return kernel


__all__ = [
    "INDICATOR_COLUMNS",
    "STORED_INDICATORS",
    "IndicatorSpec",
    "is_indicator_column",
    "kernel_of",
    "spec_for",
    "specs_for",
]
