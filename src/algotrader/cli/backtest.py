"""``algotrader backtest``, ``algotrader runs`` and ``algotrader strategies``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from algotrader.cli._common import console, fmt_metric, parse_symbols, settings_from, shorten
from algotrader.cli.ingest import ConsoleListener
from algotrader.cli.report import print_saved
from algotrader.errors import InvalidInputError

if TYPE_CHECKING:
    from algotrader.app.backtests import BacktestRequest, BatchItem, StoredRun
    from algotrader.backtest.result import Result
    from algotrader.config import Settings

_EXAMPLES = """Examples:

  algotrader backtest -s SPY -r 1d --auto-fetch --fetch-duration "5 Y" --plot

  algotrader backtest -s TSLA -r 1d --strategy supertrend --plot full

  algotrader backtest -s AAPL --strategy ma_cross --param fast=10 --param slow=30 --json

  algotrader backtest -s AAPL,MSFT,SPY --strategy rsi     (one run per symbol, ranked)

  algotrader backtest --universe tech --jobs 2            (a stored list, on 2 processes)

  algotrader backtest -s AAPL --strategy strategies/my_strategy.py:MyStrategy

  algotrader backtest -s SPY --sizing percent --size 0.5 --stop-loss 2 --trailing-stop 3
  --exit-unit atr
"""
_TRADES_SHOWN = 20


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``["fast=10", "slow=30"]`` -> ``{"fast": "10", "slow": "30"}`` (the strategy coerces)."""
    params: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(
                f"invalid --param {shorten(pair)!r}", "write it as NAME=VALUE, e.g. --param fast=10"
            )
        params[key.strip()] = value.strip()
    return params


def read_universe(settings: Settings, universe: str) -> list[str]:
    """The symbols of ``--universe NAME_OR_FILE``: an existing file, else a stored list."""
    from algotrader.app.universes import resolve_universe

    return resolve_universe(settings, universe)


def metrics_table(result: Result) -> Table:
    """Strategy beside buy & hold (the metrics that exist for both) and alpha."""
    from algotrader.app.backtests import buy_hold_metrics

    m = result.metrics
    bh = buy_hold_metrics(result)
    table = Table(
        title=f"{result.strategy} vs buy & hold (all in at the first fill of the window)",
        title_justify="left",
    )
    table.add_column("metric")
    table.add_column("strategy", justify="right")
    table.add_column("buy & hold", justify="right")
    table.add_row(
        "total return",
        fmt_metric("total_return", m["total_return"]),
        fmt_metric("total_return", m["buy_hold_return"]),
    )
    table.add_row("alpha (vs buy & hold)", fmt_metric("alpha", m["alpha"]), "")
    for key in ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar"):
        table.add_row(key.replace("_", " "), fmt_metric(key, m[key]), fmt_metric(key, bh.get(key)))
    table.add_row("max drawdown duration", f"{m['max_drawdown_duration_bars']} bars", "")
    for key in ("num_trades", "win_rate", "profit_factor", "exposure"):
        table.add_row(key.replace("_", " "), fmt_metric(key, m[key]), "")
    table.add_row("periods per year", f"{m['periods_per_year']:.1f}", "")
    return table


_SYMBOL = typer.Option(
    None, "-s", "--symbol", "--symbols", help="Symbol(s) with stored bars: SPY or AAPL,MSFT."
)
_UNIVERSE = typer.Option(
    None,
    "--universe",
    help="A file of symbols (one a line) or a stored list (`algotrader universe`): "
    "one backtest per symbol.",
)
_RESOLUTION = typer.Option("1d", "-r", "--resolution", help="Bar size: 1m ... 1w.")
_STRATEGY = typer.Option(
    "ma_cross",
    "--strategy",
    help="Name, entry point, strategies/NAME.py or path/file.py:Class.",
)
_PARAM = typer.Option(None, "--param", help="Strategy parameter NAME=VALUE (repeatable).")
_DURATION = typer.Option(
    None, "-d", "--duration", help='Backtest only the last DURATION of stored bars, e.g. "2 Y".'
)
_AUTO_FETCH = typer.Option(
    False, "--auto-fetch", help="Fetch missing bars (start and end of the window) first."
)
_FETCH_DURATION = typer.Option(
    None,
    "--fetch-duration",
    help='How much to fetch and test with --auto-fetch (default "5 Y").',
)
_SOURCE = typer.Option(None, "--source", help="Data source for --auto-fetch.")
_PLOT = typer.Option(
    False, "--plot", help="Save a PNG (`--plot full` adds equity, drawdown and metrics)."
)
_PLOT_MODE = typer.Argument(None, help="`full` after --plot for the full plot.", show_default=False)
_AS_JSON = typer.Option(False, "--json", help="Print the whole result as JSON.")
_REPORT = typer.Option(
    False, "--report", help="Write the interactive HTML report of the run (data/reports/)."
)
_FILL = typer.Option(
    "open", "--fill", help="open: next bar's open (default); close: the signal bar's close."
)
_ALLOW_SHORT = typer.Option(
    False, "--allow-short", help="SELL opens a short position (default: SELL goes flat)."
)
_WHOLE_SHARES = typer.Option(
    False, "--whole-shares", help="Trade whole shares only (default: fractional)."
)
_CASH = typer.Option(100_000.0, "--cash", help="Starting cash.")
_COMMISSION_PER_SHARE = typer.Option(
    0.0, "--commission-per-share", help="Commission per share traded."
)
_COMMISSION_BPS = typer.Option(
    0.0, "--commission-bps", help="Commission in basis points of the traded value."
)
_COMMISSION_MIN = typer.Option(0.0, "--commission-min", help="Minimum commission per order.")
_SLIPPAGE_BPS = typer.Option(
    0.0, "--slippage-bps", help="Adverse price move per fill, in basis points."
)
_RISK_FREE_RATE = typer.Option(
    0.0, "--risk-free-rate", help="Annual risk-free rate for Sharpe/Sortino, e.g. 0.02."
)
_SIZING = typer.Option(
    "all_in",
    "--sizing",
    help="Entry size: all_in, percent (of equity), cash, shares or volatility (ATR target).",
)
_SIZE = typer.Option(None, "--size", help="The number --sizing reads, e.g. 0.5 for percent.")
_STOP_LOSS = typer.Option(None, "--stop-loss", help="Exit this far against the entry.")
_TAKE_PROFIT = typer.Option(None, "--take-profit", help="Exit this far in favour of the entry.")
_TRAILING_STOP = typer.Option(
    None, "--trailing-stop", help="Exit this far from the best level since the entry."
)
_EXIT_UNIT = typer.Option(
    "percent", "--exit-unit", help="Units of the exits: percent (0.05 = 5%) or atr (multiples)."
)
_ATR_PERIOD = typer.Option(14, "--atr-period", help="ATR period for atr exits and sizing.")
_LIMIT_ENTRY = typer.Option(
    None, "--limit-entry", help="Enter with a limit this fraction better than the signal close."
)
_LIMIT_BARS = typer.Option(1, "--limit-bars", help="Bars an unfilled limit entry rests.")
_JOBS = typer.Option(
    None,
    "--jobs",
    min=1,
    help="Several symbols: worker processes (1: this process; default: all cores once the "
    "batch is long enough to pay for them).",
)
_DASK = typer.Option(
    None, "--dask", help="Several symbols: run on a Dask cluster, tcp://host:8786 or local."
)
# The flags that are BacktestConfig fields of the same name.
_CONFIG_FLAGS = (
    "cash",
    "commission_per_share",
    "commission_bps",
    "commission_min",
    "slippage_bps",
    "fill",
    "allow_short",
    "whole_shares",
    "risk_free_rate",
    "sizing",
    "size",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "exit_unit",
    "atr_period",
    "limit_entry",
    "limit_bars",
)


def backtest(
    ctx: typer.Context,
    symbol: str | None = _SYMBOL,
    universe: str | None = _UNIVERSE,
    resolution: str = _RESOLUTION,
    strategy: str = _STRATEGY,
    param: list[str] | None = _PARAM,
    duration: str | None = _DURATION,
    auto_fetch: bool = _AUTO_FETCH,
    fetch_duration: str | None = _FETCH_DURATION,
    source: str | None = _SOURCE,
    plot: bool = _PLOT,
    plot_mode: str | None = _PLOT_MODE,
    as_json: bool = _AS_JSON,
    report: bool = _REPORT,
    fill: str = _FILL,
    allow_short: bool = _ALLOW_SHORT,
    whole_shares: bool = _WHOLE_SHARES,
    cash: float = _CASH,
    commission_per_share: float = _COMMISSION_PER_SHARE,
    commission_bps: float = _COMMISSION_BPS,
    commission_min: float = _COMMISSION_MIN,
    slippage_bps: float = _SLIPPAGE_BPS,
    risk_free_rate: float = _RISK_FREE_RATE,
    sizing: str = _SIZING,
    size: float | None = _SIZE,
    stop_loss: float | None = _STOP_LOSS,
    take_profit: float | None = _TAKE_PROFIT,
    trailing_stop: float | None = _TRAILING_STOP,
    exit_unit: str = _EXIT_UNIT,
    atr_period: int = _ATR_PERIOD,
    limit_entry: float | None = _LIMIT_ENTRY,
    limit_bars: int = _LIMIT_BARS,
    jobs: int | None = _JOBS,
    dask: str | None = _DASK,
) -> None:
    """Backtest a strategy on stored bars; prints the summary line and a metrics table.

    Several symbols run one independent backtest each and print one ranked table."""
    from algotrader.app.backtests import run_backtest

    full = _full_plot(plot, plot_mode)
    template = _template(ctx.params)
    settings = settings_from(ctx)
    requests = [replace(template, symbol=s) for s in symbols_from(settings, symbol, universe)]
    settings = outputs_ready(settings, plot=plot, report=report)
    if not as_json:  # --json prints nothing but the document
        announce_compile()
    if len(requests) > 1:
        _run_batch(
            settings, requests, as_json=as_json, plot=plot, full=full, report=report,
            jobs=jobs, dask=dask,
        )  # fmt: skip
        return
    with ConsoleListener("auto-fetch") as listener:
        stored = run_backtest(settings, requests[0], None if as_json else listener)
    _report(settings, stored, as_json=as_json, plot=plot, full=full, report=report)


def announce_compile() -> None:
    """Say so when the next backtest compiles the engine (a new install's first run is
    otherwise silent for half a minute)."""
    from algotrader.app.backtests import first_backtest_compiles

    if first_backtest_compiles():
        console.print(
            "First backtest on this install: compiling the engine "
            "(about half a minute, once; later runs load it from the cache) ..."
        )


def _template(flags: dict[str, Any]) -> BacktestRequest:
    """The request every symbol gets (``symbol`` left empty), from the command's flags."""
    from algotrader.app.backtests import BacktestRequest
    from algotrader.backtest.result import BacktestConfig
    from algotrader.timeframes import parse_duration, parse_resolution

    fetch = parse_duration(flags["fetch_duration"]) if flags["fetch_duration"] else None
    return BacktestRequest(
        symbol="",
        resolution=parse_resolution(flags["resolution"]),
        strategy=flags["strategy"],
        params=parse_params(flags["param"]),
        config=BacktestConfig(**{k: flags[k] for k in _CONFIG_FLAGS}),
        duration=parse_duration(flags["duration"]) if flags["duration"] else fetch,
        auto_fetch=flags["auto_fetch"],
        fetch_duration=fetch,
        source=_source(flags["source"]),
    )


def outputs_ready(settings: Settings, *, plot: bool = False, report: bool = False) -> Settings:
    """``settings``, once the plots (``--plot``) and reports (``--report``) folders are known to
    take a file: checked before anything is stored, so an output that cannot be written leaves no
    run behind."""
    if plot:
        from algotrader.app.charts import check_plots_dir

        check_plots_dir(settings)
    if report:
        from algotrader.app.reports import check_reports_dir

        check_reports_dir(settings)
    return settings


def _source(source: str | None) -> str | None:
    """--source checked up front, even when the bars are already stored and nothing is fetched."""
    from algotrader.config import parse_source

    return parse_source(source) if source is not None else None


def _full_plot(plot: bool, plot_mode: str | None) -> bool:
    if plot_mode is not None and (plot_mode.lower() != "full" or not plot):
        raise InvalidInputError(
            f"unexpected argument {shorten(plot_mode)!r}", "use --plot or --plot full"
        )
    return plot_mode is not None


def symbols_from(settings: Settings, symbol: str | None, universe: str | None) -> list[str]:
    """The symbols of ``-s`` or of ``--universe`` (a file or a stored list; exactly one)."""
    if (symbol is None) == (universe is None):
        raise InvalidInputError(
            "give either -s SYMBOLS or --universe FILE_OR_NAME",
            "e.g. -s SPY, --universe sp100.txt or --universe tech",
        )
    if symbol is not None:
        return parse_symbols(symbol)
    return read_universe(settings, universe)  # type: ignore[arg-type]


def _chart(settings: Settings, stored: StoredRun, plot: bool, full: bool) -> Path | None:
    if not plot:
        return None
    from algotrader.app.charts import save_backtest_chart

    return save_backtest_chart(settings, stored, full=full)


def html_report(settings: Settings, stored: Any) -> Path:
    """Write the report of what was just run and stored (from memory), print where."""
    from algotrader.app.reports import write_result_report

    path = write_result_report(settings, stored)
    print_saved(path)
    return path


def _document(stored: StoredRun, chart: Path | None) -> dict[str, Any]:
    document = stored.result.to_dict()
    document.update(
        run_id=stored.run_id,
        symbol=stored.symbol,
        final_equity=float(stored.result.equity.iloc[-1]),
        data_fingerprint=stored.fingerprint,
        data_sources=sorted(stored.sources),
        synthetic=stored.synthetic,
        plot=str(chart) if chart else None,
    )
    return document


def _report(
    settings: Settings, stored: StoredRun, *, as_json: bool, plot: bool, full: bool, report: bool
) -> None:
    result = stored.result
    chart = _chart(settings, stored, plot, full)
    if as_json:
        document = _document(stored, chart)
        if report:
            from algotrader.app.reports import write_result_report

            document["report"] = str(write_result_report(settings, stored))
        print(json.dumps(document, indent=2))
        return
    label = " [synthetic data]" if stored.synthetic else ""
    console.print(
        f"Backtest complete for {stored.symbol} @ {result.resolution}: {result.summary()}{label}"
    )
    console.print(metrics_table(result))
    console.print(f"Run id: {stored.run_id} (`algotrader runs show {stored.run_id}`)")
    if chart is not None:
        console.print(f"Saved plot: {chart}")
    if report:
        html_report(settings, stored)


def _run_batch(
    settings: Settings,
    requests: list[Any],
    *,
    as_json: bool,
    plot: bool,
    full: bool,
    report: bool = False,
    jobs: int | None = None,
    dask: str | None = None,
) -> None:
    from rich.progress import Progress

    from algotrader.app.backtests import run_batch

    with Progress(console=console, transient=True, disable=as_json) as progress:
        task = progress.add_task("backtests", total=len(requests))
        items = run_batch(
            settings,
            requests,
            on_done=lambda _: progress.advance(task),
            listener=None if as_json else ConsoleListener("auto-fetch"),
            jobs=jobs,
            dask=dask,
        )
    charts = {i.symbol: _chart(settings, i.run, plot, full) for i in items if i.run is not None}
    reports = _batch_reports(settings, items) if report else {}
    if as_json:
        documents = [_batch_document(i, charts.get(i.symbol)) for i in items]
        for document in documents:
            if document["symbol"] in reports:
                document["report"] = str(reports[document["symbol"]])
        print(json.dumps(documents, indent=2))
    else:
        console.print(_batch_table(items))
        for path in charts.values():
            if path is not None:
                console.print(f"Saved plot: {path}")
        for path in reports.values():
            print_saved(path)
    if any(item.run is None for item in items):
        raise typer.Exit(1)


def _batch_reports(settings: Settings, items: list[BatchItem]) -> dict[str, Path]:
    from algotrader.app.reports import write_result_report

    return {i.symbol: write_result_report(settings, i.run) for i in items if i.run is not None}


def _batch_document(item: BatchItem, chart: Path | None) -> dict[str, Any]:
    if item.run is None:
        return {"symbol": item.symbol, "error": item.error}
    return _document(item.run, chart)


def _batch_table(items: list[BatchItem]) -> Table:
    first = next((i.run for i in items if i.run is not None), None)
    title = f"{first.result.strategy} per symbol, best first" if first else "backtests"
    table = Table(title=title, title_justify="left")
    for column in (
        "#",
        "symbol",
        "run",
        "return",
        "buy & hold",
        "alpha",
        "sharpe",
        "max dd",
        "trades",
    ):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for rank, item in enumerate(items, start=1):
        if item.run is None:
            table.add_row(str(rank), item.symbol, "", f"failed: {item.error}", "", "", "", "", "")
            continue
        m = item.run.result.metrics
        table.add_row(
            str(rank),
            item.symbol + (" (synthetic)" if item.run.synthetic else ""),
            str(item.run.run_id),
            fmt_metric("total_return", m["total_return"]),
            fmt_metric("buy_hold_return", m["buy_hold_return"]),
            fmt_metric("alpha", m["alpha"]),
            fmt_metric("sharpe", m["sharpe"]),
            fmt_metric("max_drawdown", m["max_drawdown"]),
            str(m["num_trades"]),
        )
    return table


runs_app = typer.Typer(help="Stored backtest runs.", no_args_is_help=True)


@runs_app.command("list")
def runs_list(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", min=1, help="How many of the latest runs."),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="Only runs of this kind: backtest, portfolio, walkforward or study_point "
        "(default: all but study points; see `algotrader studies`).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """The latest runs, newest first, with their parameters."""
    from algotrader.app.runs import RUN_KINDS, list_runs

    if kind is not None and kind not in RUN_KINDS:
        raise InvalidInputError(
            f"unknown run kind {shorten(kind)!r}", f"use {', '.join(RUN_KINDS)}"
        )
    kinds = (kind,) if kind else tuple(k for k in RUN_KINDS if k != "study_point")
    runs = list_runs(settings_from(ctx), limit, kinds=kinds)
    if as_json:
        print(json.dumps([_run_summary(r) for r in runs], indent=2, default=str))
        return
    if not runs:
        console.print("No runs yet: try `algotrader backtest -s SPY -r 1d --auto-fetch`.")
        return
    table = Table(
        "id",
        "kind",
        "created (UTC)",
        "symbol",
        "res",
        "strategy",
        "params",
        "bars",
        "return",
        "sharpe",
        "max dd",
    )
    for run in runs:
        m = run.metrics
        table.add_row(
            str(run.id),
            run.kind,
            f"{run.created_at:%Y-%m-%d %H:%M}",
            run.symbol,
            run.resolution,
            run.strategy,
            _params_text(run.params),
            str(run.bars),
            fmt_metric("total_return", m.get("total_return")),
            fmt_metric("sharpe", m.get("sharpe")),
            fmt_metric("max_drawdown", m.get("max_drawdown")),
        )
    console.print(table)


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _run_summary(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "kind": run.kind,
        "created_at": run.created_at,
        "symbol": run.symbol,
        "resolution": run.resolution,
        "strategy": run.strategy,
        "params": run.params,
        "bars": run.bars,
        "start": run.start_ts,
        "end": run.end_ts,
        "data_source": run.data_source,
        "metrics": run.metrics,
    }


@runs_app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: int = typer.Argument(..., help="The run id (see `algotrader runs list`)."),
    all_trades: bool = typer.Option(False, "--all-trades", help="List every trade."),
) -> None:
    """One run: parameters, data, code version, metrics and trades."""
    from algotrader.app.runs import get_run

    run = get_run(settings_from(ctx), run_id)
    console.print(
        f"Run {run.id}: {run.symbol} @ {run.resolution}, strategy {run.strategy} "
        f"{_params_text(run.params)}"
    )
    console.print(
        f"Data: {run.bars} bars {run.start_ts:%Y-%m-%d %H:%M} .. {run.end_ts:%Y-%m-%d %H:%M} UTC, "
        f"source {run.data_source}, fingerprint {run.data_fingerprint[:16]}"
    )
    console.print(f"Code: {run.code_version}; config: {run.config}")
    table = Table("metric", "value")
    for key, value in run.metrics.items():
        table.add_row(key, fmt_metric(key, value))
    console.print(table)
    shown = run.trades if all_trades else run.trades[-_TRADES_SHOWN:]
    if len(shown) < len(run.trades):
        console.print(
            f"Trades: {len(run.trades)} (the last {len(shown)} shown; --all-trades lists every one)"
        )
    else:
        console.print(f"Trades: {len(run.trades)}")
    if shown:
        console.print(_trades_table(shown))


def _trades_table(trades: list[dict[str, Any]]) -> Table:
    table = Table("entry", "exit", "side", "qty", "entry px", "exit px", "pnl", "return %")
    for t in trades:
        table.add_row(
            str(t["entry_time"]),
            "open" if t.get("open") else str(t["exit_time"]),
            t["side"],
            f"{t['quantity']:.4f}",
            f"{t['entry_price']:.4f}",
            f"{t['exit_price']:.4f}" if t["exit_price"] is not None else "",
            f"{t['pnl']:.2f}",
            f"{t['return_pct']:.2f}",
        )
    return table


@runs_app.command("rerun")
def runs_rerun(
    ctx: typer.Context, run_id: int = typer.Argument(..., help="The run id to recompute.")
) -> None:
    """Recompute a stored run and confirm the metrics are identical to the last bit."""
    from algotrader.app.runs import rerun

    report = rerun(settings_from(ctx), run_id)
    if not report.same_data:
        console.print(
            f"Warning: the stored bars of run {run_id} changed since it ran (fingerprint differs)."
        )
    if not report.same_code:
        console.print(
            f"Warning: the code changed since run {run_id} (stored {report.run.code_version})."
        )
    if report.identical_metrics and report.identical_trades:
        console.print(
            f"Run {run_id} reproduced: metrics and {len(report.run.trades)} trades "
            "identical to the last bit."
        )
        return
    for line in report.differences:
        console.print(f"  {line}")
    cause = []
    if not report.same_data:
        cause.append("the data changed")
    if not report.same_code:
        cause.append("the code changed")
    raise InvalidInputError(
        f"run {run_id} did not reproduce (metrics identical: {report.identical_metrics}, "
        f"trades identical: {report.identical_trades})",
        " and ".join(cause) if cause else "report this: same data and code gave other numbers",
    )


strategies_app = typer.Typer(help="Strategies.", no_args_is_help=True)


@strategies_app.command("list")
def strategies_list() -> None:
    """Names, parameters and the one-line rule of every strategy (built-in, entry point, and
    the files in ./strategies)."""
    from algotrader.strategies.registry import list_strategies

    table = Table("name", "parameters", "rule", "source")
    for info in list_strategies():
        params = ", ".join(f"{k}={v}" for k, v in info.params.items())
        table.add_row(info.name, params, info.rule, info.source)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("backtest", epilog=_EXAMPLES)(backtest)
    app.add_typer(runs_app, name="runs")
    app.add_typer(strategies_app, name="strategies")
