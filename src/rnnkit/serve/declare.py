"""Endpoints, declared by each task on its own ``Router`` and mounted by the app for the tasks it serves.

A task's ``serve`` module (``Task.router``) declares its routes on a ``Router``; what ``/v1/models`` says
about a model is its pipeline's ``describe()``. A handler is ``async def handler(server, body,
**path_params) -> Response`` (no ``body`` without a ``Request`` model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A request body: unknown fields are refused, so a misspelt option never goes silently unused."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Endpoint:
    """One declared route: ``method`` ``/v1/{task}/{path}``, answered by ``handler``; ``kind`` limits it to
    the models of that kind within the task (seq2seq "translate" or "chat")."""

    task: str
    path: str
    handler: Callable[..., Any]
    Request: type[BaseModel] | None
    Response: type[BaseModel] | None
    method: str
    kind: str | None
    status_code: int

    @property
    def route(self) -> str:
        return f"/v1/{self.task}/{self.path}"

    @property
    def summary(self) -> str:
        return (self.handler.__doc__ or self.path).strip().splitlines()[0]


class Router:
    """The endpoints of one task, declared on this object (no registry filled by importing a module)::

        router = Router("lm")

        @router.endpoint("complete", Request=CompleteIn, Response=CompleteOut)
        async def complete(server: Server, body: CompleteIn) -> CompleteOut: ...

    The app mounts ``/v1/{task}/{path}`` for each endpoint of the routers of the tasks it serves."""

    def __init__(self, task: str):
        self.task = task
        self.endpoints: list[Endpoint] = []

    def endpoint(
        self,
        path: str,
        *,
        Request: type[BaseModel] | None = None,
        Response: type[BaseModel] | None = None,
        method: str = "POST",
        kind: str | None = None,
        status_code: int = 200,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare the decorated handler as ``method /v1/{task}/{path}``."""

        def declare(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.endpoints.append(Endpoint(self.task, path, handler, Request, Response, method, kind, status_code))
            return handler

        return declare
