"""Charts of stored data and runs, saved as PNG files under the plots folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

from algotrader.app.backtests import StoredRun
from algotrader.app.portfolios import StoredPortfolio
from algotrader.config import Settings
from algotrader.errors import InvalidInputError


def save_backtest_chart(settings: Settings, run: StoredRun, *, full: bool = False) -> Path:
    """``data/plots/SYMBOL_RES_TIMESTAMP[_full].png``: price with the strategy's fills (``full``:
    plus equity against buy and hold, drawdown and the metrics table)."""
    from algotrader.plotting import backtest_chart, plot_path

    target = settings.plots_dir
    try:
        target = plot_path(target, run.symbol, run.result.resolution, "full" if full else "")
        return backtest_chart(
            run.frame, run.result, run.symbol, target, full=full, synthetic=run.synthetic
        )
    except OSError as exc:
        raise _unwritable(target, exc) from None


def save_portfolio_chart(settings: Settings, run: StoredPortfolio) -> Path:
    """``data/plots/PORTFOLIO_RES_TIMESTAMP.png``: equity against the benchmark, drawdown and
    the weights over time as a stacked area."""
    from algotrader.plotting import plot_path
    from algotrader.plotting.portfolio_chart import portfolio_chart

    target = settings.plots_dir
    try:
        target = plot_path(target, "PORTFOLIO", run.result.resolution)
        return portfolio_chart(run.result, target, synthetic=run.synthetic)
    except OSError as exc:
        raise _unwritable(target, exc) from None


def check_plots_dir(settings: Settings) -> None:
    """Refuse, in one line, a plots folder that cannot take a file. Commands call it before a
    run with ``--plot`` is stored, so a plot that cannot be written leaves no run behind."""
    try:
        probe_folder(settings.plots_dir)
    except OSError as exc:
        raise _unwritable(settings.plots_dir, exc) from None


def probe_folder(folder: Path) -> None:
    """Create ``folder`` if needed and write (then remove) a file in it; OSError if it cannot."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
        pass


def _unwritable(target: Path, exc: OSError) -> InvalidInputError:
    return InvalidInputError(
        f"cannot write the plot {target} ({exc.strerror or exc})",
        "make the plots folder writable or set ALGOTRADER_DATA_DIR / --data-dir",
    )
