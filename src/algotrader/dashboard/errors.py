"""Every failure is a 4xx with one clear line (JSON under /api, a page elsewhere); an
unexpected error is logged with its traceback and answered with a 500 that shows none."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response

from algotrader.errors import DatabaseUnavailableError, DataNotFoundError, UserError

log = logging.getLogger(__name__)


def _status(exc: UserError) -> int:
    if isinstance(exc, DataNotFoundError):
        return 404
    if isinstance(exc, DatabaseUnavailableError):
        return 503
    return 400


def _validation_line(errors: Sequence[Any]) -> str:
    parts = []
    for err in list(errors)[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "enum":  # a long list of choices: suggest the closest one
            given = str(err.get("input", ""))[:64]
            choices = [c.strip(" '") for c in str(err.get("ctx", {}).get("expected", "")).replace(
                " or ", ", ").split(",")]
            close = difflib.get_close_matches(given, choices, n=1)
            message = f"{given!r} is not one of the choices" + (
                f": did you mean {close[0]!r}?" if close else "")
        parts.append(f"{where or 'request'}: {message}")
    return "invalid parameters: " + "; ".join(parts)


def _answer(request: Request, status: int, message: str, extra: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api") or request.url.path == "/openapi.json":
        return JSONResponse({"error": message, **(extra or {})}, status_code=status,
                            headers=headers)
    templates = request.app.state.templates
    return templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "error.html", {"status": status, "message": message}, status_code=status,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(UserError)
    async def _user_error(request: Request, exc: UserError) -> Response:
        return _answer(request, _status(exc), exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        kept = ("loc", "msg", "type")
        errors = jsonable_encoder([{k: e[k] for k in kept if k in e} for e in exc.errors()])
        return _answer(request, 422, _validation_line(exc.errors()), {"detail": errors})

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404:
            message = f"no page at {request.url.path[:200]}: see / for the runs"
        headers = dict(exc.headers) if exc.headers else None
        return _answer(request, exc.status_code, message, headers=headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        log.exception("dashboard error on %s", request.url.path)
        message = "internal error (the traceback is in the dashboard's log)"
        if request.url.path.startswith("/api"):
            return JSONResponse({"error": message}, status_code=500)
        return HTMLResponse(f"<h1>500</h1><p>{message}</p>", status_code=500)
