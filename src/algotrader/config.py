"""Settings: one frozen object read from ``ALGOTRADER_*`` environment variables and ``.env``.

Command-line flags override both: pass them as keyword arguments to :func:`load_settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from algotrader.errors import InvalidInputError

DataSource = Literal["ibkr", "ibsim", "synthetic", "csv"]


class Settings(BaseSettings):
    """Everything configurable. Immutable: build a new one with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="ALGOTRADER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file under data_dir."
    )
    data_dir: Path = Path("data")
    log_dir: Path = Path("logs")
    log_level: str = "INFO"
    data_source: DataSource = "ibkr"

    ib_host: str = "127.0.0.1"
    ib_port: int = 7497
    ib_client_id: int = 1
    ib_timeout: float = 10.0
    ib_account: str = ""

    max_order_quantity: float = 1_000.0
    max_order_notional: float = 250_000.0
    allowed_symbols: str = Field(
        default="", description="Comma-separated symbols orders may be placed for; empty = any."
    )

    log_format: Literal["text", "json"] = Field(
        default="text", description="Service log lines: text, or one JSON object per line."
    )
    metrics_textfile: str | None = Field(
        default=None,
        description="One-shot commands write their metrics here ({command} = command name).",
    )
    metrics_pushgateway: str | None = Field(
        default=None, description="One-shot commands push their metrics to this Pushgateway."
    )

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        return value.upper()

    @property
    def db_url(self) -> str:
        """The database URL in force (the SQLite default when none is configured)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'algotrader.db').as_posix()}"

    @property
    def plots_dir(self) -> Path:
        return self.data_dir / "plots"

    @property
    def allowed_symbol_set(self) -> frozenset[str]:
        return frozenset(s.strip().upper() for s in self.allowed_symbols.split(",") if s.strip())


def load_settings(**overrides: Any) -> Settings:
    """Read the environment and ``.env``; non-``None`` keyword arguments (flags) win."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        raise InvalidInputError(
            f"invalid setting {name!r} ({first['msg']})",
            f"fix ALGOTRADER_{name.upper()} in the environment or .env, or the matching flag",
        ) from None


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to print or log)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy understands: show only its scheme
        return url.split(":", 1)[0] + ":***"
