"""The typing-session store: live ``autocomplete.Session`` objects by id, bounded three ways.

A session keeps its recurrent state and a short history of cursors, so each keystroke costs one model step.
The store holds at most ``max_sessions`` of them and at most ``session_memory_mb`` of their estimated memory,
evicting the least recently used first; a session idle for ``session_idle_s`` expires. An evicted, expired or
deleted id answers 404 like one that never existed.
"""

from __future__ import annotations

import secrets
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from rnnkit.autocomplete import Cursor
from rnnkit.serve.errors import ApiError
from rnnkit.serve.settings import Settings


def cursor_bytes(cursor: Cursor) -> int:
    """Bytes held by one cursor: its state (a recurrent state's tensors, an n-gram's context of ids, a
    mixture's component cursors) and its (V,) next-token log-probabilities."""
    return _state_bytes(cursor.state) + cursor.logp.nbytes


def _state_bytes(state: Any) -> int:
    if isinstance(state, Cursor):
        return cursor_bytes(state)
    if isinstance(state, Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, int):
        return 8
    return 0 if state is None else sum(_state_bytes(s) for s in state)


def session_bytes(cursor: Cursor, history: int) -> int:
    """An upper bound on a session's memory: the start and current cursors plus ``history`` saved ones."""
    return (history + 2) * cursor_bytes(cursor)


@dataclass
class Entry:
    """One live session: the ``Session`` object, its memory estimate in bytes, and when it was last used."""

    session: Any
    nbytes: int
    last_used: float


class SessionStore:
    """Sessions by id with LRU eviction, an idle timeout and a memory cap, all from ``Settings``.
    ``evictions`` counts the sessions removed, by reason ("lru", "memory", "idle")."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self.evictions: Counter[str] = Counter()

    def __len__(self) -> int:
        self.expire()
        return len(self._entries)

    @property
    def memory_bytes(self) -> int:
        return sum(e.nbytes for e in self._entries.values())

    def add(self, session: Any, *, nbytes: int) -> str:
        """Store ``session`` and return its new id, evicting the least recently used sessions to make room.
        Raises ApiError 507 if this one session alone is over the memory cap."""
        cap = self.settings.session_memory_mb * 2**20
        if nbytes > cap:
            raise ApiError(507, f"one session needs {nbytes} bytes, more than session_memory_mb allows ({cap:.0f})")
        self.expire()
        while len(self._entries) >= self.settings.max_sessions:
            self._evict("lru")
        while self.memory_bytes + nbytes > cap:
            self._evict("memory")
        sid = secrets.token_urlsafe(16)
        self._entries[sid] = Entry(session, nbytes, self.settings.clock())
        return sid

    def get(self, sid: str) -> Entry:
        """The live session ``sid``, marked as just used; ApiError 404 if unknown, evicted or expired."""
        self.expire()
        entry = self._entries.get(sid)
        if entry is None:
            raise ApiError(404, f"no session {sid!r}: it ended, expired or never existed; start a new one")
        entry.last_used = self.settings.clock()
        self._entries.move_to_end(sid)
        return entry

    def delete(self, sid: str) -> None:
        """End session ``sid``; ApiError 404 if it is not live."""
        self.get(sid)
        del self._entries[sid]

    def expire(self) -> None:
        """Drop the sessions idle for longer than ``session_idle_s``."""
        now = self.settings.clock()
        while self._entries:
            entry = next(iter(self._entries.values()))
            if now - entry.last_used <= self.settings.session_idle_s:
                break
            self._evict("idle")

    def _evict(self, reason: str) -> None:
        self._entries.popitem(last=False)
        self.evictions[reason] += 1
