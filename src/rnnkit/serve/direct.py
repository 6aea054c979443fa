"""The short way to a declared endpoint: a plain ASGI layer that answers a JSON ``POST`` to one of
``declare.ENDPOINTS`` without FastAPI's routing, dependency solving and response re-validation: work paid on
the one event loop that every request shares (about half of its time per completion, in-process).

It reads the body as FastAPI would (the JSON into the endpoint's ``Request`` model), calls the same
handler, and writes its ``Response`` model as JSON (or sends the response the handler made, e.g. a stream).
A request it does not take as it is (another method, another content type, an empty body, a body that is not
a valid request) goes on, body and all, to the FastAPI app, which answers it as always, errors included::

    POST /v1/lm/complete {"text": "the ca"}  ->  Direct: CompleteIn -> complete(server, body) -> CompleteOut
    POST /v1/lm/complete {"text": 3}         ->  FastAPI app: 422, as its own validation words it
    GET  /v1/models                          ->  FastAPI app

The FastAPI routes stay the reference: the OpenAPI description, the tests of the API and every other request
go through them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from rnnkit.serve.declare import Endpoint
from rnnkit.serve.errors import answer
from rnnkit.serve.guard import replay
from rnnkit.serve.server import Server

Found = tuple[Endpoint, BaseRoute, dict[str, Any]]


class Direct:
    """``Direct(app, server, mounted)``: answers JSON POSTs to the ``(endpoint, route)`` pairs in ``mounted``
    that take a body, and hands everything else to ``app``. Leaves the route it served in ``scope["route"]``,
    as the router does."""

    def __init__(self, app: ASGIApp, server: Server, mounted: Sequence[tuple[Endpoint, BaseRoute]]):
        self.app, self.server = app, server
        posts = [(spec, route) for spec, route in mounted if spec.method == "POST" and spec.Request is not None]
        self._static = {spec.route: (spec, route) for spec, route in posts if "{" not in spec.route}
        self._templated = [(spec, route) for spec, route in posts if "{" in spec.route]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._find(scope) if scope["type"] == "http" and scope["method"] == "POST" else None
        if found is None or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        spec, route, params = found
        data, ended = await _read_body(receive)
        if ended:
            return  # the client went away
        try:
            body = spec.Request.model_validate_json(data)
        except (ValueError, ValidationError):  # not JSON, or not a valid request: the app words the error
            await self.app(scope, replay(data, None, receive), send)
            return
        scope["route"] = route
        try:
            result = await spec.handler(self.server, body=body, **params)
        except Exception as exc:
            result = answer(exc)
            if result is None:
                raise  # a bug: the app's outermost layer answers 500
        if isinstance(result, Response):
            await result(scope, receive, send)
            return
        data = result.__pydantic_serializer__.to_json(result)
        await send({"type": "http.response.start", "status": spec.status_code,
                    "headers": [(b"content-length", str(len(data)).encode()), (b"content-type", _JSON)]})
        await send({"type": "http.response.body", "body": data})

    def _find(self, scope: Scope) -> Found | None:
        """The endpoint and route of a POST to ``scope``'s path, with its path parameters, or None."""
        hit = self._static.get(scope["path"])
        if hit is not None:
            return (*hit, {})
        for spec, route in self._templated:
            match, child = route.matches(scope)
            if match == Match.FULL:
                return spec, route, child["path_params"]
        return None


_JSON = b"application/json"


def _is_json(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body, and whether the client disconnected first."""
    body, more = bytearray(), True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return b"", True
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return bytes(body), False
