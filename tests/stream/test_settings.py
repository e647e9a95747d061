"""Kafka settings: SASL/TLS reach the client, secrets never reach a log line or an error."""

from __future__ import annotations

import logging

import pytest

from algotrader.errors import InvalidInputError
from algotrader.stream.settings import load_kafka


def test_sasl_and_tls_settings_reach_the_client_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALGOTRADER_KAFKA_BOOTSTRAP", "broker-1:9093,broker-2:9093")
    monkeypatch.setenv("ALGOTRADER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("ALGOTRADER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("ALGOTRADER_KAFKA_SASL_USERNAME", "quant")
    monkeypatch.setenv("ALGOTRADER_KAFKA_SASL_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("ALGOTRADER_KAFKA_SSL_CA_LOCATION", "/etc/ssl/ca.pem")
    config = load_kafka().client_config()
    assert config.pop("logger").name == "algotrader.stream.librdkafka"  # into the log files
    assert config == {
        "bootstrap.servers": "broker-1:9093,broker-2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "quant",
        "sasl.password": "s3cret-pw",
        "ssl.ca.location": "/etc/ssl/ca.pem",
    }


def test_a_password_never_shows_in_repr_description_or_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ALGOTRADER_KAFKA_SASL_USERNAME", "quant")
    monkeypatch.setenv("ALGOTRADER_KAFKA_SASL_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("ALGOTRADER_KAFKA_SSL_KEY_PASSWORD", "key-pw")
    settings = load_kafka(bootstrap="kafka:9092")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("algotrader.stream").info("connecting %s %r", settings.describe(),
                                                    settings)  # fmt: skip
    shown = repr(settings) + str(settings) + settings.describe() + caplog.text
    assert "s3cret-pw" not in shown and "key-pw" not in shown
    assert "kafka:9092" in settings.describe() and "quant" in settings.describe()


def test_a_bad_setting_is_one_line_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALGOTRADER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL-s3cret")
    with pytest.raises(InvalidInputError) as caught:
        load_kafka()
    assert "ALGOTRADER_KAFKA_SECURITY_PROTOCOL" in caught.value.message
    assert "s3cret" not in caught.value.message
