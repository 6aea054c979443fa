"""Every failure answers JSON ``{"error": "one line"}`` with a 4xx status; only a bug in the server gives 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("rnnkit.serve")
NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "model_type"}  # pydantic's "not a mapping" errors


class ApiError(Exception):
    """A request the server refuses: ``status`` (4xx, or 504 for a timeout) and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def answer(exc: Exception) -> JSONResponse | None:
    """The JSON answer to what a handler raised: an ``ApiError``'s own status, an HTTP error's, 400 for a
    pipeline's ``ValueError``; None for anything else (a bug: the app answers 500)."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message)
    if isinstance(exc, HTTPException):
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))
    if isinstance(exc, ValueError):
        # the pipelines raise ValueError (or a subclass) with a one-line message for input they cannot read
        return error_response(400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return None


def describe_validation(exc: RequestValidationError) -> tuple[int, str]:
    """400 for a body that is not JSON; 422 naming the first wrong fields otherwise."""
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "the body is not valid JSON"
    if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") in {"missing", *NOT_AN_OBJECT} for e in errors):
        return 422, "the body must be a JSON object, sent with Content-Type: application/json"
    parts = []
    for e in errors[:3]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return 422, "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Turn validation errors, HTTP errors, ``ApiError`` and pipeline ``ValueError`` into JSON 4xx answers."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(*describe_validation(exc))

    async def refuse(request: Request, exc: Exception) -> JSONResponse | None:
        return answer(exc)

    for kind in (ApiError, HTTPException, ValueError):
        app.add_exception_handler(kind, refuse)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__})")
