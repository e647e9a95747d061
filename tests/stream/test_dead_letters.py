"""Poison messages go to the dead-letter topic with their reason; good ones are all stored;
dead letters can be listed and replayed; the counts are Prometheus metrics."""

from __future__ import annotations

import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import pandas as pd
import pytest

from algotrader.app.stream import (
    ConsumeRequest,
    consume_bars,
    list_dead_letters,
    replay_dead_letters,
    serve_metrics,
)
from algotrader.config import load_settings
from algotrader.stream import metrics
from algotrader.stream.kafka import Publisher, ensure_topics
from algotrader.stream.schema import encode_bars, series_key

from .conftest import free_port, minute_bars, stream_env
from .test_consume import table

# The 1,000 in 100,000 is run by benchmarks/stream.py; here 1 in 100 of 20,000.
GOOD = 20_000
POISON = 200
SERIES = ("AAA", "BBB", "CCC", "DDD")
UNTIL_IDLE = ConsumeRequest(until_idle=True, idle_seconds=1.0)


def _poison(k: int, bar: pd.DataFrame) -> tuple[bytes, bytes, str]:
    """The k-th poison message (key, value, expected reason), cycling through the reasons."""
    document = orjson.loads(encode_bars("AAA", "1m", "csv", bar))
    kind = k % 4
    if kind == 0:
        return b"AAA|1m", b"{not json at all", "bad-schema"
    if kind == 1:
        document["schema"] = "algotrader.bars/9"
        return b"AAA|1m", orjson.dumps(document), "bad-schema"
    if kind == 2:
        document["high"] = [document["low"][0] - 1.0]  # high below low, at a good bar's time
        return b"AAA|1m", orjson.dumps(document), "invalid-bar"
    document["resolution"] = "2m"
    return b"AAA|2m", orjson.dumps(document), "unknown-resolution"


def _publish_mixed(kafka) -> dict[str, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """GOOD one-bar messages over four series with POISON messages spread among them."""
    ensure_topics(kafka, [kafka.topic])
    frames = {s: minute_bars(GOOD // len(SERIES), seed=i) for i, s in enumerate(SERIES)}
    publisher = Publisher(kafka)
    every = GOOD // POISON
    for n in range(GOOD):
        symbol = SERIES[n % len(SERIES)]
        bar = frames[symbol].iloc[[n // len(SERIES)]]
        publisher.send(kafka.topic, series_key(symbol, "1m"), encode_bars(symbol, "1m", "csv", bar))
        if n % every == every - 1:
            key, value, _ = _poison(n // every, frames["AAA"].iloc[[n // len(SERIES) // 2]])
            publisher.send(kafka.topic, key, value)
    publisher.close()
    return frames


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_poison_goes_to_the_dlq_with_reasons_and_every_good_bar_is_stored(
    tmp_path: Path,
    kafka,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    url = f"sqlite:///{tmp_path / 'stream.db'}"
    frames = _publish_mixed(kafka)
    before = {r: _sample("algotrader_stream_dead_letters_total", {"reason": r}) for r in
              ("bad-schema", "invalid-bar", "unknown-resolution")}  # fmt: skip
    stored_before = _sample("algotrader_stream_bars_stored_total")
    settings = load_settings(database_url=url, data_dir=str(tmp_path), log_dir=str(tmp_path))
    report = consume_bars(settings, kafka, UNTIL_IDLE)

    assert (report.bars_written, report.dead_letters) == (GOOD, POISON)
    stored = table(url)
    for symbol, bars in frames.items():
        mine = stored[stored["symbol"] == symbol]
        assert mine["close"].tolist() == bars["close"].tolist()
        assert mine["high"].tolist() == bars["high"].tolist()  # no poison high got in
    letters = list_dead_letters(kafka)
    assert Counter(letter.reason for letter in letters) == {
        "bad-schema": 100, "invalid-bar": 50, "unknown-resolution": 50}  # fmt: skip
    invalid = next(letter for letter in letters if letter.reason == "invalid-bar")
    assert "is below low" in invalid.detail and invalid.topic == kafka.topic
    assert invalid.source_offset >= 0 and not invalid.replayed
    for reason, count in (("bad-schema", 100), ("invalid-bar", 50), ("unknown-resolution", 50)):
        got = _sample("algotrader_stream_dead_letters_total", {"reason": reason})
        assert got - before[reason] == count
    assert _sample("algotrader_stream_bars_stored_total") - stored_before == GOOD

    # The same through the command line.
    from algotrader.cli.app import main

    for key, value in stream_env(kafka, url, tmp_path).items():
        monkeypatch.setenv(key, value)
    assert main(["stream", "dlq", "list"]) == 0
    out = capsys.readouterr().out
    assert "200 dead letters (200 pending)." in out
    assert "unknown-resolution" in out and "AAA|2m" in out


def test_replay_sends_pending_letters_back_once(tmp_path: Path, kafka) -> None:  # type: ignore[no-untyped-def]
    ensure_topics(kafka, [kafka.topic])
    publisher = Publisher(kafka)
    bar = minute_bars(1, seed=1)
    for k in range(6):
        publisher.send(kafka.topic, *_poison(k, bar)[:2])
    publisher.close()
    url = f"sqlite:///{tmp_path / 'stream.db'}"
    settings = load_settings(database_url=url, data_dir=str(tmp_path), log_dir=str(tmp_path))
    assert consume_bars(settings, kafka, UNTIL_IDLE).dead_letters == 6

    replayed = replay_dead_letters(kafka, ["unknown-resolution"])
    assert [letter.reason for letter in replayed] == ["unknown-resolution"]
    assert replay_dead_letters(kafka, ["unknown-resolution"]) == []
    letters = list_dead_letters(kafka)
    assert [letter.reason for letter in letters if letter.replayed] == ["unknown-resolution"]
    # The replayed copy is consumed again and, still unusable, dead-lettered again.
    assert consume_bars(settings, kafka, UNTIL_IDLE).dead_letters == 1
    latest = list_dead_letters(kafka)
    assert len(latest) == 7
    assert sum(not letter.replayed for letter in latest) == 6
    assert len(replay_dead_letters(kafka)) == 6
    assert all(letter.replayed for letter in list_dead_letters(kafka))


def test_metrics_are_served_over_http() -> None:
    port = free_port()
    serve_metrics(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        body = response.read().decode()
    assert 'algotrader_stream_dead_letters_total{reason="invalid-bar"}' in body
    assert "algotrader_stream_bars_stored_total" in body
    assert "algotrader_stream_consumer_lag_messages" in body
