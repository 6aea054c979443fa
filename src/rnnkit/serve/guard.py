"""The door of the server, before any route runs: the body-size limit, the bearer token, and the timing of
every request for ``/metrics``. A plain ASGI middleware, so it sees streamed responses to their end."""

from __future__ import annotations

import hmac
import time
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnnkit.serve.errors import error_response
from rnnkit.serve.server import Server

PROTECTED = ("/v1/", "/metrics")  # the page, its files, /healthz and the API docs stay open


class Guard:
    """``Guard(app, server, routes)``: refuses bodies over ``max_body_bytes`` (413) and, when a token is set,
    protected paths without ``Authorization: Bearer <token>`` (401); records each request's route, status
    and seconds in ``server.metrics``, under the template of the matching one of ``routes``."""

    def __init__(self, app: ASGIApp, server: Server, routes: list[BaseRoute]):
        self.app, self.server, self.routes = app, server, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            refusal, receive = await self._check(scope, receive)
            if refusal is not None:
                await refusal(scope, receive, timed_send)
            else:
                await self.app(scope, receive, timed_send)
        finally:
            route = _route_of(scope, self.routes)
            self.server.metrics.request(scope["method"], route, status[0], time.perf_counter() - start)

    async def _check(self, scope: Scope, receive: Receive) -> tuple[Any, Receive]:
        """A refusal response (or None) and the ``receive`` for the app, which replays the body read here."""
        settings = self.server.settings
        path = scope["path"]
        if settings.token is not None and path.startswith(PROTECTED) and not self._authorized(scope):
            return error_response(401, "missing or wrong bearer token: send 'Authorization: Bearer <token>'",
                                  {"WWW-Authenticate": "Bearer"}), receive
        limit = settings.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return _too_large(limit), receive
        body, more, first = bytearray(), True, None
        while more:
            message = await receive()
            if message["type"] != "http.request":
                first = message  # a disconnect: hand it on
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                return _too_large(limit), receive
        return None, replay(bytes(body), first, receive)

    def _authorized(self, scope: Scope) -> bool:
        given = _header(scope, b"authorization") or ""
        scheme, _, token = given.partition(" ")
        expected = self.server.settings.token or ""
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


def _too_large(limit: int):
    return error_response(413, f"the request body is over max_body_bytes={limit}")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def replay(body: bytes, first: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that gives the whole body once, then defers to the real one (for disconnects)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return first or {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _route_of(scope: Scope, routes: list[BaseRoute]) -> str:
    """The route template that matched (``/v1/lm/sessions/{session_id}/keys``), so ids never become labels.
    The router leaves the route it chose in ``scope``; only a refused or unrouted request is matched here."""
    if "route" in scope:  # the router's (or the direct path's) full match
        return getattr(scope["route"], "path", "other")
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return getattr(route, "path", "other")
    return "unmatched"
