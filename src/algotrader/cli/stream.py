"""``algotrader stream``: the price stream (Kafka) and the Parquet data lake.

``algotrader ingest ... --to kafka`` publishes; ``stream consume`` stores; ``stream indicators``
computes indicators; ``stream dlq`` shows and replays dead letters; ``stream archive`` writes
the lake that ``ingest --source lake --lake URL`` reads back.
"""

from __future__ import annotations

import importlib.util
import signal
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

import typer

from algotrader.cli._common import console, parse_symbols, settings_from
from algotrader.errors import UserError

if TYPE_CHECKING:
    from algotrader.app.ingest import IngestRequest
    from algotrader.app.stream import ConsumeReport, KafkaSettings

_EXAMPLES = """Examples:

  algotrader ingest -s AAPL,MSFT -r 1m -d "5 D" --source ibsim --to kafka

  algotrader stream consume --group algotrader-store --metrics-port 9108

  algotrader stream consume --indicators jobs

  algotrader stream indicators

  algotrader stream dlq list

  algotrader stream archive --to s3://my-bucket/lake
"""

stream_app = typer.Typer(
    help="The price stream: Kafka consumers, dead letters, the Parquet data lake.",
    no_args_is_help=True,
    epilog=_EXAMPLES,
)
dlq_app = typer.Typer(help="Messages the consumer could not use.", no_args_is_help=True)
stream_app.add_typer(dlq_app, name="dlq")

# Options shared by several commands.
_IDLE_SECONDS = typer.Option(
    5.0, "--idle-seconds", min=0.5, help="How long nothing must arrive for --until-idle."
)
_METRICS_PORT = typer.Option(
    None, "--metrics-port", help="Serve Prometheus metrics on this port (/metrics)."
)
_BOOTSTRAP = typer.Option(
    None,
    "--bootstrap",
    help="Kafka bootstrap servers host:port (default: ALGOTRADER_KAFKA_BOOTSTRAP).",
)


# What the stream extra brings (pip install 'algotrader[stream]').
_EXTRA = ("confluent_kafka", "orjson", "pyarrow", "fsspec", "prometheus_client")


def _require_extra() -> None:
    """One clear line instead of an ImportError when the stream extra is missing."""
    missing = [name for name in _EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            f"the price stream needs packages that are not installed ({', '.join(missing)})",
            "install them with: pip install 'algotrader[stream]'",
        )


def kafka_settings(bootstrap: str | None) -> KafkaSettings:
    """The price stream's settings (``--bootstrap`` wins over the environment)."""
    _require_extra()
    from algotrader.app.stream import load_kafka

    return load_kafka(bootstrap=bootstrap)


def _stop_on_sigterm() -> threading.Event:
    """An event set by SIGTERM (a service manager stopping us): the current batch is finished
    and committed, then the consumer leaves its group."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


class _Ticker:
    """Prints a consumer's progress at most every ``every`` seconds."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._last = time.monotonic()

    def __call__(self, report: ConsumeReport) -> None:
        if time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            console.print(f"... {_consume_line(report)}")


def _consume_line(report: ConsumeReport) -> str:
    rate = report.bars_received / report.active_seconds if report.active_seconds else 0.0
    indicators = (
        f"{report.indicator_jobs} indicator jobs queued"
        if report.indicators == "jobs"
        else f"{report.indicator_rows} rows with fresh indicators"
    )
    return (
        f"{report.messages} messages: {report.bars_received} bars received, "
        f"{report.bars_written} written, {report.dead_letters} dead letters, "
        f"{indicators} for {len(report.series)} series ({rate:,.0f} bars/s)"
    )


@stream_app.command("consume", epilog=_EXAMPLES)
def consume(
    ctx: typer.Context,
    group: str | None = typer.Option(
        None, "--group", help="Consumer group (default: ALGOTRADER_KAFKA_GROUP)."
    ),
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Stop once the group has read everything and nothing new came."
    ),
    idle_seconds: float = _IDLE_SECONDS,
    indicators: str = typer.Option(
        "inline",
        "--indicators",
        metavar="[inline|jobs]",
        help="inline: store bars with their indicators in one write; jobs: store raw bars and "
        "queue indicator jobs for 'stream indicators'.",
    ),
    metrics_port: int | None = _METRICS_PORT,
    bootstrap: str | None = _BOOTSTRAP,
) -> None:
    """Store the bars of the price stream in the database (one member of a consumer group)."""
    _require_extra()
    from algotrader.app.stream import ConsumeRequest, consume_bars, serve_metrics

    request = ConsumeRequest(group=group, until_idle=until_idle, idle_seconds=idle_seconds,
                             indicators=indicators)  # fmt: skip
    settings = settings_from(ctx)
    kafka = kafka_settings(bootstrap)
    if metrics_port is not None:
        serve_metrics(metrics_port)
    console.print(f"Consuming {kafka.topic} from {kafka.describe()} as {group or kafka.group}")
    report = consume_bars(settings, kafka, request, stop=_stop_on_sigterm(), on_batch=_Ticker())
    console.print(f"Consumed {_consume_line(report)} in {report.seconds:.1f} s.")


@stream_app.command("indicators", epilog=_EXAMPLES)
def indicators(
    ctx: typer.Context,
    group: str | None = typer.Option(
        None, "--group", help="Consumer group (default: ALGOTRADER_KAFKA_INDICATOR_GROUP)."
    ),
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Stop once every queued job is done and nothing new came."
    ),
    idle_seconds: float = _IDLE_SECONDS,
    metrics_port: int | None = _METRICS_PORT,
    bootstrap: str | None = _BOOTSTRAP,
) -> None:
    """Recompute indicators of the series a 'stream consume --indicators jobs' consumer wrote
    (the indicator-job queue)."""
    _require_extra()
    from algotrader.app.stream import ConsumeRequest, run_indicator_jobs, serve_metrics

    settings = settings_from(ctx)
    kafka = kafka_settings(bootstrap)
    if metrics_port is not None:
        serve_metrics(metrics_port)
    request = ConsumeRequest(group=group, until_idle=until_idle, idle_seconds=idle_seconds)
    console.print(f"Running indicator jobs of {kafka.jobs_topic} from {kafka.describe()}")
    report = run_indicator_jobs(settings, kafka, request, stop=_stop_on_sigterm())
    console.print(
        f"Ran {report.jobs} indicator jobs: {report.refreshed} series refreshed, "
        f"{report.rows} rows updated in {report.seconds:.1f} s."
    )


@dlq_app.command("list")
def dlq_list(
    ctx: typer.Context,
    bootstrap: str | None = _BOOTSTRAP,
) -> None:
    """Show every dead letter: where it came from, why, and whether it was replayed."""
    _require_extra()
    from algotrader.app.stream import list_dead_letters

    settings_from(ctx)
    letters = list_dead_letters(kafka_settings(bootstrap))
    for letter in letters:
        state = "replayed" if letter.replayed else "pending"
        console.print(
            f"{letter.partition}:{letter.offset}  {letter.key or '-'}  {letter.reason}  "
            f"{state}  from {letter.topic}[{letter.source_partition}]@{letter.source_offset}  "
            f"{letter.failed_at}  {letter.detail}"
        )
    pending = sum(not letter.replayed for letter in letters)
    console.print(f"{len(letters)} dead letters ({pending} pending).")


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    reason: list[str] | None = typer.Option(
        None, "--reason", help="Only these reasons (bad-schema, invalid-bar, unknown-resolution)."
    ),
    bootstrap: str | None = _BOOTSTRAP,
) -> None:
    """Send pending dead letters back to the bars topic (after fixing what refused them)."""
    _require_extra()
    from algotrader.app.stream import replay_dead_letters

    settings_from(ctx)
    kafka = kafka_settings(bootstrap)
    sent = replay_dead_letters(kafka, _reasons(reason))
    console.print(f"Replayed {len(sent)} dead letters to {kafka.topic}.")


def _reasons(given: list[str] | None) -> list[str] | None:
    from algotrader.errors import InvalidInputError

    known = ("bad-schema", "invalid-bar", "unknown-resolution")
    for reason in given or []:
        if reason not in known:
            raise InvalidInputError(f"unknown reason {reason!r}", f"use one of {', '.join(known)}")
    return given or None


@stream_app.command("archive", epilog=_EXAMPLES)
def archive(
    ctx: typer.Context,
    to: str = typer.Option(
        ..., "--to", help="The lake: a folder or an fsspec URL such as s3://bucket/lake."
    ),
    symbol: str | None = typer.Option(
        None, "-s", "--symbol", "--symbols", help="Only these symbols (default: all stored)."
    ),
    resolution: str | None = typer.Option(
        None, "-r", "--resolution", help="Only these resolutions, e.g. 1m,1d (default: all)."
    ),
    start: str | None = typer.Option(None, "--start", help="First bar to archive (ISO, UTC)."),
    end: str | None = typer.Option(None, "--end", help="Archive bars before this (ISO, UTC)."),
) -> None:
    """Copy stored bars to a Parquet data lake (resolution/symbol/date partitions; idempotent)."""
    _require_extra()
    from algotrader.app.stream import ArchiveRequest, SeriesArchived

    _require_extra()
    from algotrader.app.stream import archive as run
    from algotrader.cli.ingest import parse_resolutions

    settings = settings_from(ctx)
    request = ArchiveRequest(
        url=to,
        symbols=tuple(parse_symbols(symbol)) if symbol else (),
        resolutions=tuple(r.name for r in parse_resolutions(resolution)) if resolution else (),
        start=_time(start, "--start"),
        end=_time(end, "--end"),
    )

    def show(item: SeriesArchived) -> None:
        console.print(
            f"Archived {item.bars} bars of {item.symbol} @ {item.resolution}: "
            f"{item.files_written} files written, {item.files_unchanged} unchanged."
        )

    report = run(settings, request, show)
    console.print(f"Archive complete: {len(report.series)} series in {to}.")


def _time(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    from algotrader.timeframes import parse_instant

    return parse_instant(text, what)


def publish(ctx: typer.Context, request: IngestRequest) -> None:
    """``algotrader ingest ... --to kafka``: publish instead of storing."""
    _require_extra()
    from algotrader.app.stream import PublishReport, load_kafka, publish_ingest

    settings = settings_from(ctx)
    kafka = load_kafka()

    def show(report: PublishReport, label: str) -> None:
        console.print(
            f"Published {report.bars} bars of {report.symbol} @ {report.resolution} from "
            f"{label} to {kafka.topic} ({report.messages} messages)."
        )

    publish_ingest(settings, kafka, request, show)
    console.print("Publishing complete.")


def register(app: typer.Typer) -> None:
    app.add_typer(stream_app, name="stream")
