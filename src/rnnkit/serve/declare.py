"""Endpoints declared per task, in one place each, and mounted by the app for the tasks it loaded.

A task's module declares its routes with ``@endpoint`` and what ``/v1/models`` says about its models with
``@describes``; the app mounts ``/v1/{task}/{path}`` for every declaration whose task (and kind) is loaded.
A handler is ``async def handler(server, body, **path_params) -> Response`` (no ``body`` without a
``Request`` model)::

    @endpoint("lm", "complete", Request=CompleteIn, Response=CompleteOut)
    async def complete(server: Server, body: CompleteIn) -> CompleteOut:
        ...
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


ENDPOINTS: list[Endpoint] = []
DESCRIBERS: dict[str, Callable[[Any], dict[str, Any]]] = {}


def endpoint(
    task: str,
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
        ENDPOINTS.append(Endpoint(task, path, handler, Request, Response, method, kind, status_code))
        return handler

    return declare


def describes(task: str) -> Callable[[Callable[[Any], dict[str, Any]]], Callable[[Any], dict[str, Any]]]:
    """Declare the decorated ``fn(pipeline) -> dict`` as what ``/v1/models`` adds for a model of ``task``."""

    def declare(fn: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
        DESCRIBERS[task] = fn
        return fn

    return declare
