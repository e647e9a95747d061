"""``algotrader ml``: train, predict, report, list models; check features; backtest on signals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from algotrader.app import ml as use_cases
from algotrader.backtest.result import BacktestConfig
from algotrader.cli._common import console, fmt_metric, parse_symbols, settings_from
from algotrader.cli.backtest import metrics_table, parse_params
from algotrader.db.engine import open_database as open_db
from algotrader.ml.features import FEATURES
from algotrader.ml.models import KINDS
from algotrader.ml.pipeline import TrainConfig
from algotrader.ml.splits import Period
from algotrader.ml.targets import check_target
from algotrader.timeframes import parse_duration, parse_resolution

ml_app = typer.Typer(help="Machine-learning signals: train, predict, report.", no_args_is_help=True)


def _num(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


@contextmanager
def _period_progress() -> Iterator[Any]:
    if not console.is_terminal:  # piped output: no progress bar (nor its trailing newline)
        yield None
        return
    with Progress(
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("train", total=None)

        def advance(period: Period, total: int) -> None:
            progress.update(task, total=total, completed=period.number)

        yield advance


@ml_app.command("train")
def train(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "-s", "--symbol", "--symbols", help="AAPL or AAPL,MSFT"),
    resolution: str = typer.Option("1d", "-r", "--resolution"),
    model: str = typer.Option("lightgbm", "--model", help=f"One of {', '.join(KINDS)}."),
    target: str = typer.Option("fwd_return", "--target", help="next_return, fwd_return, direction"),
    horizon: int = typer.Option(5, "--horizon", help="Bars ahead (fwd_return, direction)."),
    train_window: str = typer.Option("3 Y", "--train", help='Training window, e.g. "3 Y".'),
    retrain_every: str | None = typer.Option(
        None, "--retrain-every", help='Walk-forward step, e.g. "3 M" (default: train once).'
    ),
    window: str = typer.Option("sliding", "--window", help="sliding or expanding."),
    embargo: int | None = typer.Option(
        None, "--embargo", help="Bars between a training window and its period (default: horizon)."
    ),
    features: str | None = typer.Option(
        None, "--features", help="Comma-separated feature names (default: all; see ml features)."
    ),
    param: list[str] | None = typer.Option(None, "--param", help="Model parameter NAME=VALUE."),
    name: str | None = typer.Option(None, "--name", help="Registry name (default: the model)."),
    seed: int = typer.Option(0, "--seed"),
    duration: str | None = typer.Option(
        None, "-d", "--duration", help="Use only the last DURATION of the stored bars."
    ),
) -> None:
    """Train walk-forward on stored bars and register the model (row + artefact file)."""
    config = TrainConfig(
        model=model,
        params=parse_params(param),
        target=target,
        horizon=horizon,
        train=parse_duration(train_window),
        retrain_every=parse_duration(retrain_every) if retrain_every else None,
        window=window,  # type: ignore[arg-type]
        embargo=embargo,
        features=tuple(f.strip() for f in features.split(",") if f.strip()) if features else None,
        seed=seed,
    )
    request = use_cases.TrainRequest(
        symbols=tuple(parse_symbols(symbol)),
        resolution=parse_resolution(resolution),
        config=config,
        name=name,
        duration=parse_duration(duration) if duration else None,
    )
    # Bad names and parameters fail here, before any data is loaded.
    config.kind.params(config.params)
    check_target(config.target, config.horizon)
    config.feature_names  # noqa: B018
    settings = settings_from(ctx)
    db = open_db(settings)
    try:
        with _period_progress() as advance:
            outcome = use_cases.train(db, settings.data_dir, request, advance)
    finally:
        db.dispose()
    info = outcome.model
    overall = info.metrics["overall"]
    console.print(
        f"Trained {info.source} (id {info.id}): {info.kind} on {', '.join(info.symbols)} @ "
        f"{info.resolution}, {len(info.periods)} period(s), {overall['n']} out-of-sample rows."
    )
    if info.is_regime:
        for row in info.metrics["regimes"]:
            console.print(
                f"  regime {row['regime']}: {_pct(row['share'])} of bars, mean forward return "
                f"{_num(row['realised_mean'], 5)}, std {_num(row['realised_std'], 5)}"
            )
    else:
        console.print(
            f"Out-of-sample: IC {_num(overall['ic'])}, rank IC {_num(overall['rank_ic'])}, "
            f"hit rate {_pct(overall['hit_rate'])}, IC t-stat {_num(overall['ic_t_stat'], 2)}."
        )
    console.print(f"Artefact: {Path(settings.data_dir) / info.artefact_path}")
    console.print(f"Next: algotrader ml predict {info.source} -s {','.join(info.symbols)}")


@ml_app.command("predict")
def predict(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="NAME_vN, NAME (latest version) or id."),
    symbol: str | None = typer.Option(
        None, "-s", "--symbol", "--symbols", help="Default: the symbols it was trained on."
    ),
) -> None:
    """Write the model's forecasts of the stored bars into external_signals (idempotent)."""
    symbols = parse_symbols(symbol) if symbol else None
    settings = settings_from(ctx)
    db = open_db(settings)
    try:
        outcome = use_cases.predict(db, settings.data_dir, model, symbols)
    finally:
        db.dispose()
    info = outcome.model
    console.print(
        f"Forecasts of {info.source} for {', '.join(outcome.symbols)}: {outcome.rows} rows "
        f"{outcome.first_ts:%Y-%m-%d %H:%M} .. {outcome.last_ts:%Y-%m-%d %H:%M} UTC; "
        f"inserted {outcome.inserted}, updated {outcome.updated}, unchanged {outcome.unchanged}."
    )
    console.print(
        f'Strategies read them as row["signal:{info.source}"]'
        + (' and row["regime"]' if info.is_regime else "")
        + f", e.g. algotrader ml backtest -s {outcome.symbols[0]} -r {info.resolution} "
        f"--strategy ml_signal --param signal={info.source}"
    )


def _periods_table(info: use_cases.ModelInfo) -> Table:
    table = Table(title="Out-of-sample by period", title_justify="left")
    for column in ("period", "test from", "test to", "train rows", "rows", "IC", "rank IC", "hit"):
        table.add_column(
            column, justify="right" if column not in ("test from", "test to") else "left"
        )
    for row in info.metrics["periods"]:
        table.add_row(
            str(row["number"]),
            (row["test_start"] or "")[:10],
            (row["test_end"] or "open")[:10],
            str(row.get("train_samples", "")),
            str(row["n"]),
            _num(row.get("ic")),
            _num(row.get("rank_ic")),
            _pct(row.get("hit_rate")),
        )
    return table


def _print_report(outcome: use_cases.ReportOutcome) -> None:
    info = outcome.model
    console.print(
        f"Model {info.source} (id {info.id}): {info.kind} {info.params}, target {info.target} "
        f"h={info.horizon}, {info.resolution}, symbols {', '.join(info.symbols)}; scheme "
        f"{info.scheme}; trained {info.created_at:%Y-%m-%d %H:%M} UTC."
    )
    if info.is_regime:
        for row in info.metrics["regimes"]:
            console.print(
                f"  regime {row['regime']}: {row['n']} bars ({_pct(row['share'])}), mean forward "
                f"return {_num(row['realised_mean'], 5)}, std {_num(row['realised_std'], 5)}"
            )
        return
    console.print(_periods_table(info))
    overall = info.metrics["overall"]
    console.print(
        f"Overall: {overall['n']} rows, IC {_num(overall['ic'])}, rank IC "
        f"{_num(overall['rank_ic'])}, hit rate {_pct(overall['hit_rate'])}, IC t-stat "
        f"{_num(overall['ic_t_stat'], 2)}, mean period IC {_num(overall['ic_mean'])} "
        f"(IR {_num(overall['ic_ir'], 2)}), cross-sectional rank IC {_num(overall['cs_rank_ic'])}"
    )
    calibration = Table(
        "bucket",
        "rows",
        "mean forecast",
        "mean realised",
        "up share",
        title="Calibration (forecast deciles)",
        title_justify="left",
    )
    for row in info.metrics["calibration"]:
        calibration.add_row(
            str(row["bucket"]),
            str(row["n"]),
            _num(row["forecast_mean"], 5),
            _num(row["realised_mean"], 5),
            _pct(row["up_share"]),
        )
    console.print(calibration)
    importance = info.metrics["importance"]
    ranked = list(importance["values"].items())[:10]
    console.print(
        f"Feature importance ({importance['method']}): "
        + ", ".join(f"{k} {v:.3g}" for k, v in ranked)
    )
    for test in outcome.backtests:
        result = test.result
        console.print(
            f"ml_signal on {test.symbol} ({result.equity.index[0]:%Y-%m-%d} .. "
            f"{result.equity.index[-1]:%Y-%m-%d}): {result.summary()}"
        )
        console.print(metrics_table(result))


@ml_app.command("report")
def report(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="NAME_vN, NAME (latest version) or id."),
    symbol: str | None = typer.Option(None, "-s", "--symbol", "--symbols"),
    threshold: float = typer.Option(0.0, "--threshold", help="ml_signal entry threshold."),
    allow_short: bool = typer.Option(False, "--allow-short", help="Short when below it."),
    as_json: bool = typer.Option(False, "--json", help="Print the registry row as JSON."),
) -> None:
    """Out-of-sample IC / rank IC per period, hit rate, calibration, feature importance, and the
    backtest of ml_signal on the forecasts against buy & hold."""
    symbols = parse_symbols(symbol) if symbol else None
    settings = settings_from(ctx)
    db = open_db(settings)
    try:
        outcome = use_cases.report(
            db,
            settings.data_dir,
            model,
            symbols=symbols,
            threshold=threshold,
            allow_short=allow_short,
        )
    finally:
        db.dispose()
    if as_json:
        document = json.loads(use_cases.dumps_metrics(outcome.model))
        document["backtests"] = {t.symbol: t.result.to_dict()["metrics"] for t in outcome.backtests}
        print(json.dumps(document, indent=2, default=str))
        return
    _print_report(outcome)


@ml_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Registered models, newest first."""
    db = open_db(settings_from(ctx))
    try:
        models = use_cases.list_models(db)
    finally:
        db.dispose()
    if not models:
        console.print("No models yet: try `algotrader ml train -s SPY -r 1d --model ridge`.")
        return
    table = Table(
        "id",
        "model",
        "kind",
        "target",
        "res",
        "symbols",
        "periods",
        "IC",
        "rank IC",
        "created (UTC)",
    )
    for info in models:
        overall = info.metrics.get("overall", {})
        table.add_row(
            str(info.id),
            info.source,
            info.kind,
            f"{info.target} h={info.horizon}",
            info.resolution,
            ",".join(info.symbols),
            str(len(info.periods)),
            _num(overall.get("ic")),
            _num(overall.get("rank_ic")),
            f"{info.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@ml_app.command("features")
def list_features() -> None:
    """The features models can use (every one reads bars <= t only)."""
    table = Table("feature", "needs", "definition")
    for feature in FEATURES.values():
        table.add_row(
            feature.name, ", ".join(feature.needs) or "(time, events)", feature.description
        )
    console.print(table)


@ml_app.command("check")
def check(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "-s", "--symbol"),
    resolution: str = typer.Option("1d", "-r", "--resolution"),
    features: str | None = typer.Option(None, "--features"),
) -> None:
    """Look-ahead check: recompute the features on truncated histories and compare."""
    names = [f.strip() for f in features.split(",") if f.strip()] if features else None
    settings = settings_from(ctx)
    db = open_db(settings)
    try:
        result = use_cases.check_features(
            db, parse_symbols(symbol)[0], parse_resolution(resolution), names
        )
    finally:
        db.dispose()
    if result.ok:
        console.print(
            f"No look-ahead: {len(result.features)} features on {result.bars} bars are identical "
            f"on {len(result.cuts)} truncated histories."
        )
        return
    leaks = ", ".join(f"{name} (cut at {cut} bars)" for name, cut in result.leaking.items())
    from algotrader.errors import InvalidInputError

    raise InvalidInputError(f"look-ahead in feature(s) {leaks}", "fix those features")


@ml_app.command("backtest")
def backtest(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "-s", "--symbol"),
    resolution: str = typer.Option("1d", "-r", "--resolution"),
    strategy: str = typer.Option("ml_signal", "--strategy"),
    param: list[str] | None = typer.Option(None, "--param", help="NAME=VALUE (repeatable)."),
    duration: str | None = typer.Option(None, "-d", "--duration"),
    fill: str = typer.Option("open", "--fill"),
    allow_short: bool = typer.Option(False, "--allow-short"),
    commission_bps: float = typer.Option(0.0, "--commission-bps"),
    slippage_bps: float = typer.Option(0.0, "--slippage-bps"),
) -> None:
    """Backtest a strategy on stored bars with their signals and events aligned
    (row["signal:<source>"], row["regime"], row["event:<kind>"])."""
    config = BacktestConfig(
        fill=fill,  # type: ignore[arg-type]
        allow_short=allow_short,
        commission_bps=commission_bps,
        slippage_bps=slippage_bps,
    )
    sym = parse_symbols(symbol)[0]
    res = parse_resolution(resolution)
    settings = settings_from(ctx)
    db = open_db(settings)
    try:
        result = use_cases.backtest_with_signals(
            db,
            sym,
            res,
            strategy,
            parse_params(param),
            config,
            duration=parse_duration(duration) if duration else None,
        )
    finally:
        db.dispose()
    console.print(f"Backtest complete for {sym} @ {result.resolution}: {result.summary()}")
    console.print(metrics_table(result))
    held = fmt_metric("total_return", result.metrics["buy_hold_return"])
    console.print(f"buy & hold return {held}")


def register(app: typer.Typer) -> None:
    app.add_typer(ml_app, name="ml")
