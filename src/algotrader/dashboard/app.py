"""The dashboard application: :func:`create_app` wires the database, pages, API and guards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import Response

from algotrader.app.browse import Browser
from algotrader.config import Settings
from algotrader.dashboard import api, errors, pages
from algotrader.dashboard.security import ServerTiming, TokenGate

_HERE = Path(__file__).resolve().parent


@cache
def _plotly_js() -> tuple[bytes, str]:
    import plotly

    from algotrader.reports import plotly_js

    return plotly_js().encode(), f'"plotly-{plotly.__version__}"'


def _plotly_route(request: Request) -> Response:
    body, etag = _plotly_js()
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/javascript",
                    headers={"ETag": etag, "Cache-Control": "public, max-age=86400"})


def create_app(
    database: Browser | Settings | str,
    *,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
) -> FastAPI:
    """The dashboard over ``database`` (an open :class:`~algotrader.app.browse.Browser`,
    settings or a URL).

    Its connections are read-only. ``token`` makes every request prove it (see
    :class:`~algotrader.dashboard.security.TokenGate`); ``allowed_hosts`` refuses other Host
    headers (DNS rebinding).
    """
    browser = database if isinstance(database, Browser) else Browser.open(database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        browser.close()

    app = FastAPI(
        title="algotrader dashboard", version=_version(), lifespan=lifespan,
        description="Stored runs (backtests, portfolios, walk-forward analyses, study points), "
                    "studies, their reports, stored data and the order log. Read-only.",
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN
    )
    app.state.browser = browser
    app.state.templates = _templates()
    errors.install(app)
    app.add_api_route("/static/plotly.min.js", _plotly_route, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.add_middleware(ServerTiming)
    if token:
        app.add_middleware(TokenGate, token=token)
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    return app


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=_HERE / "templates")
    env: Any = templates.env
    env.globals["version"] = _version()
    env.filters["ts"] = lambda value: value.strftime("%Y-%m-%d %H:%M") if value else ""
    env.filters["day"] = lambda value: value.strftime("%Y-%m-%d") if value else ""
    return templates


def _version() -> str:
    from importlib.metadata import version

    return version("algotrader")
