"""The optional libraries the dashboard needs (the ``dashboard`` extra)."""

from __future__ import annotations

import importlib.util

from algotrader.reports._deps import MissingExtraError


def require_dashboard_extra() -> None:
    """Raise :class:`MissingExtraError` unless FastAPI, uvicorn, Jinja2 and Plotly import."""
    names = ("fastapi", "uvicorn", "jinja2", "plotly")
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(
            f"the dashboard needs {', '.join(missing)}, which are not installed",
            "install them with: pip install 'algotrader[dashboard]'",
        )
