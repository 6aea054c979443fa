"""Sampling new music from a trained ``EventModel``: the start token and the primer's events are read, then
each next event is drawn from the softmax (at a temperature) and read back, until the time shifts drawn add
up to the length asked for. Decoding knows only ``start`` and ``step`` (``rnnkit.decode.sampling``)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import replace

import torch

from rnnkit.batch import Batch
from rnnkit.decode.sampling import sample_sequence
from rnnkit.tasks.music.event_model import EventModel
from rnnkit.tasks.music.events import EventCodec, Note

EVENTS_PER_SECOND = 200  # the default cap on events drawn: far above dense piano playing (about 50 a second)


@torch.no_grad()
def sample_events(model: EventModel, codec: EventCodec, *, prime: Sequence[Note] = (), seconds: float = 30.0,
                  max_events: int | None = None, temperature: float = 1.0, seed: int | None = None) -> list[Note]:
    """The primer's notes, as the codec gives them back (on its grid, velocities binned, pitches outside its
    range dropped), followed by ``seconds`` of sampled music: events are drawn until their time shifts reach
    ``seconds`` (notes still sounding then end there) or ``max_events`` were drawn (default
    ``EVENTS_PER_SECOND`` a second asked for). Notes come sorted by start, so the primer's come first. The
    same seed gives the same notes; temperature 0 is greedy. ValueError for negative ``seconds`` or
    ``max_events``."""
    if not 0 <= seconds < math.inf or (max_events is not None and max_events < 0):
        raise ValueError(f"seconds and max_events must be at least 0, got seconds={seconds}, max_events={max_events}")
    model.eval()
    primer, steps = codec.encode(prime), codec.step(seconds)
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed) if seed is not None else None
    cap = math.ceil(EVENTS_PER_SECOND * seconds) if max_events is None else max_events
    drawn = list(_draw(model, codec, primer, steps=steps, max_events=cap, temperature=temperature,
                       generator=generator))
    limit = (sum(map(codec.shift_of, primer)) + steps) * codec.time_step  # in steps times time_step, as decode
    return [replace(n, end=min(n.end, limit)) for n in codec.decode(primer + drawn) if n.start < limit]


def _draw(model: EventModel, codec: EventCodec, primer: list[int], *, steps: int, max_events: int,
          temperature: float, generator: torch.Generator | None) -> Iterator[int]:
    """Event ids drawn after ``primer``, each as it is drawn, until their time shifts reach ``steps`` or
    ``max_events`` are drawn."""
    if steps <= 0 or max_events == 0:
        return
    device = next(model.parameters()).device
    read = torch.tensor([[model.start_id, *primer]], device=device)  # (1, 1 + N)
    elapsed = 0

    def stop(ids: torch.Tensor) -> torch.Tensor:  # (1,) -> (1,) bool: true once the shifts reach ``steps``
        nonlocal elapsed
        elapsed += codec.shift_of(int(ids[0]))
        return torch.tensor([elapsed >= steps], device=device)

    for ids in sample_sequence(model.step, read[:, -1], model.start(Batch(read)), steps=max_events,
                               temperature=temperature, generator=generator, stop=stop):
        yield int(ids[0])


class EventFrames(Iterator[list[int]]):
    """An event run's music as piano-roll frames on a grid of ``grid_seconds``, each yielded as soon as the
    events drawn move time past its end: the stream a page draws while the model samples. A frame holds
    every pitch sounding at some time within it. ``primer`` is the primer's frames; after the last frame,
    ``notes()`` is the whole music (primer first), as ``sample_events`` gives it for the same seed."""

    def __init__(self, model: EventModel, codec: EventCodec, *, prime: Sequence[Note] = (), seconds: float,
                 grid_seconds: float, temperature: float = 1.0, seed: int | None = None):
        from rnnkit.tasks.music.midi import notes_to_piece

        if not 0 <= seconds < math.inf or not grid_seconds > 0:
            raise ValueError(f"need seconds >= 0 and grid_seconds > 0, got {seconds} and {grid_seconds}")
        model.eval()
        self.codec, self.grid = codec, grid_seconds
        self.prime_ids, steps = codec.encode(prime), codec.step(seconds)
        primed = sum(map(codec.shift_of, self.prime_ids))
        self.start = primed * codec.time_step  # where the new music begins, in seconds
        self.limit = (primed + steps) * codec.time_step  # where it ends, as sample_events computes it
        self.primer = notes_to_piece(codec.decode(self.prime_ids), grid_seconds)
        self.primer += [[] for _ in range(round(self.start / grid_seconds) - len(self.primer))]  # a silent end
        self.total = math.ceil(steps * codec.time_step / grid_seconds - 1e-9)  # frames to come
        generator = torch.Generator(next(model.parameters()).device).manual_seed(seed) if seed is not None else None
        self.drawn: list[int] = []
        self._ids = _draw(model, codec, self.prime_ids, steps=steps, max_events=math.ceil(EVENTS_PER_SECOND * seconds),
                          temperature=temperature, generator=generator)
        self._sounding = set(self._still_sounding())
        self._touched, self._now, self._made, self._ready = set(self._sounding), self.start, 0, []

    def _still_sounding(self) -> list[int]:
        """The pitches the primer leaves on (a note-on without its note-off)."""
        on: set[int] = set()
        for i in self.prime_ids:
            name = self.codec.token_name(i)
            if name.startswith("on "):
                on.add(int(name[3:]))
            elif name.startswith("off "):
                on.discard(int(name[4:]))
        return sorted(on)

    def __iter__(self) -> EventFrames:
        return self

    def __next__(self) -> list[int]:
        with torch.no_grad():
            while not self._ready and self._made < self.total:
                event = next(self._ids, None)
                if event is None:  # the length is reached: the rest of the frames hold what still sounds
                    self._advance(self.limit + self.grid)
                    continue
                self.drawn.append(event)
                name = self.codec.token_name(event)
                if name.startswith("on "):
                    self._sounding.add(int(name[3:]))
                    self._touched.add(int(name[3:]))
                elif name.startswith("off "):
                    self._sounding.discard(int(name[4:]))
                else:
                    self._advance(self._now + self.codec.shift_of(event) * self.codec.time_step)
        if not self._ready:
            raise StopIteration
        self._made += 1
        return self._ready.pop(0)

    def _advance(self, now: float) -> None:
        """Time moves to ``now``: every frame that ends by then is ready."""
        while self._made + len(self._ready) < self.total and \
                self.start + (self._made + len(self._ready) + 1) * self.grid <= now + 1e-9:
            self._ready.append(sorted(self._touched | self._sounding))
            self._touched = set(self._sounding)
        self._now = now

    def notes(self) -> list[Note]:
        """The primer's notes and the drawn ones, cut at the length asked for."""
        limit = self.limit
        return [replace(n, end=min(n.end, limit)) for n in self.codec.decode(self.prime_ids + self.drawn)
                if n.start < limit]
