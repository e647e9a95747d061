"""The optional libraries reports need (the ``report`` extra), checked with one clear line."""

from __future__ import annotations

import importlib.util

from algotrader.errors import UserError


class MissingExtraError(UserError):
    """An optional dependency group is not installed."""


def require_report_extra() -> None:
    """Raise :class:`MissingExtraError` unless plotly and jinja2 are importable."""
    missing = [name for name in ("plotly", "jinja2") if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(
            f"HTML reports need {' and '.join(missing)}, which are not installed",
            "install them with: pip install 'algotrader[report]'",
        )
