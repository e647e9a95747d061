"""``algotrader optimize``, ``walkforward``, ``studies`` and ``strategies check``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import Progress
from rich.table import Table

from algotrader.cli._common import console, fmt_metric, parse_symbols, settings_from
from algotrader.cli.backtest import outputs_ready, parse_params, strategies_app
from algotrader.cli.ingest import ConsoleListener
from algotrader.cli.report import print_saved
from algotrader.errors import InvalidInputError

if TYPE_CHECKING:
    from algotrader.app.research import ResearchRequest, StoredStudy

_EXAMPLES = """Examples:

  algotrader optimize -s AAPL -r 1d --strategy ma_cross --grid fast=5:50:5 --grid slow=20:200:20
  --constraint "fast < slow" --objective sharpe

  algotrader optimize -s AAPL,MSFT --grid fast=5,10,20 --grid slow=50,100 --pool mean

  algotrader optimize -s SPY --strategy rsi --grid lower=10:40:1 --grid upper=60:90:1
  --method optuna --trials 200 --seed 1 --dask local

  algotrader walkforward -s AAPL --grid fast=5:50:5 --grid slow=20:200:20 --train "2 Y" --test "6 M"
"""

_SYMBOLS = typer.Option(..., "-s", "--symbol", "--symbols", help="Symbol(s) with stored bars.")
_RESOLUTION = typer.Option("1d", "-r", "--resolution", help="Bar size: 1m ... 1w.")
_STRATEGY = typer.Option("ma_cross", "--strategy", help="Name, entry point or file.py:Class.")
_GRID = typer.Option(..., "--grid", help="NAME=START:STOP:STEP or NAME=V1,V2 (repeatable).")
_CONSTRAINT = typer.Option(None, "--constraint", help='Keep only points where, e.g. "fast < slow".')
_OBJECTIVE = typer.Option("sharpe", "--objective", help="The metric to optimise.")
_MINIMIZE = typer.Option(False, "--minimize", help="Minimise the objective (default: maximise).")
_POOL = typer.Option(
    None, "--pool", help="One study over all symbols, pooling the objective: mean, median, min."
)
_METHOD = typer.Option("grid", "--method", help="grid, random or optuna.")
_TRIALS = typer.Option(None, "--trials", help="Points to evaluate with random or optuna.")
_SEED = typer.Option(None, "--seed", help="Seed of random and optuna searches.")
_PARAM = typer.Option(None, "--param", help="A fixed strategy parameter NAME=VALUE.")
_TOP = typer.Option(10, "--top", min=1, help="Rows of the ranked table.")
_JOBS = typer.Option(None, "--jobs", min=1, help="Worker processes (default: as the study needs).")
_DASK = typer.Option(None, "--dask", help="Run on a Dask cluster: tcp://host:8786 or local.")
_DURATION = typer.Option(None, "-d", "--duration", help='Only the last DURATION, e.g. "5 Y".')
_AUTO_FETCH = typer.Option(False, "--auto-fetch", help="Fetch missing bars first.")
_SOURCE = typer.Option(None, "--source", help="Data source for --auto-fetch.")
_JSON = typer.Option(False, "--json", help="Print the result as JSON.")
_REPORT = typer.Option(
    False, "--report", help="Write the interactive HTML report of what ran (data/reports/)."
)


def _request(**given: Any) -> ResearchRequest:
    from algotrader.app.research import ResearchRequest
    from algotrader.timeframes import parse_duration, parse_resolution

    duration = given.pop("duration")
    return ResearchRequest(
        symbols=tuple(parse_symbols(given.pop("symbol"))),
        resolution=parse_resolution(given.pop("resolution")),
        grid=tuple(given.pop("grid")),
        params=parse_params(given.pop("param")),
        duration=parse_duration(duration) if duration else None,
        **given,
    )


def _progress(enabled: bool) -> tuple[Progress, Any]:
    progress = Progress(console=console, transient=True, disable=not enabled)
    task = progress.add_task("points", total=None)
    return progress, lambda done, total: progress.update(task, completed=done, total=total)


def optimize(
    ctx: typer.Context,
    symbol: str = _SYMBOLS,
    resolution: str = _RESOLUTION,
    strategy: str = _STRATEGY,
    grid: list[str] = _GRID,
    constraint: str | None = _CONSTRAINT,
    objective: str = _OBJECTIVE,
    minimize: bool = _MINIMIZE,
    pool: str | None = _POOL,
    method: str = _METHOD,
    trials: int | None = _TRIALS,
    seed: int | None = _SEED,
    param: list[str] | None = _PARAM,
    top: int = _TOP,
    jobs: int | None = _JOBS,
    dask: str | None = _DASK,
    duration: str | None = _DURATION,
    auto_fetch: bool = _AUTO_FETCH,
    source: str | None = _SOURCE,
    as_json: bool = _JSON,
    report: bool = _REPORT,
) -> None:
    """Evaluate a grid (or an Optuna search) of strategy parameters on stored bars; store every
    point as a run, rank them, and report the deflated Sharpe ratio and the PBO."""
    from algotrader.app.research import run_optimization

    request = _request(
        symbol=symbol,
        resolution=resolution,
        strategy=strategy,
        grid=grid,
        constraint=constraint,
        objective=objective,
        minimize=minimize,
        pool=pool,
        method=method,
        trials=trials,
        seed=seed,
        param=param,
        jobs=jobs,
        dask=dask,
        duration=duration,
        auto_fetch=auto_fetch,
        source=source,
    )
    settings = outputs_ready(settings_from(ctx), report=report)
    progress, progressed = _progress(not as_json)
    with ConsoleListener("auto-fetch") as listener, progress:
        stored = run_optimization(settings, request, None if as_json else listener, progressed)
    written = {s.study_id: _html_report(settings, s) for s in stored} if report else {}
    if as_json:
        documents = [_study_document(s, top, written.get(s.study_id)) for s in stored]
        print(json.dumps(documents, indent=2, default=str))
        return
    for item in stored:
        _render_study(item, top, written.get(item.study_id))


_SHOWN_METRICS = ("total_return", "cagr", "sharpe", "max_drawdown", "num_trades", "win_rate")


def _html_report(settings: Any, stored: Any) -> Path:
    from algotrader.app.reports import write_result_report

    return write_result_report(settings, stored)


def _study_document(stored: StoredStudy, top: int, written: Path | None = None) -> dict[str, Any]:
    document = stored.study.to_dict(top=top)
    dsr = stored.study.deflated_sharpe()
    document.update(
        study_id=stored.study_id,
        best_run_id=stored.best_run_id,
        deflated_sharpe=dsr.to_dict(),
        heatmap=str(stored.heatmap) if stored.heatmap else None,
        report=str(written) if written else None,
    )
    return document


def _render_study(stored: StoredStudy, top: int, written: Path | None = None) -> None:
    study = stored.study
    console.print(
        f"Study {stored.study_id}: {study.config.to_dict()['strategy']} on "
        f"{', '.join(study.symbols)}: {study.n_trials} points evaluated, best {study.best.params} "
        f"(run {stored.best_run_id})"
    )
    table = study.table(top).reset_index()
    shown = ["rank", *study.config.space.names, "objective", *_SHOWN_METRICS]
    table = table[[c for c in shown if c in table.columns]]
    out = Table(*[str(c) for c in table.columns])
    for row in table.itertuples(index=False):
        out.add_row(*[_cell(str(c), v) for c, v in zip(table.columns, row, strict=True)])
    console.print(out)
    dsr = study.deflated_sharpe()
    console.print(
        f"Deflated Sharpe ratio of the best point: {dsr.dsr:.3f} (its Sharpe {dsr.sharpe:.4f} per "
        f"period against {dsr.benchmark_sharpe:.4f} expected from {dsr.trials} trials by luck)"
    )
    try:
        pbo = study.pbo()
        console.print(
            f"Probability of backtest overfitting (CSCV, {pbo.blocks} blocks): {pbo.pbo:.1%}"
        )
    except InvalidInputError as exc:
        console.print(f"Probability of backtest overfitting: n/a ({exc.problem})")
    if stored.heatmap is not None:
        console.print(f"Saved plot: {stored.heatmap}")
    if written is not None:
        print_saved(written)


def _cell(column: str, value: Any) -> str:
    if hasattr(value, "strftime"):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, float):
        return fmt_metric(column, value) if math.isfinite(value) else "n/a"
    return str(value)


def walkforward(
    ctx: typer.Context,
    symbol: str = _SYMBOLS,
    resolution: str = _RESOLUTION,
    strategy: str = _STRATEGY,
    grid: list[str] = _GRID,
    train: str = typer.Option("2 Y", "--train", help='Training window, e.g. "2 Y".'),
    test: str = typer.Option("6 M", "--test", help='Test window after each one, e.g. "6 M".'),
    anchored: bool = typer.Option(False, "--anchored", help="Expand training from the start."),
    constraint: str | None = _CONSTRAINT,
    objective: str = _OBJECTIVE,
    minimize: bool = _MINIMIZE,
    method: str = _METHOD,
    trials: int | None = _TRIALS,
    seed: int | None = _SEED,
    param: list[str] | None = _PARAM,
    jobs: int | None = _JOBS,
    dask: str | None = _DASK,
    duration: str | None = _DURATION,
    auto_fetch: bool = _AUTO_FETCH,
    source: str | None = _SOURCE,
    as_json: bool = _JSON,
    report: bool = _REPORT,
) -> None:
    """Optimise on each training window, trade the best point on the next test window, stitch
    the out-of-sample equity; in- vs out-of-sample per fold and overall (stored as a run)."""
    from algotrader.app.research import run_walkforward
    from algotrader.timeframes import parse_duration

    request = _request(
        symbol=symbol,
        resolution=resolution,
        strategy=strategy,
        grid=grid,
        constraint=constraint,
        objective=objective,
        minimize=minimize,
        method=method,
        trials=trials,
        seed=seed,
        param=param,
        jobs=jobs,
        dask=dask,
        duration=duration,
        auto_fetch=auto_fetch,
        source=source,
    )
    settings = outputs_ready(settings_from(ctx), report=report)
    progress, progressed = _progress(not as_json)
    with ConsoleListener("auto-fetch") as listener, progress:
        stored = run_walkforward(
            settings,
            request,
            train=parse_duration(train),
            test=parse_duration(test),
            anchored=anchored,
            listener=None if as_json else listener,
            progress=progressed,
        )
    written = _html_report(settings, stored) if report else None
    if as_json:
        document = {"run_id": stored.run_id, **stored.result.to_dict(), "plot": str(stored.chart)}
        print(json.dumps({**document, "report": written and str(written)}, indent=2, default=str))
        return
    _render_walkforward(stored, written)


def _render_walkforward(stored: Any, written: Path | None = None) -> None:
    result = stored.result
    folds = result.table().reset_index()
    out = Table(*[str(c) for c in folds.columns], title="folds", title_justify="left")
    for row in folds.itertuples(index=False):
        out.add_row(*[_cell(str(c), v) for c, v in zip(folds.columns, row, strict=True)])
    console.print(out)
    oos, ins = result.out_of_sample, result.in_sample
    console.print(
        f"Out of sample: return {fmt_metric('total_return', oos.get('total_return'))}, "
        f"sharpe {fmt_metric('sharpe', oos.get('sharpe'))}, max drawdown "
        f"{fmt_metric('max_drawdown', oos.get('max_drawdown'))}; in sample (mean of folds): "
        f"sharpe {fmt_metric('sharpe', ins.get('sharpe'))}; walk-forward efficiency "
        f"{'n/a' if result.efficiency is None else f'{result.efficiency:.2f}'}"
    )
    console.print(f"Run id: {stored.run_id} (`algotrader runs show {stored.run_id}`)")
    console.print(f"Saved plot: {stored.chart}")
    if written is not None:
        print_saved(written)


studies_app = typer.Typer(help="Optimisation studies.", no_args_is_help=True)


@studies_app.command("list")
def studies_list(
    ctx: typer.Context, limit: int = typer.Option(20, "--limit", min=1, help="How many.")
) -> None:
    """The latest studies with their best point, DSR and PBO."""
    from algotrader.app.research import list_studies

    table = Table("id", "created (UTC)", "strategy", "symbols", "points", "best run", "dsr", "pbo")
    for s in list_studies(settings_from(ctx), limit):
        table.add_row(
            str(s.id),
            f"{s.created_at:%Y-%m-%d %H:%M}",
            s.strategy,
            ",".join(s.symbols),
            str(s.n_trials),
            str(s.best_run_id),
            _cell("dsr", s.dsr),
            _cell("pbo", s.pbo),
        )
    console.print(table)


@studies_app.command("show")
def studies_show(
    ctx: typer.Context,
    study_id: int = typer.Argument(..., help="The study id."),
    as_json: bool = _JSON,
) -> None:
    """One study: its configuration, statistics and ranked points (each point is a run)."""
    from algotrader.app.research import get_study

    study = get_study(settings_from(ctx), study_id)
    if as_json:
        print(json.dumps(study.summary, indent=2, default=str))
        return
    console.print(
        f"Study {study.id}: {study.strategy} on {', '.join(study.symbols)} "
        f"@ {study.resolution}, {study.n_trials} points, best run {study.best_run_id}"
    )
    console.print(f"Config: {study.config}")
    console.print(f"DSR {_cell('dsr', study.dsr)}, PBO {_cell('pbo', study.pbo)}")
    table = Table("rank", "params", "objective")
    for rank, point in enumerate(study.summary.get("points", [])[:20], start=1):
        table.add_row(str(rank), str(point.get("params")), _cell("x", point.get("objective")))
    console.print(table)


@strategies_app.command("check")
def strategies_check(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The strategy: name, entry point or file.py:Class."),
    symbol: str | None = typer.Option(
        None, "-s", "--symbol", help="Check on this symbol's stored bars (default: synthetic)."
    ),
    resolution: str = _RESOLUTION,
    param: list[str] | None = _PARAM,
    bars: int = typer.Option(1500, "--bars", min=50, help="How many of the latest bars."),
    as_json: bool = _JSON,
) -> None:
    """Look for look-ahead: run on truncated and perturbed data and compare; also check that
    the on_bar and signals paths agree. Exit 1 when the strategy is biased."""
    from algotrader.app.research import check_strategy
    from algotrader.timeframes import parse_resolution

    report = check_strategy(
        settings_from(ctx),
        name,
        parse_params(param),
        symbol=parse_symbols(symbol)[0] if symbol else None,
        resolution=parse_resolution(resolution),
        bars=bars,
    )
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        for finding in report.findings[:10]:
            console.print(f"  {finding.describe()}")
        console.print(report.verdict)
    if report.biased:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("optimize", epilog=_EXAMPLES)(optimize)
    app.command("walkforward", epilog=_EXAMPLES)(walkforward)
    app.add_typer(studies_app, name="studies")
