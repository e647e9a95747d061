"""``algotrader ml``: train, predict, report and list models; list and check features.

Forecasts are strategy inputs like any stored signal: every backtest loads them, e.g.
``algotrader backtest -s AAPL --strategy ml_signal --param signal=lightgbm_v1``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from algotrader.cli._common import console, parse_symbols, settings_from
from algotrader.cli.backtest import metrics_table, parse_params

if TYPE_CHECKING:
    from algotrader.app.ml import ReportOutcome, TrainOutcome
    from algotrader.ml.splits import Period
    from algotrader.ports.stores import ModelInfo

# The kinds of algotrader.ml.models.KINDS, spelled out so that `--help` loads no ML code (a test
# keeps the two lists equal).
MODEL_KINDS = ("ridge", "gbr", "lightgbm", "xgboost", "lstm", "hmm")

ml_app = typer.Typer(
    help="Machine-learning signals: train, predict, report, list; features and their check.",
    no_args_is_help=True,
)

_SYMBOLS = typer.Option(
    ..., "-s", "--symbol", "--symbols", help="Symbol(s) with stored bars: AAPL or AAPL,MSFT."
)
_SOME_SYMBOLS = typer.Option(
    None, "-s", "--symbol", "--symbols", help="Symbol(s) (default: those it was trained on)."
)
_RESOLUTION = typer.Option("1d", "-r", "--resolution", help="Bar size: 1m ... 1w.")
_MODEL_REF = typer.Argument(..., help="NAME_vN, NAME (its latest version) or the id.")
_FEATURES = typer.Option(
    None, "--features", help="Comma-separated feature names (default: all; see `ml features`)."
)


def _num(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _names(text: str | None) -> tuple[str, ...] | None:
    return tuple(f.strip() for f in text.split(",") if f.strip()) if text else None


@contextmanager
def _period_progress() -> Iterator[Callable[[Period, int], None] | None]:
    if not console.is_terminal:  # piped output: no progress bar (nor its trailing newline)
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("train", total=None)

        def advance(period: Period, total: int) -> None:
            progress.update(task, total=total, completed=period.number)

        yield advance


@ml_app.command("train")
def train(
    ctx: typer.Context,
    symbol: str = _SYMBOLS,
    resolution: str = _RESOLUTION,
    model: str = typer.Option("lightgbm", "--model", help=f"One of {', '.join(MODEL_KINDS)}."),
    target: str = typer.Option(
        "fwd_return", "--target", help="What to forecast: next_return, fwd_return or direction."
    ),
    horizon: int = typer.Option(5, "--horizon", help="Bars ahead (fwd_return, direction)."),
    train_window: str = typer.Option("3 Y", "--train", help='Training window, e.g. "3 Y".'),
    retrain_every: str | None = typer.Option(
        None, "--retrain-every", help='Walk-forward step, e.g. "3 M" (default: train once).'
    ),
    window: str = typer.Option("sliding", "--window", help="sliding or expanding."),
    embargo: int | None = typer.Option(
        None, "--embargo", help="Bars between a training window and its period (default: horizon)."
    ),
    features: str | None = _FEATURES,
    param: list[str] | None = typer.Option(
        None, "--param", help="Model parameter NAME=VALUE (repeatable)."
    ),
    name: str | None = typer.Option(None, "--name", help="Registry name (default: the model)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same data and seed, same model."),
    duration: str | None = typer.Option(
        None, "-d", "--duration", help='Use only the last DURATION of the stored bars, e.g. "5 Y".'
    ),
) -> None:
    """Train walk-forward on stored bars and register the model (row + artefact file)."""
    from algotrader.app.ml import TrainRequest
    from algotrader.app.ml import train as train_model
    from algotrader.ml.pipeline import TrainConfig
    from algotrader.timeframes import parse_duration, parse_resolution

    config = TrainConfig(
        model=model,
        params=parse_params(param),
        target=target,
        horizon=horizon,
        train=parse_duration(train_window),
        retrain_every=parse_duration(retrain_every) if retrain_every else None,
        # Any other text is refused by the use case, in one line.
        window=window,  # type: ignore[arg-type]
        embargo=embargo,
        features=_names(features),
        seed=seed,
    )
    request = TrainRequest(
        symbols=tuple(parse_symbols(symbol)),
        resolution=parse_resolution(resolution),
        config=config,
        name=name,
        duration=parse_duration(duration) if duration else None,
    )
    settings = settings_from(ctx)
    with _period_progress() as advance:
        outcome = train_model(settings, request, advance)
    _print_trained(outcome, settings.data_dir)


def _print_trained(outcome: TrainOutcome, data_dir: Path) -> None:
    info = outcome.model
    overall = info.metrics["overall"]
    console.print(
        f"Trained {info.source} (id {info.id}): {info.kind} on {', '.join(info.symbols)} @ "
        f"{info.resolution}, {len(info.periods)} period(s), {overall['n']} out-of-sample rows."
    )
    if info.is_regime:
        _print_regimes(info)
    else:
        console.print(
            f"Out-of-sample: IC {_num(overall['ic'])}, rank IC {_num(overall['rank_ic'])}, "
            f"hit rate {_pct(overall['hit_rate'])}, IC t-stat {_num(overall['ic_t_stat'], 2)}."
        )
    console.print(f"Artefact: {Path(data_dir) / info.artefact_path}")
    console.print(f"Next: algotrader ml predict {info.source} -s {','.join(info.symbols)}")


def _print_regimes(info: ModelInfo) -> None:
    for row in info.metrics["regimes"]:
        console.print(
            f"  regime {row['regime']}: {row['n']} bars ({_pct(row['share'])}), mean forward "
            f"return {_num(row['realised_mean'], 5)}, std {_num(row['realised_std'], 5)}"
        )


@ml_app.command("predict")
def predict(
    ctx: typer.Context, model: str = _MODEL_REF, symbol: str | None = _SOME_SYMBOLS
) -> None:
    """Write the model's forecasts of the stored bars into external_signals (idempotent)."""
    from algotrader.app.ml import PredictRequest
    from algotrader.app.ml import predict as predict_signals

    symbols = tuple(parse_symbols(symbol)) if symbol else None
    outcome = predict_signals(settings_from(ctx), PredictRequest(model, symbols))
    info = outcome.model
    console.print(
        f"Forecasts of {info.source} for {', '.join(outcome.symbols)}: {outcome.rows} rows "
        f"{outcome.first_ts:%Y-%m-%d %H:%M} .. {outcome.last_ts:%Y-%m-%d %H:%M} UTC; "
        f"inserted {outcome.inserted}, updated {outcome.updated}, unchanged {outcome.unchanged}."
    )
    read_as = f'row["signal:{info.source}"]' + (' and row["regime"]' if info.is_regime else "")
    console.print(
        f"Every backtest of these symbols reads them as {read_as}, e.g. algotrader backtest "
        f"-s {outcome.symbols[0]} -r {info.resolution} --strategy ml_signal "
        f"--param signal={info.source}"
    )


def _periods_table(info: ModelInfo) -> Table:
    table = Table(title="Out-of-sample by period", title_justify="left")
    for column in ("period", "test from", "test to", "train rows", "rows", "IC", "rank IC", "hit"):
        table.add_column(column, justify="left" if column.startswith("test ") else "right")
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


def _calibration_table(info: ModelInfo) -> Table:
    table = Table(
        "bucket",
        "rows",
        "mean forecast",
        "mean realised",
        "up share",
        title="Calibration (forecast deciles)",
        title_justify="left",
    )
    for row in info.metrics["calibration"]:
        table.add_row(
            str(row["bucket"]),
            str(row["n"]),
            _num(row["forecast_mean"], 5),
            _num(row["realised_mean"], 5),
            _pct(row["up_share"]),
        )
    return table


def _print_report(outcome: ReportOutcome) -> None:
    info = outcome.model
    console.print(
        f"Model {info.source} (id {info.id}): {info.kind} {info.params}, target {info.target} "
        f"h={info.horizon}, {info.resolution}, symbols {', '.join(info.symbols)}; scheme "
        f"{info.scheme}; trained {info.created_at:%Y-%m-%d %H:%M} UTC."
    )
    if info.is_regime:
        _print_regimes(info)
        return
    console.print(_periods_table(info))
    overall = info.metrics["overall"]
    console.print(
        f"Overall: {overall['n']} rows, IC {_num(overall['ic'])}, rank IC "
        f"{_num(overall['rank_ic'])}, hit rate {_pct(overall['hit_rate'])}, IC t-stat "
        f"{_num(overall['ic_t_stat'], 2)}, mean period IC {_num(overall['ic_mean'])} "
        f"(IR {_num(overall['ic_ir'], 2)}), cross-sectional rank IC {_num(overall['cs_rank_ic'])}"
    )
    console.print(_calibration_table(info))
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


def _model_document(outcome: ReportOutcome) -> dict[str, Any]:
    info = outcome.model
    return {
        "id": info.id,
        "model": info.source,
        "kind": info.kind,
        "target": info.target,
        "horizon": info.horizon,
        "resolution": info.resolution,
        "symbols": list(info.symbols),
        "features": list(info.features),
        "scheme": info.scheme,
        "periods": list(info.periods),
        "metrics": info.metrics,
        "artefact": info.artefact_path,
        "artefact_sha256": info.artefact_sha256,
        "library_versions": info.library_versions,
        "backtests": {t.symbol: t.result.to_dict()["metrics"] for t in outcome.backtests},
    }


@ml_app.command("report")
def report(
    ctx: typer.Context,
    model: str = _MODEL_REF,
    symbol: str | None = _SOME_SYMBOLS,
    threshold: float = typer.Option(0.0, "--threshold", help="ml_signal entry threshold."),
    allow_short: bool = typer.Option(
        False, "--allow-short", help="ml_signal goes short below the threshold."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the registry row as JSON."),
) -> None:
    """Out-of-sample IC / rank IC per period, hit rate, calibration, feature importance, and the
    backtest of ml_signal on the forecasts against buy & hold."""
    from algotrader.app.ml import ReportRequest
    from algotrader.app.ml import report as model_report

    symbols = tuple(parse_symbols(symbol)) if symbol else None
    request = ReportRequest(model, symbols, threshold=threshold, allow_short=allow_short)
    outcome = model_report(settings_from(ctx), request)
    if as_json:
        print(json.dumps(_model_document(outcome), indent=2, default=str))
        return
    _print_report(outcome)


@ml_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Registered models, newest first."""
    from algotrader.app.ml import list_models as registered

    models = registered(settings_from(ctx))
    if not models:
        console.print("No models yet: try `algotrader ml train -s SPY -r 1d --model ridge`.")
        return
    table = Table(
        "id", "model", "kind", "target", "res", "symbols", "periods", "IC", "rank IC",
        "created (UTC)",
    )  # fmt: skip
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
    from algotrader.ml.features import FEATURES

    table = Table("feature", "needs", "definition")
    for feature in FEATURES.values():
        needs = ", ".join(feature.needs) or "(time, events)"
        table.add_row(feature.name, needs, feature.description)
    console.print(table)


@ml_app.command("check")
def check(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "-s", "--symbol", help="A symbol with stored bars."),
    resolution: str = _RESOLUTION,
    features: str | None = _FEATURES,
) -> None:
    """Look-ahead check: recompute the features on truncated histories and compare."""
    from algotrader.app.ml import CheckRequest, check_features
    from algotrader.errors import InvalidInputError
    from algotrader.timeframes import parse_resolution

    request = CheckRequest(parse_symbols(symbol)[0], parse_resolution(resolution), _names(features))
    result = check_features(settings_from(ctx), request)
    if not result.ok:
        leaks = ", ".join(f"{name} (cut at {cut} bars)" for name, cut in result.leaking.items())
        raise InvalidInputError(f"look-ahead in feature(s) {leaks}", "fix those features")
    console.print(
        f"No look-ahead: {len(result.features)} features on {result.bars} bars are identical "
        f"on {len(result.cuts)} truncated histories."
    )


def register(app: typer.Typer) -> None:
    app.add_typer(ml_app, name="ml")
