"""Server-sent events: a model's output, streamed piece by piece as it is made.

Each piece is one ``data:`` event: ``{"text": "..."}`` for text (``stream_pieces``), or the events a task
sends (``stream_events``: music opens with ``event: primer``, then sends ``{"step": t, "pitches": [...]}`` a
time step). The stream ends with ``event: end`` (data ``{}``, or what the task sends last: a music piece and
its MIDI file), or ``event: error`` carrying ``{"error": "..."}`` if the model fails midway. The first piece
is made before the response starts, so input the model refuses still answers a plain 4xx JSON error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from fastapi.responses import StreamingResponse

from rnnkit.serve.errors import ApiError
from rnnkit.serve.server import Server

_DONE = object()


def event(data: dict, name: str | None = None) -> str:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data)}\n\n"


async def stream_pieces(server: Server, pieces: Iterator[str]) -> StreamingResponse:
    """An event stream of ``pieces`` of text, each drawn on the model thread within ``request_timeout_s``."""
    return await stream_events(server, ((None, {"text": piece}) for piece in pieces))


async def stream_events(server: Server, items: Iterator[tuple[str | None, dict]],
                        end: Callable[[], Awaitable[dict]] | None = None) -> StreamingResponse:
    """An event stream of ``items``, ``(name, data)`` pairs (name None: a plain ``data:`` event), each drawn
    on the model thread within ``request_timeout_s``; after the last, ``end()`` (when given) is awaited for
    the data of the end event."""
    first = await server.call(next, items, _DONE)

    async def events() -> AsyncIterator[str]:
        item = first
        try:
            while item is not _DONE:
                yield event(item[1], item[0])
                item = await server.call(next, items, _DONE)
            closing = {} if end is None else await end()
        except (ApiError, ValueError) as exc:
            yield event({"error": str(exc)}, "error")
            return
        yield event(closing, "end")

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
