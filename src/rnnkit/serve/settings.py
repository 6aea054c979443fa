"""Every limit of the server in one typed object: ``Settings``, checked when it is made."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path


class ServeError(ValueError):
    """A server that cannot start as asked (a run outside the allowed directories, a bad setting); one line."""


@dataclass(frozen=True)
class Settings:
    """What ``rnnkit serve`` binds to and the limits it enforces.

    - ``host``, ``port``: the address; loopback unless told otherwise.
    - ``allowed_dirs``: run directories must lie in one of these (default: the current directory and below).
    - ``token``: when set, every ``/v1`` and ``/metrics`` request needs ``Authorization: Bearer <token>``.
    - ``max_body_bytes``, ``max_input_chars``, ``max_new_tokens``, ``max_k``: per-request limits.
    - ``request_timeout_s``: a request waiting longer for the model answers 504.
    - ``max_sessions``, ``session_idle_s``, ``session_memory_mb``, ``session_history``: the typing-session
      store (least recently used sessions are evicted first; an idle one expires).
    - ``batch_wait_ms``, ``max_batch``: how long concurrent ``complete`` requests are collected, and at most
      how many run in one batched model step. A batch takes every request that queued while the model was
      busy, then waits this long for more. 0.3 ms: against 1 ms it served 4 to 11% more completions with a
      lower p99 at 32 clients in three rounds out of three (``bench serve``); against 0 it was level in
      throughput and lower in p99 in two rounds of three (0 starts batches of one or two that keep the rest
      waiting).
    - ``torch_threads``: the threads torch computes with in ``run`` (None: torch's default). 1 by default:
      the event loop, the JSON work and often the clients share the cores, and a served batch is too small
      to gain from more.
    - ``access_log``: a log line per request from uvicorn in ``run`` (off by default: writing it takes event
      loop time from the requests; ``/metrics`` counts requests and latencies).
    - ``clock``: seconds, monotonic; tests pass a fake one to expire sessions without waiting.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    allowed_dirs: tuple[Path, ...] = field(default_factory=lambda: (Path.cwd(),))
    token: str | None = None
    max_body_bytes: int = 64 * 1024
    max_input_chars: int = 4096
    max_new_tokens: int = 1000
    max_k: int = 50
    request_timeout_s: float = 30.0
    max_sessions: int = 1000
    session_idle_s: float = 600.0
    session_memory_mb: float = 512.0
    session_history: int = 64
    batch_wait_ms: float = 0.3
    max_batch: int = 64
    torch_threads: int | None = 1
    access_log: bool = False
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_dirs", tuple(Path(d).resolve() for d in self.allowed_dirs))
        positive = ("max_body_bytes", "max_input_chars", "max_new_tokens", "max_k", "request_timeout_s",
                    "max_sessions", "session_idle_s", "session_memory_mb", "session_history", "max_batch")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in positive and not value > 0:
                raise ServeError(f"setting {f.name} must be positive, got {value!r}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ServeError(f"setting torch_threads must be positive (or None for torch's default), got "
                             f"{self.torch_threads!r}")
        if self.batch_wait_ms < 0:
            raise ServeError(f"setting batch_wait_ms must be at least 0, got {self.batch_wait_ms!r}")
        if not 0 <= self.port < 65536:
            raise ServeError(f"setting port must be in 0..65535, got {self.port!r}")
        if self.token is not None and not self.token.strip():
            raise ServeError("setting token must not be empty (leave it unset for no token)")

    def check_allowed(self, run: str | Path) -> Path:
        """``run`` resolved, if it lies in one of ``allowed_dirs``; else ServeError naming it."""
        path = Path(run).resolve()
        if not any(path.is_relative_to(d) for d in self.allowed_dirs):
            allowed = ", ".join(str(d) for d in self.allowed_dirs)
            raise ServeError(f"{run}: outside the allowed directories ({allowed}); move the run or allow its folder")
        return path
