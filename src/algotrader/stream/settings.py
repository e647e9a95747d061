"""Kafka settings: ``ALGOTRADER_KAFKA_*`` environment variables (or ``.env``), flags override.

The client is librdkafka (through ``confluent-kafka``); :meth:`KafkaSettings.client_config`
turns these settings into its configuration. Secrets (the SASL password, the TLS key password)
are :class:`pydantic.SecretStr`: they never appear in a ``repr``, a log line or an error, and
:meth:`KafkaSettings.describe` is the one safe way to show where a client connects.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from algotrader.errors import InvalidInputError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"]


class KafkaSettings(BaseSettings):
    """Where the price stream lives and how to reach it (immutable; see :func:`load_kafka`)."""

    model_config = SettingsConfigDict(
        env_prefix="ALGOTRADER_KAFKA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    bootstrap: str = Field(default="localhost:9092", description="host:port[,host:port...]")
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None

    topic: str = "algotrader.bars"
    dlq_topic: str = "algotrader.bars.dlq"
    jobs_topic: str = "algotrader.indicator-jobs"
    group: str = "algotrader-store"
    indicator_group: str = "algotrader-indicators"
    # Topics the platform creates when they are missing (a managed cluster may forbid that:
    # then create them beforehand with the same names).
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=-1, description="-1: the broker's default")
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    # Bars per published message: big enough to amortise the per-message cost, small enough to
    # stay far below the broker's 1 MB default message size (~70 bytes per bar in JSON).
    bars_per_message: int = Field(default=2_000, ge=1, le=10_000)

    def client_config(self) -> dict[str, Any]:
        """The librdkafka settings every client (producer, consumer, admin) shares."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol,
            # librdkafka's own messages go to the log files, not to the user's terminal.
            "logger": logging.getLogger("algotrader.stream.librdkafka"),
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": _reveal(self.sasl_password),
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": _reveal(self.ssl_key_password),
        }
        config.update({k: v for k, v in optional.items() if v is not None})
        return config

    def describe(self) -> str:
        """Where the clients connect, safe to print: never a password."""
        who = f" as {self.sasl_username}" if self.sasl_username else ""
        return f"{self.bootstrap} ({self.security_protocol}{who})"


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def load_kafka(**overrides: Any) -> KafkaSettings:
    """Read the environment and ``.env``; non-``None`` keyword arguments (flags) win."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return KafkaSettings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        # Only the setting's name and pydantic's message: never the value (it may be a secret).
        raise InvalidInputError(
            f"invalid Kafka setting {name!r} ({first['msg']})",
            f"fix ALGOTRADER_KAFKA_{name.upper()} in the environment or .env",
        ) from None
