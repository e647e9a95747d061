"""``algotrader backtest``, ``algotrader runs`` and ``algotrader strategies``."""

from __future__ import annotations

import json
import math
from typing import Any

import typer
from rich.table import Table

from algotrader.backtest.result import BacktestConfig, Result
from algotrader.backtest.runner import StoredRun, list_runs, rerun, run_stored_backtest
from algotrader.cli._common import console, open_db, parse_symbols, settings_from
from algotrader.cli.ingest import run_ingest
from algotrader.config import Settings
from algotrader.data.ingest import IngestWindow
from algotrader.db.store import BarStore
from algotrader.errors import InvalidInputError
from algotrader.plotting import backtest_chart, plot_path
from algotrader.strategies.registry import list_strategies
from algotrader.timeframes import Duration, Resolution, parse_duration, parse_resolution

_PCT = {
    "total_return",
    "buy_hold_return",
    "alpha",
    "cagr",
    "volatility",
    "max_drawdown",
    "win_rate",
    "exposure",
}


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``["fast=10", "slow=30"]`` -> ``{"fast": "10", "slow": "30"}`` (the strategy coerces)."""
    params: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(
                f"invalid --param {pair!r}", "write it as NAME=VALUE, e.g. --param fast=10"
            )
        params[key.strip()] = value.strip()
    return params


def _fmt(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if key in _PCT:
        return f"{value * 100:.2f}%"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _buy_hold_metrics(result: Result) -> dict[str, float]:
    """The risk metrics of the buy-and-hold curve, computed like the strategy's."""
    import numpy as np

    from algotrader.backtest import metrics as mt

    curve = result.buy_hold.to_numpy(np.float64)
    periods = result.metrics["periods_per_year"]
    rf = result.config.risk_free_rate
    growth = mt.cagr(result.metrics["buy_hold_return"], result.metrics["years"])
    drawdown = mt.max_drawdown(curve)[0]
    return {
        "cagr": growth,
        "volatility": mt.annualized_volatility(curve, periods),
        "sharpe": mt.sharpe_ratio(curve, periods, rf),
        "sortino": mt.sortino_ratio(curve, periods, rf),
        "max_drawdown": drawdown,
        "calmar": mt.calmar_ratio(growth, drawdown),
    }


def metrics_table(result: Result) -> Table:
    """Strategy beside buy & hold (the metrics that exist for both) and alpha."""
    m = result.metrics
    bh = _buy_hold_metrics(result)
    table = Table(title=f"{result.strategy} vs buy & hold", title_justify="left")
    table.add_column("metric")
    table.add_column("strategy", justify="right")
    table.add_column("buy & hold", justify="right")
    table.add_row(
        "total return",
        _fmt("total_return", m["total_return"]),
        _fmt("total_return", m["buy_hold_return"]),
    )
    table.add_row("alpha (vs buy & hold)", _fmt("alpha", m["alpha"]), "")
    for key in ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar"):
        table.add_row(key.replace("_", " "), _fmt(key, m[key]), _fmt(key, bh.get(key)))
    table.add_row("max drawdown duration", f"{m['max_drawdown_duration_bars']} bars", "")
    for key in ("num_trades", "win_rate", "profit_factor", "exposure"):
        table.add_row(key.replace("_", " "), _fmt(key, m[key]), "")
    table.add_row("periods per year", f"{m['periods_per_year']:.1f}", "")
    return table


def ensure_bars(
    settings: Settings,
    symbol: str,
    resolution: Resolution,
    fetch_duration: Duration,
    source: str | None,
) -> None:
    """Fetch through the ingest pipeline when the store does not cover ``fetch_duration``."""
    db = open_db(settings)
    try:
        bounds = BarStore(db).bounds(symbol, resolution.name)
    finally:
        db.dispose()
    if bounds is not None:
        import pandas as pd

        wanted = fetch_duration.start_before(pd.Timestamp.now("UTC").to_pydatetime())
        # A few days of slack: the first session after `wanted` may start later (weekends).
        if bounds[0] <= wanted + pd.Timedelta(days=7):
            return
    run_ingest(
        settings,
        [symbol],
        [resolution],
        IngestWindow(fetch_duration),
        source=source,
        show_progress=False,
    )


def backtest(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "-s", "--symbol", help="Symbol to backtest (stored bars)."),
    resolution: str = typer.Option("1d", "-r", "--resolution"),
    strategy: str = typer.Option(
        "ma_cross", "--strategy", help="Name, entry point or path/file.py:Class."
    ),
    param: list[str] | None = typer.Option(
        None, "--param", help="Strategy parameter NAME=VALUE (repeatable)."
    ),
    duration: str | None = typer.Option(
        None, "-d", "--duration", help="Backtest only the last DURATION of stored bars."
    ),
    auto_fetch: bool = typer.Option(
        False, "--auto-fetch", help="Fetch missing bars through the ingest pipeline."
    ),
    fetch_duration: str | None = typer.Option(
        None, "--fetch-duration", help='How much to fetch (and test), e.g. "5 Y".'
    ),
    source: str | None = typer.Option(None, "--source", help="Data source for --auto-fetch."),
    plot: bool = typer.Option(
        False, "--plot", help="Save a PNG (add `full` for equity, drawdown and metrics)."
    ),
    plot_mode: str | None = typer.Argument(
        None, help="`full` after --plot for the full plot.", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON."),
    fill: str = typer.Option(
        "open", "--fill", help="open: next bar's open (default); close: the signal bar's close."
    ),
    allow_short: bool = typer.Option(False, "--allow-short"),
    whole_shares: bool = typer.Option(False, "--whole-shares"),
    cash: float = typer.Option(100_000.0, "--cash"),
    commission_per_share: float = typer.Option(0.0, "--commission-per-share"),
    commission_bps: float = typer.Option(0.0, "--commission-bps"),
    commission_min: float = typer.Option(0.0, "--commission-min"),
    slippage_bps: float = typer.Option(0.0, "--slippage-bps"),
    risk_free_rate: float = typer.Option(0.0, "--risk-free-rate", help="Annual, e.g. 0.02."),
) -> None:
    """Backtest a strategy on stored bars; prints the summary line and a metrics table."""
    if plot_mode is not None and (plot_mode.lower() != "full" or not plot):
        raise InvalidInputError(f"unexpected argument {plot_mode!r}", "use --plot or --plot full")
    full = plot_mode is not None
    sym = parse_symbols(symbol)[0]
    res = parse_resolution(resolution)
    fetch = parse_duration(fetch_duration) if fetch_duration else None
    window = parse_duration(duration) if duration else fetch
    params = parse_params(param)
    config = BacktestConfig(
        cash=cash,
        commission_per_share=commission_per_share,
        commission_bps=commission_bps,
        commission_min=commission_min,
        slippage_bps=slippage_bps,
        fill=fill,  # type: ignore[arg-type]
        allow_short=allow_short,
        whole_shares=whole_shares,
        risk_free_rate=risk_free_rate,
    )
    settings = settings_from(ctx)
    if auto_fetch:
        ensure_bars(settings, sym, res, fetch or parse_duration("5 Y"), source)
    db = open_db(settings)
    try:
        stored = run_stored_backtest(db, sym, res, strategy, params, config, duration=window)
    finally:
        db.dispose()
    _report(settings, sym, stored, as_json=as_json, plot=plot, full=full)


def _report(
    settings: Settings, symbol: str, stored: StoredRun, *, as_json: bool, plot: bool, full: bool
) -> None:
    result = stored.result
    chart = None
    if plot:
        chart = backtest_chart(
            stored.frame,
            result,
            symbol,
            plot_path(settings.plots_dir, symbol, result.resolution, "full" if full else ""),
            full=full,
            synthetic=stored.synthetic,
        )
    if as_json:
        document = result.to_dict()
        document.update(
            run_id=stored.run_id,
            symbol=symbol,
            data_fingerprint=stored.fingerprint,
            data_sources=sorted(stored.sources),
            plot=str(chart) if chart else None,
        )
        print(json.dumps(document, indent=2))
        return
    label = " [synthetic data]" if stored.synthetic else ""
    console.print(
        f"Backtest complete for {symbol} @ {result.resolution}: {result.summary()}{label}"
    )
    console.print(metrics_table(result))
    console.print(f"Run id: {stored.run_id} (`algotrader runs show {stored.run_id}`)")
    if chart is not None:
        console.print(f"Saved plot: {chart}")


runs_app = typer.Typer(help="Stored backtest runs.", no_args_is_help=True)


@runs_app.command("list")
def runs_list(ctx: typer.Context, limit: int = typer.Option(20, "--limit")) -> None:
    """The latest runs."""
    db = open_db(settings_from(ctx))
    try:
        runs = list_runs(db, limit)
    finally:
        db.dispose()
    if not runs:
        console.print("No runs yet: try `algotrader backtest -s SPY -r 1d --auto-fetch`.")
        return
    table = Table(
        "id", "created (UTC)", "symbol", "res", "strategy", "bars", "return", "sharpe", "max dd"
    )
    for run in runs:
        m = run.metrics
        table.add_row(
            str(run.id),
            f"{run.created_at:%Y-%m-%d %H:%M}",
            run.symbol,
            run.resolution,
            run.strategy,
            str(run.bars),
            _fmt("total_return", m.get("total_return")),
            _fmt("sharpe", m.get("sharpe")),
            _fmt("max_drawdown", m.get("max_drawdown")),
        )
    console.print(table)


@runs_app.command("show")
def runs_show(ctx: typer.Context, run_id: int = typer.Argument(...)) -> None:
    """One run: parameters, data, code version, metrics and trades."""
    from algotrader.backtest.runner import get_run

    db = open_db(settings_from(ctx))
    try:
        run = get_run(db, run_id)
    finally:
        db.dispose()
    console.print(
        f"Run {run.id}: {run.symbol} @ {run.resolution}, strategy {run.strategy} {run.params}"
    )
    console.print(
        f"Data: {run.bars} bars {run.start_ts:%Y-%m-%d %H:%M} .. {run.end_ts:%Y-%m-%d %H:%M} UTC, "
        f"source {run.data_source}, fingerprint {run.data_fingerprint[:16]}"
    )
    console.print(f"Code: {run.code_version}; config: {run.config}")
    table = Table("metric", "value")
    for key, value in run.metrics.items():
        table.add_row(key, _fmt(key, value))
    console.print(table)
    console.print(f"Trades: {len(run.trades)}")
    trades = Table("entry", "exit", "side", "qty", "entry px", "exit px", "pnl", "return %")
    for t in run.trades[-20:]:
        trades.add_row(
            str(t["entry_time"]),
            str(t["exit_time"] or "open"),
            t["side"],
            f"{t['quantity']:.4f}",
            f"{t['entry_price']:.4f}",
            f"{t['exit_price']:.4f}" if t["exit_price"] is not None else "",
            f"{t['pnl']:.2f}",
            f"{t['return_pct']:.2f}",
        )
    if run.trades:
        console.print(trades)


@runs_app.command("rerun")
def runs_rerun(ctx: typer.Context, run_id: int = typer.Argument(...)) -> None:
    """Recompute a stored run and confirm the metrics are identical to the last bit."""
    db = open_db(settings_from(ctx))
    try:
        report = rerun(db, run_id)
    finally:
        db.dispose()
    if not report.same_data:
        console.print(
            f"Warning: the stored bars of run {run_id} changed since it ran (fingerprint differs)."
        )
    if report.identical_metrics and report.identical_trades:
        console.print(
            f"Run {run_id} reproduced: metrics and {len(report.run.trades)} trades "
            "identical to the last bit."
        )
        return
    for line in report.differences:
        console.print(f"  {line}")
    raise InvalidInputError(
        f"run {run_id} did not reproduce (metrics identical: {report.identical_metrics}, "
        f"trades identical: {report.identical_trades})",
        "check the code version and whether the data changed",
    )


strategies_app = typer.Typer(help="Strategies.", no_args_is_help=True)


@strategies_app.command("list")
def strategies_list() -> None:
    """Names, parameters and the one-line rule of every strategy."""
    table = Table("name", "parameters", "rule", "source")
    for info in list_strategies():
        params = ", ".join(f"{k}={v}" for k, v in info.params.items())
        table.add_row(info.name, params, info.rule, info.source)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
    app.add_typer(runs_app, name="runs")
    app.add_typer(strategies_app, name="strategies")
