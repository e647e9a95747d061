"""``algotrader jobs``: submit backtests and batches to the worker queue, follow and cancel
them (PostgreSQL only; workers: ``algotrader serve worker``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from algotrader.cli._common import console, parse_symbols, settings_from, shorten
from algotrader.cli.backtest import parse_params, read_universe
from algotrader.errors import InvalidInputError

if TYPE_CHECKING:
    from algotrader.config import Settings
    from algotrader.ports.jobs import JobRecord

jobs_app = typer.Typer(
    help="Jobs for the workers: backtests, batches and optimisation studies, run by "
    "`algotrader serve worker`.",
    no_args_is_help=True,
)

_EXAMPLES = """Examples:

  algotrader jobs submit backtest -s SPY --strategy rsi --param lower=25

  algotrader jobs submit batch -s AAPL,MSFT,SPY --strategy ma_cross --auto-fetch

  algotrader jobs submit batch --universe sp100.txt --strategy supertrend

  algotrader jobs submit optimise -s SPY --grid fast=5:50:5 --grid slow=20:200:20

  algotrader jobs submit backtest --payload '{"symbol": "SPY", "strategy": "macd"}'
"""


def _payload(
    kind: str,
    symbols: list[str],
    options: dict[str, Any],
    config: dict[str, Any],
) -> dict[str, Any]:
    payload: dict[str, Any] = {k: v for k, v in options.items() if v not in (None, False, {})}
    defaults = {"cash": 100_000.0, "fill": "open"}
    changed = {k: v for k, v in config.items() if v != defaults.get(k, 0.0) and v is not False}
    if changed:
        payload["config"] = changed
    if kind in ("batch", "optimise"):
        payload["symbols"] = symbols
    elif len(symbols) == 1:
        payload["symbol"] = symbols[0]
    else:
        raise InvalidInputError(
            f"a {kind} job takes one symbol, not {len(symbols)}",
            "submit a batch: `algotrader jobs submit batch -s AAPL,MSFT`",
        )
    return payload


def _symbols(settings: Settings, symbol: str | None, universe: str | None) -> list[str]:
    symbols = parse_symbols(symbol) if symbol else []
    if universe is not None:
        symbols += [s for s in read_universe(settings, universe) if s not in symbols]
    if not symbols:
        raise InvalidInputError(
            "no symbol given", "pass -s SPY, -s AAPL,MSFT or --universe FILE_OR_NAME"
        )
    return symbols


def _json_payload(text: str) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"--payload is not JSON ({exc.msg})", "give a JSON object"
        ) from None
    if not isinstance(payload, dict):
        raise InvalidInputError("--payload must be a JSON object", 'e.g. {"symbol": "SPY"}')
    return payload


@jobs_app.command("submit", epilog=_EXAMPLES)
def submit(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="Job kind: backtest, batch or optimise."),
    symbol: str | None = typer.Option(None, "-s", "--symbol", "--symbols", help="Symbol(s)."),
    universe: str | None = typer.Option(
        None, "--universe", help="A file of symbols or a stored list (batch)."
    ),
    resolution: str = typer.Option("1d", "-r", "--resolution", help="Bar size: 1m ... 1w."),
    strategy: str = typer.Option("ma_cross", "--strategy", help="Strategy name or file:Class."),
    param: list[str] | None = typer.Option(None, "--param", help="NAME=VALUE (repeatable)."),
    grid: list[str] | None = typer.Option(
        None, "--grid", help="optimise: NAME=START:STOP:STEP or NAME=A,B,C (repeatable)."
    ),
    duration: str | None = typer.Option(None, "-d", "--duration", help="Last DURATION of bars."),
    auto_fetch: bool = typer.Option(False, "--auto-fetch", help="Fetch missing bars first."),
    fetch_duration: str | None = typer.Option(None, "--fetch-duration", help="With --auto-fetch."),
    source: str | None = typer.Option(None, "--source", help="Data source for --auto-fetch."),
    cash: float = typer.Option(100_000.0, "--cash", help="Starting cash."),
    commission_bps: float = typer.Option(0.0, "--commission-bps", help="Commission in bps."),
    commission_per_share: float = typer.Option(
        0.0, "--commission-per-share", help="Commission per share."
    ),
    slippage_bps: float = typer.Option(0.0, "--slippage-bps", help="Slippage in bps."),
    fill: str = typer.Option("open", "--fill", help="open (next bar) or close (signal bar)."),
    allow_short: bool = typer.Option(False, "--allow-short", help="SELL opens a short."),
    payload: str | None = typer.Option(None, "--payload", help="The whole payload as JSON."),
) -> None:
    """Queue a job; a worker runs it (see `algotrader jobs show ID`)."""
    from algotrader.app.jobs import submit_job

    settings = settings_from(ctx)
    if payload is not None:
        document = _json_payload(payload)
    else:
        options = {
            "resolution": resolution, "strategy": strategy, "params": parse_params(param),
            "duration": duration, "auto_fetch": auto_fetch, "fetch_duration": fetch_duration,
            "source": source, "grid": grid or None,
        }  # fmt: skip
        config = {
            "cash": cash, "commission_bps": commission_bps, "slippage_bps": slippage_bps,
            "commission_per_share": commission_per_share, "fill": fill, "allow_short": allow_short,
        }  # fmt: skip
        document = _payload(kind, _symbols(settings, symbol, universe), options, config)
    job = submit_job(settings, kind, document)
    console.print(f"Queued job {job.id} ({job.kind}): `algotrader jobs show {job.id}`.")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _what(job: JobRecord) -> str:
    payload = job.payload
    target = payload.get("symbol") or ",".join(payload.get("symbols", [])[:5])
    return shorten(f"{target} {payload.get('strategy', '')}".strip(), 40)


@jobs_app.command("list")
def list_jobs(
    ctx: typer.Context,
    state: str | None = typer.Option(
        None, "--state", help="Only queued, running, succeeded, failed or cancelled jobs."
    ),
    limit: int = typer.Option(50, "--limit", help="How many (newest first)."),
) -> None:
    """The latest jobs, newest first."""
    from algotrader.app.jobs import list_jobs as listed

    jobs = listed(settings_from(ctx), limit, state)
    if not jobs:
        console.print("No jobs: `algotrader jobs submit backtest -s SPY`.")
        return
    table = Table("id", "kind", "state", "what", "attempts", "submitted (UTC)", "finished")
    for job in jobs:
        table.add_row(
            str(job.id), job.kind, job.state, _what(job), str(job.attempts),
            _when(job.created_at), _when(job.finished_at),
        )  # fmt: skip
    console.print(table)


@jobs_app.command("show")
def show(
    ctx: typer.Context,
    job_id: int = typer.Argument(..., help="Job id (see `algotrader jobs list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole record as JSON."),
) -> None:
    """One job: its payload, state, attempts and result."""
    from dataclasses import asdict

    from algotrader.app.jobs import get_job

    job = get_job(settings_from(ctx), job_id)
    if as_json:
        console.print(json.dumps(asdict(job), default=str, indent=2))
        return
    console.print(f"Job {job.id} ({job.kind}): {job.state}, {job.attempts} attempt(s)")
    console.print(f"  submitted {_when(job.created_at)}  started {_when(job.started_at)}  "
                  f"finished {_when(job.finished_at)}  worker {job.worker or ''}")  # fmt: skip
    console.print(f"  payload {json.dumps(job.payload)}")
    if job.error:
        console.print(f"  error {job.error}")
    if job.result is not None:
        console.print(f"  result {json.dumps(job.result, default=str)}")


@jobs_app.command("cancel")
def cancel(ctx: typer.Context, job_id: int = typer.Argument(..., help="Job id to cancel.")) -> None:
    """Cancel a queued job, or ask the worker running it to stop."""
    from algotrader.app.jobs import cancel_job

    job = cancel_job(settings_from(ctx), job_id)
    if job.state == "cancelled":
        console.print(f"Cancelled job {job.id}.")
    else:
        console.print(f"Job {job.id} is {job.state}: its worker was asked to stop it.")


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")
