"""Sampling new music from a trained ``MusicModel``: the primer is read, then each next frame is drawn from
the head (``sample`` of the sigmoid or joint head, at a temperature) and read back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from rnnkit.tasks.music.model import MusicModel
from rnnkit.tasks.music.preprocess import PianoRoll, Piece


def sample(model: MusicModel, roll: PianoRoll, *, prime: Sequence[Sequence[int]] = (), steps: int = 64,
           temperature: float = 1.0, seed: int | None = None) -> Piece:
    """The primer (its pitches outside the roll's range dropped) followed by ``steps`` sampled frames. The
    model reads the silent start frame and the primer in one call, then one frame a step. The same seed
    gives the same piece; temperature 0 is greedy. Raises ValueError for a negative ``steps``."""
    primer = roll.decode(roll.encode([list(step) for step in prime])) if len(prime) else []
    return primer + list(frames(model, roll, prime=prime, steps=steps, temperature=temperature, seed=seed))


def frames(model: MusicModel, roll: PianoRoll, *, prime: Sequence[Sequence[int]] = (), steps: int = 64,
           temperature: float = 1.0, seed: int | None = None) -> Iterator[list[int]]:
    """The ``steps`` new frames after the primer, each its sorted pitches, yielded as soon as it is sampled:
    ``sample``'s piece without its primer, from the same random stream (the same seed, the same frames).
    Checks ``steps`` when called (ValueError if negative); reads the primer at the first ``next``."""
    if steps < 0:
        raise ValueError(f"steps must be at least 0, got {steps}")
    return _frames(model, roll, prime, steps, temperature, seed)


@torch.no_grad()  # on a generator function torch holds it around each resumption, not the caller's code
def _frames(model: MusicModel, roll: PianoRoll, prime: Sequence[Sequence[int]], steps: int, temperature: float,
            seed: int | None) -> Iterator[list[int]]:
    model.eval()
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    primer = roll.encode([list(step) for step in prime]) if len(prime) else torch.zeros(0, roll.size)
    opening = torch.cat([model.start_frame(), primer.to(model.start_frame().device)])  # (1 + T, P)
    h, state = model.features(opening.unsqueeze(0))
    h = h[:, -1]  # (1, D): predicts the first new frame
    for _ in range(steps):
        frame = model.head.sample(h, temperature=temperature, generator=generator)  # (1, P)
        h, state = model.step(frame, state)
        yield roll.decode(frame)[0]
