"""``algotrader serve scheduler`` and ``algotrader serve worker``: the long-running services."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import typer

from algotrader.cli._common import settings_from
from algotrader.errors import InvalidInputError

serve_app = typer.Typer(
    help="Run a service: the watchlist scheduler or a job worker (stop with SIGTERM/Ctrl-C).",
    no_args_is_help=True,
)

_HOST = typer.Option(
    "127.0.0.1", "--host", help="Interface of /metrics and /healthz (0.0.0.0 in containers)."
)
_VERBOSE = typer.Option(False, "--verbose", help="Log every INFO line, not one per job.")


def _positive(value: float, flag: str) -> float:
    if not value > 0:
        raise InvalidInputError(f"invalid {flag} {value:g}", "give a positive number")
    return value


@serve_app.command("scheduler")
def scheduler(
    ctx: typer.Context,
    host: str = _HOST,
    port: int = typer.Option(9101, "--port", help="Port of /metrics and /healthz (0: any)."),
    calendar: str = typer.Option("XNYS", "--calendar", help="Exchange calendar (ISO MIC)."),
    after_close: float = typer.Option(
        15, "--after-close", help="Minutes after the close to refresh daily and weekly bars."
    ),
    every: float = typer.Option(
        15, "--every", help="Minutes between intraday refreshes in session (at least the bar)."
    ),
    bar_delay: float = typer.Option(
        60, "--bar-delay", help="Seconds after a bar ends before it is fetched."
    ),
    max_retries: int = typer.Option(4, "--max-retries", help="Retries of a failed refresh."),
    retry_delay: float = typer.Option(
        60, "--retry-delay", help="Seconds before the first retry (doubling, at most 30 min)."
    ),
    watchlist_check: float = typer.Option(
        60, "--watchlist-check", help="Seconds between looks for watchlist changes."
    ),
    to: str = typer.Option(
        "db", "--to", help="db: store the bars; kafka: publish them to the price stream."
    ),
    bootstrap: str | None = typer.Option(
        None,
        "--bootstrap",
        help="With --to kafka: host:port (default: ALGOTRADER_KAFKA_BOOTSTRAP).",
    ),
    verbose: bool = _VERBOSE,
) -> None:
    """Keep the watchlist fresh with incremental ingests on the exchange calendar."""
    from algotrader.services.run import ServiceOptions, serve_scheduler
    from algotrader.services.scheduler import SchedulerConfig

    if to not in ("db", "kafka"):
        raise InvalidInputError(f"unknown destination --to {to!r}", "use --to db or --to kafka")
    publish_to = None
    if to == "kafka":
        from algotrader.cli.stream import kafka_settings

        publish_to = kafka_settings(bootstrap)

    if max_retries < 0:
        raise InvalidInputError(f"invalid --max-retries {max_retries}", "give 0 or more")
    config = SchedulerConfig(
        calendar=calendar.upper(),
        after_close=timedelta(minutes=after_close),
        every=timedelta(minutes=_positive(every, "--every")),
        bar_delay=timedelta(seconds=bar_delay),
        retry_base=timedelta(seconds=_positive(retry_delay, "--retry-delay")),
        max_retries=max_retries,
        sync_every=timedelta(seconds=_positive(watchlist_check, "--watchlist-check")),
        publish_to=publish_to,
    )
    serve_scheduler(settings_from(ctx), config, ServiceOptions(host, port, verbose))


@serve_app.command("worker")
def worker(
    ctx: typer.Context,
    host: str = _HOST,
    port: int = typer.Option(9102, "--port", help="Port of /metrics and /healthz (0: any)."),
    name: str | None = typer.Option(None, "--name", help="Worker name (default: host-pid)."),
    concurrency: int = typer.Option(1, "--concurrency", help="Jobs run at the same time."),
    heartbeat: float = typer.Option(
        10, "--heartbeat", help="Seconds between the worker's heartbeats."
    ),
    stalled_after: float = typer.Option(
        30, "--stalled-after", help="Seconds without a heartbeat after which a worker is dead."
    ),
    stalled_check: int = typer.Option(
        60, "--stalled-check", help="Seconds between looks for jobs of dead workers."
    ),
    verbose: bool = _VERBOSE,
) -> None:
    """Run queued jobs (backtests, batches) until stopped; needs PostgreSQL."""
    from algotrader.ports.jobs import WorkerOptions
    from algotrader.services.run import ServiceOptions, serve_worker

    if concurrency < 1 or stalled_check < 1:
        raise InvalidInputError("--concurrency and --stalled-check must be at least 1", "fix them")
    if not stalled_after > _positive(heartbeat, "--heartbeat"):
        raise InvalidInputError(
            "--stalled-after must be longer than --heartbeat",
            "e.g. --heartbeat 10 --stalled-after 30",
        )
    options = WorkerOptions(
        name=name or f"{socket.gethostname()}-{os.getpid()}",
        concurrency=concurrency,
        heartbeat_seconds=heartbeat,
        stalled_after_seconds=stalled_after,
        stalled_check_seconds=stalled_check,
    )
    serve_worker(settings_from(ctx), options, ServiceOptions(host, port, verbose))


def register(app: typer.Typer) -> None:
    app.add_typer(serve_app, name="serve")
