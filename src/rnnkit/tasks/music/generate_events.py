"""Sampling new music from a trained ``EventModel``: the start token and the primer's events are read, then
each next event is drawn from the softmax (at a temperature) and read back, until the time shifts drawn add
up to the length asked for. Decoding knows only ``start`` and ``step`` (``rnnkit.decode.sampling``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    drawn = _draw(model, codec, primer, steps=steps, max_events=cap, temperature=temperature, generator=generator)
    limit = (sum(map(codec.shift_of, primer)) + steps) * codec.time_step  # in steps times time_step, as decode
    return [replace(n, end=min(n.end, limit)) for n in codec.decode(primer + drawn) if n.start < limit]


def _draw(model: EventModel, codec: EventCodec, primer: list[int], *, steps: int, max_events: int,
          temperature: float, generator: torch.Generator | None) -> list[int]:
    """Event ids drawn after ``primer`` until their time shifts reach ``steps`` or ``max_events`` are drawn."""
    if steps <= 0 or max_events == 0:
        return []
    device = next(model.parameters()).device
    read = torch.tensor([[model.start_id, *primer]], device=device)  # (1, 1 + N)
    elapsed = 0

    def stop(ids: torch.Tensor) -> torch.Tensor:  # (1,) -> (1,) bool: true once the shifts reach ``steps``
        nonlocal elapsed
        elapsed += codec.shift_of(int(ids[0]))
        return torch.tensor([elapsed >= steps], device=device)

    drawn = sample_sequence(model.step, read[:, -1], model.start(Batch(read)), steps=max_events,
                            temperature=temperature, generator=generator, stop=stop)
    return [int(ids[0]) for ids in drawn]
