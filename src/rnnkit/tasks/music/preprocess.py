"""Piano rolls: a piece is a list of time steps, each the sorted list of sounding MIDI pitches (0..127).

The JSON format is that of the JSB Chorales release (Boulanger-Lewandowski et al. 2012):
``{"train": [...], "valid": [...], "test": [...]}``, each split a list of pieces. ``PianoRoll`` is the
task's preprocessor: a pitch range and a grid, turning a piece into a (T, P) multi-hot frame tensor and back.

>>> roll = PianoRoll.fit([[[60, 64], [], [67]]])
>>> roll.low, roll.high, roll.size, roll.encode([[60, 64], [], [67]]).shape
(60, 67, 8, torch.Size([3, 8]))
>>> transpositions([[60], [62]], 58, 64, max_shift=2)
[[[60], [62]], [[58], [60]], [[59], [61]], [[61], [63]], [[62], [64]]]
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

Piece = list[list[int]]  # time steps of sounding MIDI pitches, each step sorted

SPLITS = ("train", "valid", "test")


# ---- JSON piano rolls -------------------------------------------------------------------------------------
def read_pianoroll_json(path: str | os.PathLike) -> dict[str, list[Piece]]:
    """The ``train``, ``valid`` and ``test`` splits of a piano-roll JSON file (gzipped when its name ends in
    ``.gz``), each a non-empty list of pieces.

    Each step comes back sorted and without repeats. ValueError, its message ``PATH: problem`` on one line,
    when the file is not JSON, is not an object of exactly those three splits, a split is empty or not a list,
    a piece is empty or not a list of lists, or a pitch is not an int in 0..127. OSError if unreadable.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    except (ValueError, EOFError, gzip.BadGzipFile) as err:  # JSONDecodeError, UnicodeDecodeError: ValueErrors
        raise ValueError(f"{path}: not JSON: {err}") from None
    if not isinstance(data, dict) or set(data) != set(SPLITS):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: expected an object with exactly the splits {list(SPLITS)}, found {keys}")
    return {split: _split(path, split, data[split]) for split in SPLITS}


def _split(path: Path, split: str, pieces: Any) -> list[Piece]:
    """The checked pieces of one split (``read_pianoroll_json``'s rules; errors name ``path`` and the place)."""
    if not isinstance(pieces, list) or not pieces:
        raise ValueError(f"{path}: split {split!r} is not a non-empty list of pieces")
    checked = []
    for i, piece in enumerate(pieces):
        if not isinstance(piece, list) or not piece:
            raise ValueError(f"{path}: {split} piece {i} is not a non-empty list of time steps")
        for t, step in enumerate(piece):
            if not isinstance(step, list) or not all(_is_pitch(p) for p in step):
                raise ValueError(f"{path}: {split} piece {i} step {t}: not a list of ints in 0..127: {step!r:.80}")
        checked.append([sorted(set(step)) for step in piece])
    return checked


def _is_pitch(p: Any) -> bool:
    return isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 127


# ---- the preprocessor -------------------------------------------------------------------------------------
@dataclass
class PianoRoll:
    """Pitches ``low``..``high`` (inclusive MIDI numbers) on a grid of ``steps_per_beat`` steps a quarter-note
    beat (1: quarter notes, as the JSB quarter file; 4: sixteenths). ValueError if the range is not within
    0..127 or ``steps_per_beat`` is below 1."""

    low: int
    high: int
    steps_per_beat: int = 1
    type: ClassVar[str] = "pianoroll"

    def __post_init__(self) -> None:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high, self.steps_per_beat)):
            raise ValueError(f"PianoRoll: low, high and steps_per_beat must be ints, got {self}")
        if not 0 <= self.low <= self.high <= 127:
            raise ValueError(f"PianoRoll: need 0 <= low <= high <= 127, got low={self.low}, high={self.high}")
        if self.steps_per_beat < 1:
            raise ValueError(f"PianoRoll: steps_per_beat must be at least 1, got {self.steps_per_beat}")

    @classmethod
    def fit(cls, pieces: list[Piece], *, steps_per_beat: int = 1, margin: int = 0) -> PianoRoll:
        """The range of the pitches in ``pieces``, widened by ``margin`` semitones each side (within 0..127).
        ValueError if the pieces hold no notes or ``margin`` is negative."""
        if margin < 0:
            raise ValueError(f"margin must be at least 0, got {margin}")
        pitches = [p for piece in pieces for step in piece for p in step]
        if not pitches:
            raise ValueError("no notes in the pieces: cannot fit a pitch range")
        low, high = max(0, min(pitches) - margin), min(127, max(pitches) + margin)
        return cls(low, high, steps_per_beat)

    @property
    def size(self) -> int:
        """P, the number of pitches in the range."""
        return self.high - self.low + 1

    def encode(self, piece: Piece) -> torch.Tensor:
        """The (T, P) float32 multi-hot frames of ``piece``: ``[t, p - low]`` is 1 where pitch p sounds at step
        t. Pitches outside ``low``..``high`` are dropped silently (fit the range on training data, with a
        margin, to keep them rare)."""
        steps, columns = [], []
        for t, step in enumerate(piece):
            for p in step:
                if self.low <= p <= self.high:
                    steps.append(t)
                    columns.append(p - self.low)
        frames = torch.zeros(len(piece), self.size)
        frames[steps, columns] = 1.0
        return frames

    def decode(self, frames: torch.Tensor | np.ndarray) -> Piece:
        """The piece of (T, P) ``frames`` (0/1 values or probabilities; above 0.5 is on). ValueError if the
        shape is not (T, P)."""
        on = np.asarray(torch.as_tensor(frames).detach().cpu() > 0.5)  # (T, P) bool
        if on.ndim != 2 or on.shape[1] != self.size:
            raise ValueError(f"expected frames of shape (T, {self.size}), got {tuple(on.shape)}")
        return [(np.flatnonzero(row) + self.low).tolist() for row in on]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: ``{"type": "pianoroll", "low": ..., "high": ..., "steps_per_beat": ...}``."""
        return {"type": self.type, "low": self.low, "high": self.high, "steps_per_beat": self.steps_per_beat}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PianoRoll:
        """The preprocessor of ``to_dict``'s output (``steps_per_beat`` may be left out: 1). ValueError if
        ``d`` is not such a dict: another type, missing or unknown keys, values that are not valid ints."""
        if not isinstance(d, dict) or d.get("type") != cls.type:
            raise ValueError(f"not a {cls.type!r} preprocessor: {d!r:.200}")
        fields = set(d) - {"type"}
        if not {"low", "high"} <= fields <= {"low", "high", "steps_per_beat"}:
            raise ValueError(f"a {cls.type!r} preprocessor needs low, high and steps_per_beat, got {sorted(fields)}")
        return cls(d["low"], d["high"], d.get("steps_per_beat", 1))


# ---- augmentation -----------------------------------------------------------------------------------------
def transpose(piece: Piece, semitones: int) -> Piece:
    """``piece`` shifted by ``semitones`` (a new list). ValueError if a pitch would leave 0..127."""
    shifted = [[p + semitones for p in step] for step in piece]
    if any(not 0 <= p <= 127 for step in shifted for p in step):
        raise ValueError(f"transposing by {semitones} takes a pitch outside 0..127")
    return shifted


def transpositions(piece: Piece, low: int, high: int, max_shift: int = 6) -> list[Piece]:
    """``piece`` shifted by every s in -max_shift..max_shift that keeps all its pitches in ``low``..``high``:
    s = 0 first (when the piece itself is in range), then the others in increasing order. A piece without
    notes gives only itself."""
    pitches = [p for step in piece for p in step]
    if not pitches:
        return [[list(step) for step in piece]]
    first, last = max(-max_shift, low - min(pitches)), min(max_shift, high - max(pitches))
    shifts = sorted(range(first, last + 1), key=lambda s: (s != 0, s))  # 0 first, then ascending
    return [transpose(piece, s) for s in shifts]
