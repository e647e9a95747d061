"""The optional libraries the dashboard needs (the ``dashboard`` extra)."""

from __future__ import annotations

import importlib.util

from algotrader.errors import UserError


def require_dashboard_extra() -> None:
    """Raise a :class:`~algotrader.errors.UserError` (one line: what to install) unless
    FastAPI, uvicorn, Jinja2 and Plotly import."""
    names = ("fastapi", "uvicorn", "jinja2", "plotly")
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            f"the dashboard needs {', '.join(missing)}, which are not installed",
            "install them with: pip install 'algotrader[dashboard]'",
        )
