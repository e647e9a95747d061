"""``algotrader report RUN_ID``: one self-contained HTML report of a stored run."""

from __future__ import annotations

from pathlib import Path

import typer

from algotrader.cli._common import console, settings_from
from algotrader.db.engine import open_database as open_db


def report(
    ctx: typer.Context,
    run_id: int = typer.Argument(..., help="The run's id (see `algotrader runs list`).",
                                 min=1, max=2**63 - 1),
    output: Path | None = typer.Option(
        None, "-o", "--output",
        help="HTML file to write (default: data/reports/run_ID_SYMBOL_RES.html).",
    ),
    benchmark: str | None = typer.Option(
        None, "--benchmark", "-b",
        help="A stored symbol to compare with (same resolution), e.g. SPY.",
    ),
) -> None:
    """Write the interactive report of a stored run (works offline: plotly.js is embedded).

    Example: algotrader report 12 -o spy_macd.html --benchmark SPY
    """
    from algotrader.app.browse import write_run_report
    from algotrader.reports._deps import require_report_extra

    require_report_extra()
    settings = settings_from(ctx)
    db = open_db(settings)
    try:
        path = write_run_report(db, run_id, output, benchmark=benchmark,
                                reports_dir=settings.data_dir / "reports")
    finally:
        db.dispose()
    size = path.stat().st_size / 1e6
    console.print(f"Saved report: {path} ({size:.1f} MB)")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
