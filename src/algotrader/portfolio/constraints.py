"""Caps per symbol, sector and industry: clip, then give the excess to the others, until none binds.

For each target row: every symbol above ``max_weight`` is cut to it, every sector (industry) above
its cap is scaled down to it, and what was cut goes to the symbols not at any cap, in proportion to
their weights. A symbol or group that hit its cap takes nothing more. This repeats until nothing is
cut or no symbol can take more; the remainder then stays in cash. Signs are kept (caps apply to
absolute weights), so short books are capped on gross exposure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from algotrader.portfolio.config import ALL_GROUPS, PortfolioConfig

_TOL = 1e-12


@dataclass(frozen=True)
class Caps:
    """Caps resolved to column positions: ``groups`` are (member columns, cap) pairs."""

    max_weight: float
    groups: tuple[tuple[np.ndarray, float], ...]

    @property
    def active(self) -> bool:
        return self.max_weight < 1.0 or bool(self.groups)


def caps_for(config: PortfolioConfig, symbols: Sequence[str]) -> Caps:
    """The caps of ``config`` for ``symbols`` (in column order)."""
    sector_of = config.sector_of
    groups: list[tuple[np.ndarray, float]] = []
    for level, caps in ((0, dict(config.sector_caps)), (1, dict(config.industry_caps))):
        if not caps:
            continue
        names = [sector_of[s][level] if s in sector_of else None for s in symbols]
        for group in sorted({n for n in names if n}):
            cap = caps.get(group, caps.get(ALL_GROUPS))
            if cap is not None:
                members = np.array([i for i, n in enumerate(names) if n == group], np.int64)
                groups.append((members, float(cap)))
    return Caps(max_weight=float(config.max_weight), groups=tuple(groups))


def apply_caps(weights: np.ndarray, caps: Caps) -> np.ndarray:
    """``weights`` (one row, or rows x symbols) with the caps applied row by row."""
    if not caps.active:
        return weights
    out = np.array(weights, dtype=np.float64)
    rows = out.reshape(-1, out.shape[-1])
    for k in range(rows.shape[0]):
        rows[k] = _cap_row(rows[k], caps)
    return out


def _cap_row(row: np.ndarray, caps: Caps) -> np.ndarray:
    size = np.abs(row)
    total = size.sum()
    fixed = np.zeros(size.shape, dtype=bool)
    for _ in range(size.size + len(caps.groups) + 1):
        over = size >= caps.max_weight - _TOL
        size[over] = np.minimum(size[over], caps.max_weight)
        fixed |= over
        for members, cap in caps.groups:
            held = size[members].sum()
            if held >= cap - _TOL and held > 0:
                size[members] *= min(1.0, cap / held)
                fixed[members] = True
        excess = total - size.sum()
        free = ~fixed & (size > 0)
        if excess <= _TOL or not free.any():
            break
        size[free] += excess * size[free] / size[free].sum()
    return np.asarray(np.sign(row) * size)
