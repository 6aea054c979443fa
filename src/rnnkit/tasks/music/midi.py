"""MIDI files to piano-roll pieces (``mido``) and back (``pretty_midi``).

Reading quantizes notes to a grid of ``steps_per_beat`` steps a quarter-note beat. MIDI ticks count beats
(``ticks_per_beat`` a quarter note) and tempo changes only set how long a beat lasts, so a note on a beat
lands on a multiple of ``steps_per_beat`` whatever the tempo map. Files are checked before any roll is built:
a size, note-count and length guard keeps a corrupt or hostile file (a delta of billions of ticks) from
costing memory in proportion to its claimed span.

>>> write_midi([[60, 64], [60, 64], [67]], "out/c.mid", steps_per_beat=1)
PosixPath('out/c.mid')
>>> read_midi("out/c.mid", steps_per_beat=1)
[[60, 64], [60, 64], [67]]
"""

from __future__ import annotations

import glob
import io
import logging
import os
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import pretty_midi

from rnnkit.files import write_atomic
from rnnkit.tasks.music.preprocess import Piece

MAX_BYTES = 20_000_000  # larger files are refused before parsing: far beyond any score
SUFFIXES = (".mid", ".midi")
log = logging.getLogger("rnnkit")


# ---- reading ----------------------------------------------------------------------------------------------
def read_midi(path: str | os.PathLike, *, steps_per_beat: int = 4, drums: bool = False, max_notes: int = 200_000,
              max_steps: int = 100_000) -> Piece:
    """The piece of the MIDI file ``path``: the notes of every channel but drums (channel 10; drums too when
    ``drums``) on a grid of ``steps_per_beat`` steps a quarter-note beat; step 0 is the file's time 0.

    A note sounds from the step of its onset to the step of its offset (exclusive, both rounded to the grid),
    at least one step, so a zero-length note gets one; overlapping notes of one pitch merge; a note never
    ended ends with its track. The piece ends with the last note's offset. ValueError naming the file, on one
    line, when the file is larger than ``MAX_BYTES``, cannot be parsed, holds more than ``max_notes`` notes,
    or has an event (a note or any other) beyond ``max_steps`` steps; all are checked before the roll is
    built. OSError if unreadable.
    """
    path = Path(path)
    if steps_per_beat < 1:
        raise ValueError(f"steps_per_beat must be at least 1, got {steps_per_beat}")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{path}: {size} bytes, more than {MAX_BYTES}: refused")
    try:
        midi = mido.MidiFile(path)
    except Exception as err:  # a parser of arbitrary bytes fails in many ways (EOFError, KeyError, OSError, ...)
        detail = " ".join(str(err).split())  # one line; an EOFError (a truncated file) has no message
        reason = f"{type(err).__name__}: {detail}" if detail else type(err).__name__
        raise ValueError(f"{path}: not a readable MIDI file: {reason}") from None
    _check_size(path, midi, steps_per_beat=steps_per_beat, max_notes=max_notes, max_steps=max_steps)
    return _roll(_notes(midi, drums=drums), midi.ticks_per_beat, steps_per_beat)


def _check_size(path: Path, midi: mido.MidiFile, *, steps_per_beat: int, max_notes: int, max_steps: int) -> None:
    """ValueError if ``midi`` has more than ``max_notes`` notes or an event beyond ``max_steps`` steps."""
    if not 0 < midi.ticks_per_beat < 0x8000:  # 0 is invalid; the top bit set means SMPTE frames, not beats
        raise ValueError(f"{path}: unsupported time division {midi.ticks_per_beat} (only ticks a beat)")
    notes = sum(msg.type == "note_on" and msg.velocity > 0 for track in midi.tracks for msg in track)
    if notes > max_notes:
        raise ValueError(f"{path}: {notes} notes, more than max_notes={max_notes}: refused")
    last_tick = max((sum(msg.time for msg in track) for track in midi.tracks), default=0)  # deltas -> end tick
    last_step = last_tick * steps_per_beat // midi.ticks_per_beat  # exact ints: ticks may be absurdly large
    if last_step > max_steps:
        raise ValueError(f"{path}: an event at step {last_step}, beyond max_steps={max_steps}: refused")


def _notes(midi: mido.MidiFile, *, drums: bool) -> list[tuple[int, int, int]]:
    """(pitch, onset tick, offset tick) of every note in ``midi``, drums (channel index 9) only if ``drums``.

    Ticks count beats whatever the tempo (``ticks_per_beat`` a quarter note), so no tempo map is needed. Pairs
    note-ons with note-offs (or velocity-0 note-ons) as ``pretty_midi`` does, which drops zero-length notes;
    these are kept here.
    """
    notes = []
    for track in midi.tracks:
        tick, open_onsets = 0, {}  # (channel, pitch) -> onset ticks of its sounding notes, ascending
        for msg in track:
            tick += msg.time
            if msg.type not in ("note_on", "note_off") or (msg.channel == 9 and not drums):
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                open_onsets.setdefault(key, []).append(tick)
                continue
            onsets = open_onsets.pop(key, [])
            ending = [t for t in onsets if t < tick] or onsets  # a note-on on this tick after older ones goes on
            notes += [(msg.note, onset, tick) for onset in ending]
            if len(ending) < len(onsets):
                open_onsets[key] = onsets[len(ending):]
        notes += [(pitch, onset, tick) for (_, pitch), onsets in open_onsets.items() for onset in onsets]
    return notes


def _roll(notes: list[tuple[int, int, int]], ticks_per_beat: int, steps_per_beat: int) -> Piece:
    """The piece of ``notes`` (pitch, onset tick, offset tick) on the grid of ``steps_per_beat`` steps a beat."""
    if not notes:
        return []
    pitches, onsets, offsets = np.array(notes, dtype=np.int64).T  # (N,) each
    starts = _grid(onsets, ticks_per_beat, steps_per_beat)
    ends = np.maximum(_grid(offsets, ticks_per_beat, steps_per_beat), starts + 1)  # at least one step
    on = np.zeros((int(ends.max()), 128), dtype=bool)  # (T, 128); T <= max_steps + 1 by _check_size
    for pitch, start, end in zip(pitches, starts, ends):
        on[start:end, pitch] = True  # overlapping notes of one pitch simply union
    return [np.flatnonzero(row).tolist() for row in on]


def _grid(ticks: np.ndarray, ticks_per_beat: int, steps_per_beat: int) -> np.ndarray:
    """The nearest step of each tick (halves round up), in exact integer arithmetic."""
    return (2 * ticks * steps_per_beat + ticks_per_beat) // (2 * ticks_per_beat)


# ---- writing ----------------------------------------------------------------------------------------------
def write_midi(piece: Piece, path: str | os.PathLike, *, steps_per_beat: int = 4, tempo: float = 100.0,
               velocity: int = 80, program: int = 0) -> Path:
    """Write ``piece`` to ``path`` atomically as a standard MIDI file (type 1, one track of ``program``, a
    General MIDI number, 0: piano) at ``tempo`` quarter notes a minute, ``steps_per_beat`` steps a quarter
    note; each run of consecutive steps holding a pitch becomes one note of ``velocity``. Returns ``path``.
    ValueError on a pitch outside 0..127 or a bad setting; nothing is written then."""
    if steps_per_beat < 1 or tempo <= 0 or not 1 <= velocity <= 127 or not 0 <= program <= 127:
        raise ValueError(f"bad setting: steps_per_beat={steps_per_beat}, tempo={tempo}, velocity={velocity}, "
                         f"program={program}")
    if any(not 0 <= p <= 127 for step in piece for p in step):
        raise ValueError(f"{path}: a pitch outside 0..127")
    seconds = 60.0 / (tempo * steps_per_beat)  # one step
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=tempo)  # 480 ticks a beat: exact for 1..6 steps
    piano = pretty_midi.Instrument(program=program)
    piano.notes = [pretty_midi.Note(velocity, pitch, start * seconds, end * seconds)
                   for pitch, start, end in _runs(piece)]
    pm.instruments.append(piano)
    data = io.BytesIO()
    pm.write(data)
    return write_atomic(path, data.getvalue())


def _runs(piece: Piece) -> list[tuple[int, int, int]]:
    """(pitch, first step, end step exclusive) of every run of consecutive steps holding a pitch."""
    runs, open_since = [], {}
    for t, step in enumerate([*piece, []]):  # a silent step after the end closes every run
        sounding = set(step)
        for pitch in [p for p in open_since if p not in sounding]:
            runs.append((pitch, open_since.pop(pitch), t))
        for pitch in sounding:
            open_since.setdefault(pitch, t)
    return runs


# ---- folders ----------------------------------------------------------------------------------------------
def read_midi_folder(folder_or_glob: str | os.PathLike, *, steps_per_beat: int = 4, drums: bool = False,
                     warn: Callable[[str], object] = log.warning) -> list[tuple[str, Piece]]:
    """(path, piece) of every ``.mid``/``.midi`` file below a folder (recursively) or matching a glob (``**``
    allowed), sorted by path, read with ``read_midi``. A file that cannot be read, or holds no notes, is
    skipped with one ``warn`` naming it and why. ValueError when no MIDI file is found, or none is usable
    (``FOLDER: no usable MIDI files (N skipped)``)."""
    paths = _midi_paths(folder_or_glob)
    if not paths:
        raise ValueError(f"{folder_or_glob}: no MIDI files (.mid, .midi)")
    pieces, skipped = [], 0
    for path in paths:
        try:
            piece = read_midi(path, steps_per_beat=steps_per_beat, drums=drums)
        except (ValueError, OSError) as err:
            skipped += 1
            warn(f"skipping {err}" if str(err).startswith(str(path)) else f"skipping {path}: {err}")
            continue
        if not piece:  # a piece ends with its last note: empty means no notes
            skipped += 1
            warn(f"skipping {path}: no notes")
            continue
        pieces.append((str(path), piece))
    if not pieces:
        raise ValueError(f"{folder_or_glob}: no usable MIDI files ({skipped} skipped)")
    return pieces


def _midi_paths(folder_or_glob: str | os.PathLike) -> list[Path]:
    """The MIDI files below a folder, or matching a glob, sorted."""
    folder = Path(folder_or_glob)
    found = folder.rglob("*") if folder.is_dir() else map(Path, glob.glob(str(folder_or_glob), recursive=True))
    return sorted(p for p in found if p.suffix.lower() in SUFFIXES and p.is_file())
