"""The Python API: ``Portfolio(bars, allocator, rebalance, **config).run(**params)``.

>>> from algotrader.portfolio import Portfolio                          # doctest: +SKIP
>>> result = Portfolio({"SPY": spy, "TLT": tlt, "GLD": gld}, "inverse_vol", "monthly",
...                    commission_bps=1, benchmark="SPY").run(lookback=63)
>>> result.metrics["sharpe"], result.weights.tail()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from algotrader.errors import InvalidInputError
from algotrader.portfolio.config import PortfolioConfig
from algotrader.portfolio.engine import DecisionPath, run_fingerprint, run_portfolio
from algotrader.portfolio.panel import BarsInput, Panel, build_panel
from algotrader.portfolio.registry import get_allocator
from algotrader.portfolio.result import PortfolioResult
from algotrader.timeframes import Resolution


class Portfolio:
    """One allocation over many symbols sharing one cash account.

    Args:
        bars: ``{symbol: bar frame}`` (UTC DatetimeIndex, ``open, high, low, close``, optional
            ``volume`` and indicator columns), a wide frame with (symbol, field) columns, or a
            :class:`~algotrader.portfolio.Panel`. Calendars may differ: see
            :func:`~algotrader.portfolio.build_panel`.
        allocator: a built-in name (``"equal"``, ``"inverse_vol"``, ``"min_variance"``,
            ``"risk_parity"``, ``"momentum"``, ``"signals"``), a
            :class:`~algotrader.portfolio.PortfolioStrategy` subclass or instance, or
            ``"path/file.py:Class"``.
        rebalance: ``"daily"``, ``"weekly"``, ``"monthly"``, ``"quarterly"``, ``"drift"`` or
            ``"signal"`` (see :mod:`algotrader.portfolio.schedules`).
        resolution: bar size for annualising; inferred when omitted.
        benchmark_bars: bars of ``benchmark`` when it is not one of the traded symbols.
        path: ``"auto"`` or ``"rebalance"`` (force the per-decision reference path).
        **config: the other :class:`PortfolioConfig` fields (``cash``, ``commission_bps``,
            ``fill``, ``max_weight``, ``sectors``, ``sector_caps``, ``benchmark`` ...).

    Targets decided on a bar's close fill at the next bar's open. ``fill="close"`` fills them at
    that same close, which the decision has already seen: optimistic, use it knowingly.
    """

    def __init__(
        self,
        bars: BarsInput | Panel,
        allocator: Any = "equal",
        rebalance: str = "monthly",
        *,
        resolution: str | Resolution | None = None,
        benchmark_bars: pd.DataFrame | None = None,
        path: DecisionPath = "auto",
        **config: Any,
    ) -> None:
        self.config = PortfolioConfig.from_kwargs(rebalance=rebalance, **config)
        self.panel = bars if isinstance(bars, Panel) else build_panel(bars)
        self.allocator = allocator
        self.resolution = resolution
        self.benchmark_bars = benchmark_bars
        self.path: DecisionPath = path

    def run(self, **params: Any) -> PortfolioResult:
        """Run; ``params`` are the allocator's parameters (strings coerced), e.g. ``top_n=3``;
        for ``"signals"`` the strategy and its parameters (``strategy="rsi", lower=25``)."""
        return run_portfolio(
            self.panel,
            get_allocator(self.allocator, **params),
            self.config,
            path=self.path,
            resolution=self.resolution,
            benchmark_bars=self.benchmark_bars,
        )


def rerun(
    record: Mapping[str, Any],
    bars: BarsInput | Panel,
    *,
    allocator: Any = None,
    benchmark_bars: pd.DataFrame | None = None,
) -> PortfolioResult:
    """Recompute a stored run from its :meth:`PortfolioResult.to_dict` record.

    ``bars`` must be the bars the run used (checked against the recorded fingerprint before
    running). ``allocator`` overrides the recorded name, which for a user strategy is only its
    class name: pass what was given originally (a class or ``"file.py:Class"``). The same code
    then gives the same numbers to the last bit.
    """
    config = PortfolioConfig.from_dict(record["config"])
    panel = bars if isinstance(bars, Panel) else build_panel(bars)
    found = run_fingerprint(panel, config.benchmark, benchmark_bars)
    if found != record["fingerprint"]:
        raise InvalidInputError(
            f"the bars differ from the stored run's (fingerprint {found[:12]}, "
            f"stored {str(record['fingerprint'])[:12]})",
            f"load {', '.join(record['symbols'])} from {record['start']} to {record['end']}",
        )
    return run_portfolio(
        panel,
        get_allocator(allocator or record["allocator"], **dict(record["params"])),
        config,
        resolution=record["resolution"],
        benchmark_bars=benchmark_bars,
    )
