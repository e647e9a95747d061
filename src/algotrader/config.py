"""Settings: one frozen object read from ``ALGOTRADER_*`` environment variables and ``.env``.

Command-line flags override both: pass them as keyword arguments to :func:`load_settings`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from algotrader.errors import InvalidInputError
from algotrader.symbols import shorten

DataSource = Literal["ibkr", "ibsim", "synthetic", "csv"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
    ib_port: int = Field(default=7497, ge=1, le=65535)
    ib_client_id: int = Field(default=1, ge=0, le=2**31 - 1)
    ib_timeout: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    ib_account: str = ""

    max_order_quantity: float = Field(default=1_000.0, ge=0, allow_inf_nan=False)
    max_order_notional: float = Field(default=250_000.0, ge=0, allow_inf_nan=False)
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
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            hint = _did_you_mean(level, LOG_LEVELS)
            raise ValueError(f"unknown log level {shorten(value)!r}; {hint}")
        return level

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


# Settings that have a flag of the root command.
_FLAGS = {"log_level": "--log-level", "database_url": "--database-url", "data_dir": "--data-dir",
          "ib_host": "--host", "ib_port": "--port", "ib_client_id": "--client-id",
          "ib_timeout": "--timeout"}  # fmt: skip


def _did_you_mean(value: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}use one of {', '.join(choices)}"


def load_settings(**overrides: Any) -> Settings:
    """Read the environment and ``.env``; non-``None`` keyword arguments (flags) win."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        where = f"ALGOTRADER_{name.upper()} in the environment or .env"
        flag = _FLAGS.get(name)
        fix = f"fix {flag}, or {where}" if flag else f"fix {where}"
        raise InvalidInputError(f"invalid setting {name!r} ({message})", fix) from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f".env line {line} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x})",
            "save .env as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
        ) from None
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read .env ({exc.strerror or exc})", "check that .env is a readable file"
        ) from None


def parse_source(name: str) -> str:
    """A data source as users type it (``--source``): one of :data:`DataSource` or ``lake``
    (read with ``--lake URL``), or one clear line with the closest valid name."""
    sources: tuple[str, ...] = (*get_args(DataSource), "lake")
    key = str(name).strip().lower()
    if key in sources:
        return key
    raise InvalidInputError(
        f"unknown data source {shorten(str(name))!r}", _did_you_mean(key, sources)
    )


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to print or log)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy understands: show only its scheme
        scheme, sep, _ = url.partition("://")
        return f"{shorten(scheme, 30)}://***" if sep else "(not a URL)"
