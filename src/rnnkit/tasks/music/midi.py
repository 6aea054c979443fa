"""MIDI files to piano-roll pieces or to notes in seconds (``mido``) and back (``pretty_midi``).

``read_midi`` quantizes notes to a grid of ``steps_per_beat`` steps a quarter-note beat. MIDI ticks count beats
(``ticks_per_beat`` a quarter note) and tempo changes only set how long a beat lasts, so a note on a beat
lands on a multiple of ``steps_per_beat`` whatever the tempo map. ``read_midi_notes`` keeps the performed
timing instead: each note's start and end in seconds, through the file's tempo map (the event
representation, ``rnnkit.tasks.music.events``). Files are checked before any roll or note is built: a size,
note-count and length guard keeps a corrupt or hostile file (a delta of billions of ticks) from costing
memory or time in proportion to its claimed span.

>>> write_midi([[60, 64], [60, 64], [67]], "out/c.mid", steps_per_beat=1)
PosixPath('out/c.mid')
>>> read_midi("out/c.mid", steps_per_beat=1)
[[60, 64], [60, 64], [67]]
"""

from __future__ import annotations

import bisect
import glob
import io
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import mido
import numpy as np
import pretty_midi

from rnnkit.files import write_atomic
from rnnkit.tasks.music.events import Note
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
    midi = _load(path, max_notes=max_notes)
    last_step = _last_tick(midi) * steps_per_beat // midi.ticks_per_beat  # exact ints: ticks may be absurdly large
    if last_step > max_steps:
        raise ValueError(f"{path}: an event at step {last_step}, beyond max_steps={max_steps}: refused")
    return _roll(_notes(midi, drums=drums), midi.ticks_per_beat, steps_per_beat)


def read_midi_notes(path: str | os.PathLike, *, drums: bool = False, max_notes: int = 200_000,
                    max_seconds: float = 3600.0) -> list[Note]:
    """The notes of the MIDI file ``path`` in seconds from the file's time 0, honouring its tempo changes
    (``set_tempo`` in any track; 120 quarter notes a minute before the first), sorted by start then pitch:
    every channel but drums (channel 10; drums too when ``drums``), paired as ``read_midi`` pairs them, a
    zero-length note kept as one (an ``EventCodec`` gives it a step), a note never ended ending with its
    track. ValueError naming the file, on one line, as ``read_midi``, or when an event (a note or any
    other) lies beyond ``max_seconds``; all are checked before any note is built. OSError if unreadable."""
    path = Path(path)
    midi = _load(path, max_notes=max_notes)
    seconds = _tempo_map(midi)
    last = seconds(_last_tick(midi))
    if last > max_seconds:
        raise ValueError(f"{path}: an event at {last:.0f} seconds, beyond max_seconds={max_seconds:g}: refused")
    notes = [Note(pitch, seconds(onset), seconds(offset), velocity)
             for pitch, onset, offset, velocity in _notes(midi, drums=drums)]
    return sorted(notes, key=lambda n: (n.start, n.pitch, n.end))


def _load(path: Path, *, max_notes: int) -> mido.MidiFile:
    """The parsed file at ``path``, once its size, time division and note count are checked (ValueError)."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{path}: {size} bytes, more than {MAX_BYTES}: refused")
    try:
        midi = mido.MidiFile(path)
    except Exception as err:  # a parser of arbitrary bytes fails in many ways (EOFError, KeyError, OSError, ...)
        detail = " ".join(str(err).split())  # one line; an EOFError (a truncated file) has no message
        reason = f"{type(err).__name__}: {detail}" if detail else type(err).__name__
        raise ValueError(f"{path}: not a readable MIDI file: {reason}") from None
    if not 0 < midi.ticks_per_beat < 0x8000:  # 0 is invalid; the top bit set means SMPTE frames, not beats
        raise ValueError(f"{path}: unsupported time division {midi.ticks_per_beat} (only ticks a beat)")
    notes = sum(msg.type == "note_on" and msg.velocity > 0 for track in midi.tracks for msg in track)
    if notes > max_notes:
        raise ValueError(f"{path}: {notes} notes, more than max_notes={max_notes}: refused")
    return midi


def _last_tick(midi: mido.MidiFile) -> int:
    """The tick of the last event of any track (deltas summed: an exact int, however absurd)."""
    return max((sum(msg.time for msg in track) for track in midi.tracks), default=0)


def _tempo_map(midi: mido.MidiFile) -> Callable[[int], float]:
    """Ticks -> seconds under the tempo changes of every track, in the order they come (120 qpm at first)."""
    changes = sorted(((tick, msg.tempo) for track in midi.tracks for tick, msg in _timed(track)
                      if msg.type == "set_tempo"), key=lambda change: change[0])  # stable: ties keep track order
    ticks, tempos, starts = [0], [500_000], [0.0]  # each tempo's first tick, microseconds a beat, its second
    for tick, tempo in changes:
        starts.append(starts[-1] + (tick - ticks[-1]) * tempos[-1] / (1e6 * midi.ticks_per_beat))
        ticks.append(tick)
        tempos.append(tempo)

    def seconds(tick: int) -> float:
        i = bisect.bisect_right(ticks, tick) - 1  # the last change at or before tick
        return starts[i] + (tick - ticks[i]) * tempos[i] / (1e6 * midi.ticks_per_beat)

    return seconds


def _timed(track: mido.MidiTrack) -> Iterator[tuple[int, mido.Message]]:
    """(absolute tick, message) of each message of ``track``."""
    tick = 0
    for msg in track:
        tick += msg.time
        yield tick, msg


def _notes(midi: mido.MidiFile, *, drums: bool) -> list[tuple[int, int, int, int]]:
    """(pitch, onset tick, offset tick, velocity) of every note in ``midi``, drums (channel index 9) only if
    ``drums``.

    Ticks count beats whatever the tempo (``ticks_per_beat`` a quarter note), so no tempo map is needed. Pairs
    note-ons with note-offs (or velocity-0 note-ons) as ``pretty_midi`` does, which drops zero-length notes;
    these are kept here.
    """
    notes = []
    for track in midi.tracks:
        open_onsets = {}  # (channel, pitch) -> (onset tick, velocity) of its sounding notes, ascending
        tick = 0
        for tick, msg in _timed(track):
            if msg.type not in ("note_on", "note_off") or (msg.channel == 9 and not drums):
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                open_onsets.setdefault(key, []).append((tick, msg.velocity))
                continue
            onsets = open_onsets.pop(key, [])
            ending = [o for o in onsets if o[0] < tick] or onsets  # a note-on on this tick after older ones goes on
            notes += [(msg.note, onset, tick, velocity) for onset, velocity in ending]
            if len(ending) < len(onsets):
                open_onsets[key] = onsets[len(ending):]
        notes += [(pitch, onset, tick, velocity) for (_, pitch), onsets in open_onsets.items()
                  for onset, velocity in onsets]
    return notes


def _roll(notes: list[tuple[int, int, int, int]], ticks_per_beat: int, steps_per_beat: int) -> Piece:
    """The piece of ``notes`` (pitch, onset tick, offset tick, velocity) on the grid of ``steps_per_beat``
    steps a beat."""
    if not notes:
        return []
    pitches, onsets, offsets, _ = np.array(notes, dtype=np.int64).T  # (N,) each
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


def write_midi_notes(notes: Sequence[Note], path: str | os.PathLike, *, tempo: float = 120.0, program: int = 0,
                     overwrite: bool = False) -> Path:
    """Write ``notes`` (times in seconds) to ``path`` atomically as a standard MIDI file (type 1, one track of
    ``program``) at ``tempo`` quarter notes a minute, with about 1 ms ticks (exactly 1 ms when 60,000 / tempo
    is a whole number, as at 120: 500 ticks a beat), so times on a grid of milliseconds come back exactly.
    Returns ``path``. ValueError on a bad setting; FileExistsError (``PATH: already exists; ...``) when
    ``path`` exists and not ``overwrite``; nothing is written then."""
    if not 0 < tempo < 1e6 or not 0 <= program <= 127:
        raise ValueError(f"bad setting: tempo={tempo}, program={program}")
    ticks_per_beat = min(max(1, round(60_000 / tempo)), 0x7FFF)  # a tick a millisecond, within MIDI's limits
    pm = pretty_midi.PrettyMIDI(resolution=ticks_per_beat, initial_tempo=tempo)
    instrument = pretty_midi.Instrument(program=program)
    instrument.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start, n.end) for n in notes]
    pm.instruments.append(instrument)
    data = io.BytesIO()
    pm.write(data)
    return write_atomic(path, data.getvalue(), overwrite=overwrite)


# ---- piano rolls <-> notes --------------------------------------------------------------------------------
def piece_to_notes(piece: Piece, steps_per_beat: int, *, bpm: float = 100.0, velocity: int = 80) -> list[Note]:
    """The notes of a piano-roll ``piece`` on a grid of ``steps_per_beat`` steps a beat, played at ``bpm``
    beats a minute at ``velocity``, sorted by start then pitch. A roll cannot tell a held note from the same
    note struck again, so each run of consecutive steps holding a pitch becomes one note (as ``write_midi``
    writes it). ValueError on a bad setting."""
    if steps_per_beat < 1 or bpm <= 0:
        raise ValueError(f"bad setting: steps_per_beat={steps_per_beat}, bpm={bpm}")
    seconds = 60.0 / (bpm * steps_per_beat)  # one step
    notes = [Note(pitch, start * seconds, end * seconds, velocity) for pitch, start, end in _runs(piece)]
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def notes_to_piece(notes: Sequence[Note], seconds_per_step: float) -> Piece:
    """The piano roll of ``notes`` on a grid of ``seconds_per_step``: a note sounds from the step of its
    start to the step of its end (exclusive, both the nearest), at least one step. ValueError for a step of
    0 seconds or less."""
    if not seconds_per_step > 0:
        raise ValueError(f"seconds_per_step must be positive, got {seconds_per_step}")
    spans = [(n.pitch, round(n.start / seconds_per_step), round(n.end / seconds_per_step)) for n in notes]
    piece: Piece = [[] for _ in range(max((max(end, start + 1) for _, start, end in spans), default=0))]
    for pitch, start, end in spans:
        for step in piece[start : max(end, start + 1)]:
            step.append(pitch)
    return [sorted(set(step)) for step in piece]


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
    (``FOLDER: no usable music files (N skipped)``)."""
    return read_folder(folder_or_glob, lambda path: read_midi(path, steps_per_beat=steps_per_beat, drums=drums),
                       warn=warn)


def read_midi_notes_folder(folder_or_glob: str | os.PathLike, *, drums: bool = False,
                           warn: Callable[[str], object] = log.warning) -> list[tuple[str, list[Note]]]:
    """(path, notes) of every MIDI file below a folder or matching a glob, read with ``read_midi_notes``;
    files are found, skipped and refused as by ``read_midi_folder``."""
    return read_folder(folder_or_glob, lambda path: read_midi_notes(path, drums=drums), warn=warn)


def read_folder(folder_or_glob: str | os.PathLike, read: Callable[[Path], list], *,
                suffixes: Sequence[str] = SUFFIXES,
                warn: Callable[[str], object] = log.warning) -> list[tuple[str, list]]:
    """(path, what ``read`` makes of it) of each file with one of ``suffixes`` below a folder (recursively) or
    matching a glob, sorted by path, that reads to something. A file ``read`` refuses (ValueError, OSError) or
    reads to nothing is skipped with one ``warn`` naming it and why. ValueError when no such file is found,
    or none is usable."""
    paths = _music_paths(folder_or_glob, suffixes)
    if not paths:
        raise ValueError(f"{folder_or_glob}: no music files ({', '.join(suffixes)})")
    pieces, skipped = [], 0
    for path in paths:
        try:
            piece = read(path)
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
        raise ValueError(f"{folder_or_glob}: no usable music files ({skipped} skipped)")
    return pieces


def _music_paths(folder_or_glob: str | os.PathLike, suffixes: Sequence[str]) -> list[Path]:
    """The files with one of ``suffixes`` below a folder, or matching a glob, sorted."""
    folder = Path(folder_or_glob)
    found = folder.rglob("*") if folder.is_dir() else map(Path, glob.glob(str(folder_or_glob), recursive=True))
    return sorted(p for p in found if p.suffix.lower() in suffixes and p.is_file())
