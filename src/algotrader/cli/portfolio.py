"""``algotrader portfolio``: backtest a basket of symbols sharing one cash account."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from algotrader.cli._common import console, fmt_metric, parse_symbols, settings_from, shorten
from algotrader.cli.backtest import outputs_ready, parse_params, symbols_from
from algotrader.cli.ingest import ConsoleListener
from algotrader.errors import InvalidInputError

_EXAMPLES = """Examples:

  algotrader portfolio -s AAPL,MSFT,SPY,TLT,GLD -r 1d --allocator equal --rebalance monthly

  algotrader portfolio -s SPY,TLT,GLD --allocator inverse_vol --param lookback=63 --benchmark SPY

  algotrader portfolio --universe tech.txt --allocator signals --param strategy=rsi --max-weight 0.2

  algotrader portfolio -s AAPL,MSFT,XOM --allocator momentum --param top_n=2 --sector-cap Tech=0.5
"""

_SYMBOLS = typer.Option(None, "-s", "--symbol", "--symbols", help="The basket: AAPL,MSFT,SPY.")
_UNIVERSE = typer.Option(
    None, "--universe", help="A file of symbols (one a line) or a stored list (`universe add`)."
)
_RESOLUTION = typer.Option("1d", "-r", "--resolution", help="Bar size: 1m ... 1w.")
_ALLOCATOR = typer.Option(
    "equal",
    "--allocator",
    help="equal, inverse_vol, min_variance, risk_parity, momentum, signals or file.py:Class.",
)
_REBALANCE = typer.Option(
    "monthly", "--rebalance", help="daily, weekly, monthly, quarterly, drift or signal."
)
_DRIFT = typer.Option(
    None,
    "--drift-threshold",
    help="With --rebalance drift: rebalance when a weight leaves its target by this much "
    "(default 0.05).",
)
_PARAM = typer.Option(None, "--param", help="Allocator parameter NAME=VALUE (repeatable).")
_BENCHMARK = typer.Option(
    None, "--benchmark", help="Compare with this symbol's buy & hold (default: equal weight)."
)
_MAX_WEIGHT = typer.Option(None, "--max-weight", help="Cap on any one symbol's weight, e.g. 0.2.")
_SECTOR_CAP = typer.Option(
    None, "--sector-cap", help="Cap on a sector's weight, SECTOR=WEIGHT (repeatable)."
)
_INDUSTRY_CAP = typer.Option(
    None, "--industry-cap", help="Cap on an industry's weight, INDUSTRY=WEIGHT (repeatable)."
)
_DURATION = typer.Option(None, "-d", "--duration", help='Only the last DURATION, e.g. "5 Y".')
_AUTO_FETCH = typer.Option(False, "--auto-fetch", help="Fetch missing bars of every symbol.")
_FETCH_DURATION = typer.Option(
    None, "--fetch-duration", help='How much to fetch with --auto-fetch (default "5 Y").'
)
_SOURCE = typer.Option(None, "--source", help="Data source for --auto-fetch.")
_FILL = typer.Option("open", "--fill", help="open: next bar's open; close: the decision bar's.")
_WHOLE = typer.Option(False, "--whole-shares", help="Trade whole shares only.")
_CASH = typer.Option(100_000.0, "--cash", help="Starting cash.")
_PER_SHARE = typer.Option(0.0, "--commission-per-share", help="Commission per share traded.")
_BPS = typer.Option(0.0, "--commission-bps", help="Commission in basis points of value traded.")
_MIN = typer.Option(0.0, "--commission-min", help="Minimum commission per order.")
_SLIPPAGE = typer.Option(0.0, "--slippage-bps", help="Adverse price move per fill, in bps.")
_PLOT = typer.Option(False, "--plot", help="Save equity, drawdown and weights as a PNG.")
_JSON = typer.Option(False, "--json", help="Print the whole result as JSON.")
_REPORT = typer.Option(
    False, "--report", help="Write the interactive HTML report of the run (data/reports/)."
)


def portfolio(
    ctx: typer.Context,
    symbol: str | None = _SYMBOLS,
    universe: str | None = _UNIVERSE,
    resolution: str = _RESOLUTION,
    allocator: str = _ALLOCATOR,
    rebalance: str = _REBALANCE,
    drift_threshold: float | None = _DRIFT,
    param: list[str] | None = _PARAM,
    benchmark: str | None = _BENCHMARK,
    max_weight: float | None = _MAX_WEIGHT,
    sector_cap: list[str] | None = _SECTOR_CAP,
    industry_cap: list[str] | None = _INDUSTRY_CAP,
    duration: str | None = _DURATION,
    auto_fetch: bool = _AUTO_FETCH,
    fetch_duration: str | None = _FETCH_DURATION,
    source: str | None = _SOURCE,
    fill: str = _FILL,
    whole_shares: bool = _WHOLE,
    cash: float = _CASH,
    commission_per_share: float = _PER_SHARE,
    commission_bps: float = _BPS,
    commission_min: float = _MIN,
    slippage_bps: float = _SLIPPAGE,
    plot: bool = _PLOT,
    as_json: bool = _JSON,
    report: bool = _REPORT,
) -> None:
    """Backtest an allocation over several symbols with one cash account and rebalancing."""
    from algotrader.app.portfolios import PortfolioRequest, run_portfolio
    from algotrader.timeframes import parse_duration, parse_resolution

    symbols = symbols_from(settings_from(ctx), symbol, universe)
    config: dict[str, Any] = {
        "cash": cash,
        "fill": fill,
        "whole_shares": whole_shares,
        "commission_per_share": commission_per_share,
        "commission_bps": commission_bps,
        "commission_min": commission_min,
        "slippage_bps": slippage_bps,
        **_rules(benchmark, max_weight, sector_cap, industry_cap, drift_threshold),
    }
    request = PortfolioRequest(
        symbols=tuple(symbols),
        resolution=parse_resolution(resolution),
        allocator=allocator,
        rebalance=rebalance,
        params=parse_params(param),
        settings=config,
        duration=parse_duration(duration) if duration else None,
        auto_fetch=auto_fetch,
        fetch_duration=parse_duration(fetch_duration) if fetch_duration else None,
        source=source,
    )
    settings = outputs_ready(settings_from(ctx), plot=plot, report=report)
    with ConsoleListener("auto-fetch", len(symbols)) as listener:
        stored = run_portfolio(settings, request, None if as_json else listener)
    chart = _chart(settings, stored) if plot else None
    written = _html_report(settings, stored) if report else None
    if as_json:
        _print_json(stored, chart, written)
    else:
        _render(stored, chart, written)


def _print_json(stored: Any, chart: Any = None, written: Any = None) -> None:
    document = {"run_id": stored.run_id, **stored.result.to_dict()}
    document.update(synthetic=stored.synthetic, plot=chart and str(chart))
    print(json.dumps({**document, "report": written and str(written)}, indent=2))


def _rules(
    benchmark: str | None,
    max_weight: float | None,
    sector_cap: list[str] | None,
    industry_cap: list[str] | None,
    drift_threshold: float | None,
) -> dict[str, Any]:
    """The :class:`~algotrader.portfolio.PortfolioConfig` fields the flags set (the rest keep
    their defaults): benchmark, caps and the drift band."""
    limits: dict[str, Any] = {}
    if drift_threshold is not None:
        limits["drift_threshold"] = drift_threshold
    if benchmark:
        limits["benchmark"] = parse_symbols(benchmark)[0]
    if max_weight is not None:
        limits["max_weight"] = max_weight
    if sector_cap:
        limits["sector_caps"] = _caps(sector_cap, "--sector-cap", "SECTOR=WEIGHT, e.g. Tech=0.4")
    if industry_cap:
        limits["industry_caps"] = _caps(
            industry_cap, "--industry-cap", "INDUSTRY=WEIGHT, e.g. Software=0.3"
        )
    return limits


def _caps(pairs: list[str], flag: str, form: str) -> dict[str, float]:
    caps: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            caps[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InvalidInputError(f"invalid {flag} {shorten(pair)!r}", f"write it as {form}")
    return caps


def _chart(settings: Any, stored: Any) -> Any:
    from algotrader.app.charts import save_portfolio_chart

    return save_portfolio_chart(settings, stored)


def _html_report(settings: Any, stored: Any) -> Any:
    from algotrader.app.reports import write_result_report

    return write_result_report(settings, stored)


def _render(stored: Any, chart: Any = None, written: Any = None) -> None:
    result = stored.result
    label = " [synthetic data]" if stored.synthetic else ""
    console.print(f"Portfolio complete: {result.summary()}{label}")
    m = result.metrics
    table = Table(
        "metric",
        "portfolio",
        title=f"{result.allocator} over {len(result.symbols)} symbols",
        title_justify="left",
    )
    for key in (
        "total_return",
        "buy_hold_return",
        "alpha",
        "cagr",
        "volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "calmar",
        "turnover_per_year",
        "avg_holdings",
    ):
        if key in m:
            table.add_row(key.replace("_", " "), fmt_metric(key, m[key]))
    console.print(table)
    per = Table("symbol", "contribution", "pnl", "trades", "final weight")
    for row in result.per_symbol.reset_index().to_dict("records"):
        per.add_row(
            str(row.get("symbol")),
            fmt_metric("total_return", row.get("contribution")),
            f"{row.get('pnl', 0.0):.2f}",
            str(row.get("trades")),
            fmt_metric("total_return", row.get("final_weight")),
        )
    console.print(per)
    console.print(f"Run id: {stored.run_id} (`algotrader runs show {stored.run_id}`)")
    if chart is not None:
        console.print(f"Saved plot: {chart}")
    if written is not None:
        from algotrader.cli.report import print_saved

        print_saved(written)


def register(app: typer.Typer) -> None:
    app.command("portfolio", epilog=_EXAMPLES)(portfolio)
