"""Who may talk to the dashboard: a bearer token when one is set, and per-request timing."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp

COOKIE = "algotrader_token"


def _same(given: str | None, token: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), token.encode())


class TokenGate(BaseHTTPMiddleware):
    """Every request carries the token: ``Authorization: Bearer TOKEN``, the cookie set by a
    first visit to any page with ``?token=TOKEN`` (which then redirects to the same URL without
    it, so the token leaves the address bar and no log sees it), or nothing gets through (401)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
        if _same(bearer, self.token) or _same(request.cookies.get(COOKIE), self.token):
            return await call_next(request)
        if _same(request.query_params.get("token"), self.token):
            url = request.url.remove_query_params("token")
            response = RedirectResponse(str(url), status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return response
        message = "a token is required: send Authorization: Bearer TOKEN or open ?token=TOKEN once"
        headers = {"WWW-Authenticate": "Bearer"}
        if request.url.path.startswith("/api"):
            return JSONResponse({"error": message}, status_code=401, headers=headers)
        return HTMLResponse(f"<h1>401</h1><p>{message}</p>", status_code=401, headers=headers)


class ServerTiming(BaseHTTPMiddleware):
    """``Server-Timing: app;dur=<ms>`` on every response (what the benchmarks read)."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1e3:.2f}"
        return response
