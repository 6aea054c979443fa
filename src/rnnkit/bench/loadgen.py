"""A lean HTTP/1.1 load generator over asyncio streams, for ``rnnkit bench serve``.

The generator shares the machine's cores with the server it measures, so it is kept cheap: a request is
one write of ready-made bytes, a response is a status line, headers and a ``Content-Length`` body read
from the stream (no chunked bodies: the server answers JSON with a length). N clients run at once, each on
its own keep-alive connection, each sending its next request when the last one is answered::

    client 0: conn 0 ── request ── response ── request ── response ── ...
    client 1: conn 1 ── request ──── response ── request ── ...         until `requests` are sent
    ...                                                                   or `seconds` have passed

>>> stats = asyncio.run(run_level("127.0.0.1", 8000, clients, seconds=10, requests=20000))
>>> stats.summary()   # {"requests": ..., "throughput": ..., "p50_ms": ..., "p99_ms": ..., "errors": ...}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

GRACE_S = 30.0  # how long requests still in flight at the deadline may take before they count as errors


class ProtocolError(ValueError):
    """A response that is not HTTP/1.1 as this client reads it, or a connection closed mid-response."""


class InvalidResponse(ValueError):
    """A well-formed response whose status or JSON body is not what the request should get."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON; InvalidResponse when it is not."""
        try:
            return json.loads(self.body)
        except ValueError:
            raise InvalidResponse(f"status {self.status}: the body is not JSON: {self.body[:60]!r}") from None


@dataclass(frozen=True)
class Request:
    """One request, encoded once: ``method``, ``path`` and a JSON ``body`` (bytes, or None for none)."""

    method: str
    path: str
    body: bytes | None = None

    @classmethod
    def post(cls, path: str, payload: Any) -> Request:
        return cls("POST", path, json.dumps(payload).encode())


class Connection:
    """One keep-alive HTTP/1.1 connection: ``await conn.request(req) -> Response``, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def request(self, req: Request) -> Response:
        """Send ``req`` and read its response. ProtocolError (and the connection marked closed) when the
        server closes the connection or answers something this client does not read."""
        head = f"{req.method} {req.path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if req.body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(req.body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (req.body or b""))
        try:
            return await self._read()
        except (asyncio.IncompleteReadError, ConnectionError, ProtocolError) as exc:
            self.closed = True
            raise ProtocolError(f"{type(exc).__name__}: {exc}".splitlines()[0]) from None

    async def _read(self) -> Response:
        # "HTTP/1.1 200 OK\r\n", then "name: value\r\n" lines, a blank line, and Content-Length bytes of body
        parts = (await self.reader.readuntil(b"\r\n")).split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP status line: {b' '.join(parts)[:60]!r}")
        length, close = None, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                raise ProtocolError("a chunked body; this client reads Content-Length bodies only")
        if length is None:
            raise ProtocolError("a response without Content-Length")
        body = await self.reader.readexactly(length)
        self.closed = close
        return Response(int(parts[1]), body)

    async def close(self) -> None:
        self.closed = True
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class Client(Protocol):
    """What one simulated user does. ``prepare(conn)`` runs untimed before each request (e.g. to open a
    typing session); ``next()`` is the request to time; ``check(response)`` raises InvalidResponse (a
    ValueError) when the answer is wrong."""

    async def prepare(self, conn: Connection) -> None: ...

    def next(self) -> Request: ...

    def check(self, response: Response) -> None: ...


@dataclass
class LevelStats:
    """What one level of load measured: ``requests`` sent, ``latencies`` (seconds) of the answered and
    valid ones, ``errors`` (invalid answers, broken connections, requests still open after the grace) and
    the first error's message, over ``seconds`` of wall-clock time."""

    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    def error(self, message: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or message

    def summary(self) -> dict:
        """Requests, seconds, throughput (valid answers per second), p50/p99/max latency in ms, errors."""
        ordered = sorted(self.latencies)

        def ms(seconds: float | None) -> float | None:  # None, not NaN, when nothing was answered: JSON has no NaN
            return None if seconds is None else round(seconds * 1e3, 3)

        return {"requests": self.requests, "seconds": round(self.seconds, 3),
                "throughput": round(len(ordered) / self.seconds, 1) if self.seconds > 0 else 0.0,
                "p50_ms": ms(percentile(ordered, 50)), "p99_ms": ms(percentile(ordered, 99)),
                "max_ms": ms(ordered[-1] if ordered else None), "errors": self.errors, "first_error": self.first_error}


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile of ascending ``ordered``; None when it is empty."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class _Budget:
    """Hands out at most ``requests`` turns, and none after ``seconds``."""

    def __init__(self, requests: int, seconds: float):
        self.left, self.deadline = requests, time.perf_counter() + seconds

    def take(self) -> bool:
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.left -= 1
        return True


async def run_level(host: str, port: int, clients: Sequence[Client], *, seconds: float, requests: int) -> LevelStats:
    """Run ``clients`` at once, one connection each, until ``requests`` are sent in all or ``seconds`` have
    passed; requests in flight then get ``GRACE_S`` more before they count as errors."""
    conns = [await Connection.open(host, port) for _ in clients]
    stats, budget = LevelStats(), _Budget(requests, seconds)
    start = time.perf_counter()
    tasks = [asyncio.ensure_future(_user(c, conn, host, port, budget, stats)) for c, conn in zip(clients, conns)]
    try:
        done, pending = await asyncio.wait(tasks, timeout=seconds + GRACE_S)
        for task in pending:
            task.cancel()
            stats.error(f"no answer within {seconds + GRACE_S:g} s")
        for task in done:
            task.result()  # a bug in a client is raised here, not counted
    finally:
        stats.seconds = time.perf_counter() - start
        for conn in conns:
            await conn.close()
    return stats


async def _user(client: Client, conn: Connection, host: str, port: int, budget: _Budget, stats: LevelStats) -> None:
    """One simulated user: request after request on its connection (reopened if the server closes it)."""
    while True:
        if conn.closed:
            conn.writer.close()
            conn.reader, conn.writer = await asyncio.open_connection(host, port)
            conn.closed = False
        if not budget.take():
            return
        stats.requests += 1
        try:
            await client.prepare(conn)
            req = client.next()
            start = time.perf_counter()
            client.check(await conn.request(req))
        except (ValueError, OSError) as exc:  # ProtocolError and InvalidResponse are ValueErrors
            stats.error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            continue
        stats.latencies.append(time.perf_counter() - start)
