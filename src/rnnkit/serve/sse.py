"""Server-sent events: a model's pieces of text, streamed as they are made.

Each piece is ``data: {"text": "..."}``; the stream ends with ``event: end``, or ``event: error`` carrying
``{"error": "..."}`` if the model fails midway. The first piece is made before the response starts, so
input the model refuses still answers a plain 4xx JSON error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

from fastapi.responses import StreamingResponse

from rnnkit.serve.errors import ApiError
from rnnkit.serve.server import Server

_DONE = object()


def event(data: dict, name: str | None = None) -> str:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data)}\n\n"


async def stream_pieces(server: Server, pieces: Iterator[str]) -> StreamingResponse:
    """An event stream of ``pieces``, each drawn on the model thread within ``request_timeout_s``."""
    first = await server.call(next, pieces, _DONE)

    async def events() -> AsyncIterator[str]:
        piece = first
        while piece is not _DONE:
            yield event({"text": piece})
            try:
                piece = await server.call(next, pieces, _DONE)
            except (ApiError, ValueError) as exc:
                yield event({"error": str(exc)}, "error")
                return
        yield event({}, "end")

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
