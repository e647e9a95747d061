"""Settings: bad values, an unreadable .env and unknown data sources are one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from algotrader.config import load_settings, mask_url, parse_source
from algotrader.errors import InvalidInputError


@pytest.mark.parametrize(("given", "expected"), [("debug", "DEBUG"), (" Warning ", "WARNING")])
def test_log_levels_are_upper_cased(workdir: Path, given: str, expected: str) -> None:
    assert load_settings(log_level=given).log_level == expected


@pytest.mark.parametrize(
    ("given", "hint"),
    [("DEBG", "did you mean 'DEBUG'?"), ("warn", "did you mean 'WARNING'?"), ("BOGUS", "")],
)
def test_an_unknown_log_level_is_refused_with_the_closest(
    workdir: Path, given: str, hint: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        load_settings(log_level=given)
    message = str(info.value)
    assert f"unknown log level {given!r}" in message and hint in message
    assert "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in message
    assert "--log-level" in message and "ALGOTRADER_LOG_LEVEL" in message


def test_an_unknown_log_level_in_dotenv_is_refused(workdir: Path) -> None:
    (workdir / ".env").write_text("ALGOTRADER_LOG_LEVEL=verbose\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="unknown log level 'verbose'"):
        load_settings()


def test_a_dotenv_that_is_not_utf8_names_its_line(workdir: Path) -> None:
    (workdir / ".env").write_bytes(b"ALGOTRADER_DATA_DIR=data\n# caf\xe9\n")
    with pytest.raises(InvalidInputError) as info:
        load_settings()
    assert str(info.value).startswith(".env line 2 is not UTF-8 text (byte 0xe9)")


@pytest.mark.parametrize(("given", "expected"), [("synthetic", "synthetic"), (" IBKR ", "ibkr")])
def test_parse_source_accepts_the_known_sources(given: str, expected: str) -> None:
    assert parse_source(given) == expected


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("syntetic", "unknown data source 'syntetic': did you mean 'synthetic'?"),
        ("bogus", "unknown data source 'bogus': use one of ibkr, ibsim, synthetic, csv"),
        ("q" * 5000, "unknown data source 'qqqqqqqqqq"),
    ],
)
def test_parse_source_refuses_others_in_one_short_line(given: str, named: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_source(given)
    assert str(info.value).startswith(named) and len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:s3cret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:s3cret@h:abc/db", "postgresql://***"),
        ("not a url at all", "(not a URL)"),
    ],
)
def test_mask_url_never_shows_the_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("ALGOTRADER_IB_PORT", "99999", "'ib_port' (Input should be less than or equal to 65535)"),
        ("ALGOTRADER_IB_PORT", "0", "'ib_port'"),
        ("ALGOTRADER_IB_CLIENT_ID", "-7", "'ib_client_id'"),
        ("ALGOTRADER_IB_TIMEOUT", "nan", "'ib_timeout' (Input should be a finite number)"),
        ("ALGOTRADER_IB_TIMEOUT", "-1", "'ib_timeout'"),
        ("ALGOTRADER_MAX_ORDER_QUANTITY", "inf", "'max_order_quantity'"),
        ("ALGOTRADER_MAX_ORDER_NOTIONAL", "-5", "'max_order_notional'"),
    ],
)
def test_gateway_and_risk_settings_out_of_range_are_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidInputError) as info:
        load_settings()
    assert f"invalid setting {named}" in str(info.value) and variable in str(info.value)
