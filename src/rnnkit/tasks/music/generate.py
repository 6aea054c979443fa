"""Sampling new music from a trained ``MusicModel``: the primer is read, then each next frame is drawn from
the head (``sample`` of the sigmoid or joint head, at a temperature) and read back."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rnnkit.tasks.music.model import MusicModel
from rnnkit.tasks.music.preprocess import PianoRoll, Piece


@torch.no_grad()
def sample(model: MusicModel, roll: PianoRoll, *, prime: Sequence[Sequence[int]] = (), steps: int = 64,
           temperature: float = 1.0, seed: int | None = None) -> Piece:
    """The primer (its pitches outside the roll's range dropped) followed by ``steps`` sampled frames. The
    model reads the silent start frame and the primer in one call, then one frame a step. The same seed
    gives the same piece; temperature 0 is greedy. Raises ValueError for a negative ``steps``."""
    if steps < 0:
        raise ValueError(f"steps must be at least 0, got {steps}")
    model.eval()
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    primer = roll.encode([list(step) for step in prime]) if len(prime) else torch.zeros(0, roll.size)
    frames = torch.cat([model.start_frame(), primer.to(model.start_frame().device)])  # (1 + T, P)
    h, state = model.features(frames.unsqueeze(0))
    h = h[:, -1]  # (1, D): predicts the first new frame
    drawn = []
    for _ in range(steps):
        frame = model.head.sample(h, temperature=temperature, generator=generator)  # (1, P)
        drawn.append(frame[0])
        h, state = model.step(frame, state)
    new = roll.decode(torch.stack(drawn)) if drawn else []
    return roll.decode(primer) + new
