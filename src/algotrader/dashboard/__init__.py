"""The web dashboard (FastAPI, server-rendered pages): stored runs, one run's report and rerun,
stored data, the order log; every page's data also as JSON under ``/api`` (OpenAPI at
``/openapi.json``). Read-only. Requires the ``dashboard`` extra.

>>> from algotrader.dashboard import create_app                          # doctest: +SKIP
>>> app = create_app("sqlite:///data/algotrader.db")                     # any ASGI server
"""

from algotrader.dashboard._deps import require_dashboard_extra

require_dashboard_extra()

from algotrader.dashboard.app import create_app  # noqa: E402
from algotrader.dashboard.server import check_bind, serve  # noqa: E402

__all__ = ["check_bind", "create_app", "serve"]
