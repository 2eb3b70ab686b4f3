"""Problem responses (RFC 9457, ``application/problem+json``) and the one error table."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import Problem
from locator.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    CRSError,
    DatabaseError,
    InputValidationError,
    LocatorError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Domain errors and the HTTP status each one answers with; the first match wins.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int, str], ...] = (
    (AuthenticationError, 401, "API key needed"),
    (PermissionDeniedError, 403, "Not allowed"),
    (NotFoundError, 404, "Not found"),
    (ConflictError, 409, "Conflict"),
    (RateLimitedError, 429, "Too many writes"),
    (InputValidationError, 422, "Invalid input"),
    (CRSError, 422, "Invalid coordinate system"),
    (ConfigError, 422, "Invalid parameter"),
    (DatabaseError, 503, "Database unavailable"),
    (LocatorError, 400, "Bad request"),
)


def problem_for(exc: LocatorError) -> JSONResponse:
    """The problem response for a domain error, by the table above."""
    status, title = next((s, t) for kind, s, t in STATUS_BY_ERROR if isinstance(exc, kind))
    errors = None
    if isinstance(exc, InputValidationError):
        errors = [{"loc": [p.field or "", p.row or 0], "msg": str(p)} for p in exc.problems]
    headers = {}
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    current = exc.figures if isinstance(exc, ConflictError) else None
    return problem(status, title, str(exc), errors=errors, headers=headers, current=current)


def problem(
    status: int,
    title: str,
    detail: str,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    current: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = Problem(
        type="about:blank",
        title=title,
        status=status,
        detail=detail,
        errors=None if errors is None else [dict(e) for e in errors],
        current=None if current is None else dict(current),
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers) if headers else None,
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries documenting problem bodies for ``statuses``."""
    return {
        status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": "Problem"}
        for status in statuses
    }


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem response."""

    @app.exception_handler(LocatorError)
    async def locator_error(request: Request, exc: LocatorError) -> JSONResponse:
        response = problem_for(exc)
        if response.status_code >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return response

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_request_error(e) for e in exc.errors()]
        detail = "; ".join(str(e["msg"]) for e in errors)
        return problem(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Keep the exception's headers: a 405 must say which methods are allowed.
        return problem(
            exc.status_code, _title(exc.status_code), str(exc.detail), headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "the service failed to answer; this is logged")


TEXT_PATTERN = r"^[^\x00]*$"
"""Free text taken from a request: anything but a NUL character, which PostgreSQL's text
cannot hold (the driver refuses it before the query is sent)."""

# What a parameter with a pattern must look like, said in words instead of a regex.
PATTERN_HINTS = {
    "bbox": "four numbers: min lon, min lat, max lon, max lat",
    "code": "1 to 64 letters, digits, '.', '_' or '-'",
}


def _request_error(error: Mapping[str, Any]) -> dict[str, object]:
    """One request validation error as ``{loc, msg}``, naming the parameter and the value."""
    loc = [str(part) for part in error.get("loc", ())]
    names = [part for part in error.get("loc", ()) if isinstance(part, str)]
    name = names[-1] if names else "request"
    message = str(error.get("msg", "is invalid"))
    if error.get("type") == "string_pattern_mismatch":
        if error.get("ctx", {}).get("pattern") == TEXT_PATTERN:
            message = "must not contain a NUL character"
        elif name in PATTERN_HINTS:
            message = f"must be {PATTERN_HINTS[name]}"
    shown = f" {error['input']!r}" if "input" in error and error["input"] is not None else ""
    return {"loc": loc, "msg": f"{name}{shown}: {message}"}


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
