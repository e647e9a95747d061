"""``algotrader report RUN_ID`` / ``--study STUDY_ID``: one self-contained HTML report of a
stored run (a backtest, portfolio, walk-forward run or study point) or of a study."""

from __future__ import annotations

from pathlib import Path

import typer

from algotrader.cli._common import console, settings_from

_MAX_ID = 2**63 - 1


def report(
    ctx: typer.Context,
    run_id: int | None = typer.Argument(
        None, help="The run's id (see `algotrader runs list`).", min=1, max=_MAX_ID,
        show_default=False, metavar="RUN_ID",
    ),
    study: int | None = typer.Option(
        None, "--study", help="Report on this study instead (see `algotrader studies list`).",
        min=1, max=_MAX_ID,
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output",
        help="HTML file to write (default: data/reports/run_ID_SYMBOL_RES.html or "
             "data/reports/study_ID_STRATEGY.html).",
    ),
    benchmark: str | None = typer.Option(
        None, "--benchmark", "-b",
        help="A stored symbol to compare a backtest with (same resolution), e.g. SPY.",
    ),
) -> None:
    """Write the interactive report of a stored run or study (works offline: plotly.js is
    embedded). The run's kind picks the report: backtest, portfolio, walk-forward.

    Example: algotrader report 12 -o spy_macd.html --benchmark SPY; algotrader report --study 3
    """
    from algotrader.app.reports import write_report
    from algotrader.reports import require_report_extra

    require_report_extra()
    path = write_report(settings_from(ctx), run_id=run_id, study_id=study, output=output,
                        benchmark=benchmark)
    print_saved(path)


def print_saved(path: Path) -> None:
    """``Saved report: PATH (1.2 MB)``."""
    console.print(f"Saved report: {path} ({path.stat().st_size / 1e6:.1f} MB)")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
