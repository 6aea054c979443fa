"""The ``music`` pipeline: new music from a trained run, written as a MIDI file, its piano roll and its sound."""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rnnkit.files import write_atomic
from rnnkit.tasks.base import Pipeline
from rnnkit.tasks.music.events import EventCodec, Note
from rnnkit.tasks.music.generate import frames, sample
from rnnkit.tasks.music.generate_events import EventFrames, sample_events
from rnnkit.tasks.music.midi import notes_to_piece, read_midi, read_midi_notes, write_midi, write_midi_notes
from rnnkit.tasks.music.preprocess import Piece
from rnnkit.tasks.music.samples import EVENT_GRID, ROLL_TEMPO

log = logging.getLogger("rnnkit")

# The one place the CLI, the HTTP API and the page take their defaults from: 16 bars at temperature 1 (the
# model's own distribution), with a WAV rendering beside the MIDI file where FluidSynth can make one
DEFAULTS = {"length": 16, "unit": "bars", "temperature": 1.0, "audio": "wav"}
UNITS = ("bars", "beats", "steps", "seconds")  # what ``length`` counts; steps: of a piano-roll run's grid
AUDIO = ("wav", "ogg", "none")
BEATS_PER_BAR = 4  # a bar of ``length``: 4/4, the metre of nearly all the chorales
EVENT_FILE_TEMPO = 120.0  # the tempo mark of an event run's MIDI files (its notes keep their own times)


class MusicPipeline(Pipeline):
    """New music after an optional MIDI primer. ``compose(prime, length=16, unit="bars", temperature=1.0,
    seed=None)`` returns it: a piece of time steps for a piano-roll run, a list of ``Note`` for an event run;
    ``generate_files(out, ...)`` writes it as ``out`` (MIDI), ``out.png`` (its piano roll) and ``out.wav``
    (its sound); ``stream`` yields its frames as they are sampled (an event run's on a grid of
    ``EVENT_GRID`` steps a beat); ``predict`` composes after each primer."""

    task = "music"
    output = "file"
    streams = True

    def __init__(self, loaded):
        super().__init__(loaded)
        self.roll = self.preprocessor
        self.events = isinstance(self.preprocessor, EventCodec)
        # beats a minute that bars and beats are counted in: an event run's rolls were played at data.bpm
        self.tempo = float(loaded.config.data.bpm) if self.events else ROLL_TEMPO

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(DEFAULTS)

    @property
    def commands(self) -> frozenset[str]:
        return frozenset({"generate"})

    def span(self, length: float, unit: str = DEFAULTS["unit"]) -> float:
        """How much music ``length`` ``unit`` is to this run: time steps of its grid (an int) for a piano-roll
        run, seconds for an event run. ValueError for an unknown unit, steps on an event run, or a length
        that is not positive."""
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
        if not length > 0:
            raise ValueError(f"length must be above 0, got {length}")
        beats = {"bars": length * BEATS_PER_BAR, "beats": length, "seconds": length * self.tempo / 60}.get(unit)
        if self.events:
            if unit == "steps":
                raise ValueError("unit steps is for piano-roll runs; an event run counts bars, beats or seconds")
            return beats * 60 / self.tempo
        return int(length) if unit == "steps" else max(1, round(beats * self.roll.steps_per_beat))

    @property
    def steps_per_beat(self) -> int:
        """The grid of the frames ``stream`` and ``primer`` give: the roll's, or ``EVENT_GRID`` for events."""
        return EVENT_GRID if self.events else self.roll.steps_per_beat

    def frames_for(self, length: float, unit: str = DEFAULTS["unit"]) -> int:
        """How many frames ``stream`` yields for ``length`` ``unit`` (``span``'s errors)."""
        span = self.span(length, unit)
        return span if not self.events else math.ceil(span / self._grid_seconds - 1e-9)

    @property
    def _grid_seconds(self) -> float:
        return 60 / (self.tempo * EVENT_GRID)

    def stream(self, prime: str | Path = "", *, length: float = DEFAULTS["length"], unit: str = DEFAULTS["unit"],
               temperature: float = DEFAULTS["temperature"], seed: int | None = None) -> Iterator[list[int]]:
        """The frames sampled after the MIDI file ``prime`` (none when empty), each its sorted pitches, as they
        are drawn: a piano-roll run's time steps (with the same seed, ``compose``'s piece after its primer),
        an event run's music on a grid of ``steps_per_beat`` (an ``EventFrames``, whose ``notes()`` is the
        music itself once it ends). The primer is read now, so a bad file (ValueError) fails the call."""
        if self.events:
            notes = read_midi_notes(prime) if str(prime) else []
            return EventFrames(self.model, self.roll, prime=notes, seconds=self.span(length, unit),
                               grid_seconds=self._grid_seconds, temperature=temperature, seed=seed)
        return frames(self.model, self.roll, prime=self.primer(prime), steps=self.span(length, unit),
                      temperature=temperature, seed=seed)

    def primer(self, prime: str | Path = "") -> Piece:
        """The frames of the MIDI file ``prime`` as the model continues them ([] when empty): on the run's grid,
        pitches outside its range dropped. ValueError for a file it cannot read."""
        if not str(prime):
            return []
        if self.events:
            return notes_to_piece(self.roll.decode(self.roll.encode(read_midi_notes(prime))), self._grid_seconds)
        piece = read_midi(prime, steps_per_beat=self.roll.steps_per_beat)
        return self.roll.decode(self.roll.encode(piece)) if piece else []

    def write_music(self, music: Piece | list[Note], path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``compose``'s music (or an ``EventFrames``' notes) as a MIDI file at ``path``."""
        if self.events:
            return write_midi_notes(music, path, tempo=EVENT_FILE_TEMPO, overwrite=overwrite)
        if not overwrite and Path(path).exists():
            raise ValueError(f"{path}: already exists; choose another --out or pass --overwrite")
        return write_midi(music, path, steps_per_beat=self.roll.steps_per_beat, tempo=self.tempo)

    def describe(self) -> dict[str, Any]:
        r = self.roll
        if self.events:
            return {**super().describe(), "representation": "events", "pitches": [r.low, r.high],
                    "time_step": r.time_step, "events": r.size, "tempo": self.tempo,
                    "steps_per_beat": self.steps_per_beat}
        return {**super().describe(), "representation": "roll", "pitches": [r.low, r.high],
                "steps_per_beat": r.steps_per_beat, "head": self.loaded.config.model.head, "tempo": self.tempo}

    def predict(self, inputs: Sequence[str | Path], **options: Any) -> list[Piece] | list[list[Note]]:
        """For each MIDI file of ``inputs`` (or "" for none), the music ``compose`` makes after it."""
        return [self.compose(prime, **options) for prime in inputs]

    def compose(self, prime: str | Path = "", *, length: float = DEFAULTS["length"], unit: str = DEFAULTS["unit"],
                temperature: float = DEFAULTS["temperature"], seed: int | None = None) -> Piece | list[Note]:
        """The music of the MIDI file ``prime`` (none when empty) and ``length`` ``unit`` sampled after it: a
        piano-roll run's piece, its primer read on the run's grid; an event run's notes in seconds, its primer
        with its own timing (``generate_events.sample_events``)."""
        span = self.span(length, unit)
        if self.events:
            notes = read_midi_notes(prime) if str(prime) else []
            return sample_events(self.model, self.roll, prime=notes, seconds=span, temperature=temperature,
                                 seed=seed)
        primer = read_midi(prime, steps_per_beat=self.roll.steps_per_beat) if str(prime) else []
        return sample(self.model, self.roll, prime=primer, steps=span, temperature=temperature, seed=seed)

    def generate_files(self, out: Path, *, prime: str = "", length: float = DEFAULTS["length"],
                       unit: str = DEFAULTS["unit"], temperature: float = DEFAULTS["temperature"],
                       seed: int | None = None, audio: str | None = None, soundfont: str | None = None,
                       overwrite: bool = False) -> list[Path]:
        """Write the composed music to ``out`` (MIDI), its piano roll to ``out.png`` and its sound to
        ``out.wav`` or ``out.ogg`` (``audio``: "wav", "ogg" or "none"; left out, "wav" where FluidSynth and a
        soundfont are installed, else none, with a warning). Nothing replaces an existing file unless
        ``overwrite`` (checked before anything is written). The roll of an event run is drawn on a grid of
        ``EVENT_GRID`` steps a beat. ValueError for an option out of range or a file in the way, RuntimeError when the
        sound asked for cannot be made."""
        from rnnkit.tasks.music.audio import audio_available, render_audio

        out = Path(out)
        if audio is None:
            audio = DEFAULTS["audio"] if audio_available() or soundfont else "none"
            if audio == "none":
                log.warning("no audio written: FluidSynth or a General MIDI soundfont is missing "
                            "(apt-get install fluidsynth timgm6mb-soundfont)")
        if audio not in AUDIO:
            raise ValueError(f"audio must be one of {', '.join(AUDIO)}, got {audio!r}")
        if audio == "none" and soundfont:
            raise ValueError("--soundfont does not apply with audio none")
        png, sound = out.with_name(out.name + ".png"), out.with_name(f"{out.name}.{audio}")
        for path in (out, png, sound) if audio != "none" else (out, png):
            if not overwrite and path.exists():
                raise ValueError(f"{path}: already exists; choose another --out or pass --overwrite")
        music = self.compose(prime, length=length, unit=unit, temperature=temperature, seed=seed)
        grid = notes_to_piece(music, self._grid_seconds) if self.events else music
        picture = piano_roll_png(grid, self.steps_per_beat)
        written = [self.write_music(music, out, overwrite=overwrite), write_atomic(png, picture, overwrite=overwrite)]
        if audio != "none":
            written.append(render_audio(out, sound, soundfont=soundfont, overwrite=overwrite))
        return written


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
