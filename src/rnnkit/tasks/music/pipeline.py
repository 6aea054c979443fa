"""The ``music`` pipeline: new music from a trained run, written as a MIDI file and its piano roll."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnkit.files import write_atomic
from rnnkit.tasks.base import Pipeline
from rnnkit.tasks.music.generate import sample
from rnnkit.tasks.music.midi import read_midi, write_midi
from rnnkit.tasks.music.preprocess import Piece

# The one place the CLI, the HTTP API and the page take their defaults from: 64 time steps (16 bars of
# quarter notes at the JSB grid) at temperature 1, the model's own distribution
DEFAULTS = {"length": 64, "temperature": 1.0}


class MusicPipeline(Pipeline):
    """``generate_files(out, prime="", length=64, temperature=1.0, seed=None)`` writes ``out`` (MIDI) and
    ``out.png`` (its piano roll); ``compose(prime, ...)`` returns the piece itself, and ``predict`` one piece
    for each primer."""

    task = "music"
    output = "file"

    def __init__(self, loaded):
        super().__init__(loaded)
        self.roll = self.preprocessor

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(DEFAULTS)

    @property
    def commands(self) -> frozenset[str]:
        return frozenset({"generate"})

    def describe(self) -> dict[str, Any]:
        r = self.roll
        return {**super().describe(), "pitches": [r.low, r.high], "steps_per_beat": r.steps_per_beat,
                "head": self.loaded.config.model.head}

    def predict(self, inputs: Sequence[str | Path], **options: Any) -> list[Piece]:
        """For each MIDI file of ``inputs`` (or "" for none), the piece ``compose`` makes after it."""
        return [self.compose(prime, **options) for prime in inputs]

    def compose(self, prime: str | Path = "", *, length: int = DEFAULTS["length"],
                temperature: float = DEFAULTS["temperature"], seed: int | None = None) -> Piece:
        """The notes of the MIDI file ``prime`` (none when empty), read on the run's grid, then ``length``
        sampled time steps."""
        primer = read_midi(prime, steps_per_beat=self.roll.steps_per_beat) if str(prime) else []
        return sample(self.model, self.roll, prime=primer, steps=length, temperature=temperature, seed=seed)

    def generate_files(self, out: Path, *, prime: str = "", length: int = DEFAULTS["length"],
                       temperature: float = DEFAULTS["temperature"], seed: int | None = None,
                       overwrite: bool = False) -> list[Path]:
        """Write the composed piece to ``out`` (MIDI) and its piano roll to ``out.png``; neither replaces an
        existing file unless ``overwrite`` (checked before anything is written)."""
        out = Path(out)
        png = out.with_name(out.name + ".png")
        if not overwrite and png.exists():
            raise ValueError(f"{png}: already exists; choose another --out or pass --overwrite")
        piece = self.compose(prime, length=length, temperature=temperature, seed=seed)
        picture = piano_roll_png(piece, self.roll.steps_per_beat)
        return [write_midi(piece, out, steps_per_beat=self.roll.steps_per_beat),
                write_atomic(png, picture, overwrite=overwrite)]


def piano_roll_png(piece: Piece, steps_per_beat: int) -> bytes:
    """A PNG of ``piece``: time in beats across, MIDI pitch up."""
    import numpy as np

    from rnnkit.train.plots import new_figure

    pitches = [p for step in piece for p in step] or [60]
    low, high = min(pitches), max(pitches)
    grid = np.zeros((high - low + 1, max(len(piece), 1)))
    for t, step in enumerate(piece):
        for p in step:
            grid[p - low, t] = 1.0
    fig = new_figure(1, width=max(6.0, len(piece) / 16), height=3.5)
    ax = fig.axes[0]
    ax.imshow(grid, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
              extent=(0, len(piece) / steps_per_beat, low - 0.5, high + 0.5))
    ax.set_xlabel("beats")
    ax.set_ylabel("MIDI pitch")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)  # into memory first: a drawing error writes nothing
    return buffer.getvalue()
