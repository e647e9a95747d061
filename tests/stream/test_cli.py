"""User mistakes around the stream are one line and exit code 2, before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from algotrader.cli.app import main

from .conftest import free_port


@pytest.mark.parametrize(
    "args,words",
    [
        (["ingest", "-s", "AAPL", "--to", "kafak"], "use --to db or --to kafka"),
        (["ingest", "-s", "AAPL", "--incremental", "--to", "kafka"], "does not touch"),
        (["ingest", "-s", "AAPL", "--lake", "x", "--source", "csv"], "drop --source or --lake"),
        (["stream", "dlq", "replay", "--reason", "bad"], "use one of bad-schema"),
        (["stream", "consume", "--indicators", "later"], "use inline or jobs"),
    ],
)
def test_a_mistake_is_one_line(
    args: list[str], words: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and "\n" not in err


def test_no_broker_is_one_line_naming_where_it_looked(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALGOTRADER_KAFKA_SASL_USERNAME", "quant")
    monkeypatch.setenv("ALGOTRADER_KAFKA_SASL_PASSWORD", "s3cret-pw")
    port = free_port()  # nothing listens there
    assert main(["stream", "consume", "--bootstrap", f"127.0.0.1:{port}"]) == 2
    captured = capsys.readouterr()
    assert f"error: no Kafka broker answers at 127.0.0.1:{port}" in captured.err
    assert "s3cret-pw" not in captured.err + captured.out
