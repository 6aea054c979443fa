"""Where the music task's pieces come from, split into ``train``, ``valid`` and ``test``.

- No ``--data``: the Bach chorales of music21's corpus on quarter notes (``scores.bach_chorales``, parsed
  once and cached).
- A JSON piano roll (``.json``, ``.json.gz``, the JSB Chorales format) with its own splits.
- A folder or glob of MIDI files (``.mid``, ``.midi``) and scores music21 reads (MusicXML, ABC, Humdrum),
  split by ``data.valid_fraction`` and ``data.test_fraction`` (whole pieces, seeded). A file that cannot be
  read is skipped with a warning naming it; none usable is an error.

``read_pieces`` gives piano-roll pieces on the grid of ``data.steps_per_beat``; ``read_note_pieces`` gives
notes in seconds for the event representation (MIDI files keep their performed timing and velocities, a
roll or a score is played at ``data.bpm``).
"""

from __future__ import annotations

import random
from pathlib import Path

from rnnkit.tasks.music.config import MusicRun
from rnnkit.tasks.music.events import Note
from rnnkit.tasks.music.midi import SUFFIXES, piece_to_notes, read_folder, read_midi, read_midi_notes
from rnnkit.tasks.music.preprocess import Piece, read_pianoroll_json

DEFAULT_STEPS_PER_BEAT = 1  # the default chorales are read on quarter notes, the grid of the JSB benchmark
SCORE_SUFFIXES = (".xml", ".musicxml", ".mxl", ".abc", ".krn")  # rnnkit.tasks.music.scores reads these
NOTES_GRID = 12  # steps a beat a score is read on for the event representation: triplets and sixteenths exact


def is_roll_file(data: str | None) -> bool:
    return data is not None and Path(data).name.lower().endswith((".json", ".json.gz"))


def grid(data: str | None, cfg: MusicRun) -> int:
    """The steps a beat the pieces of ``data`` are on: the default chorales' quarter notes, else the config's."""
    return DEFAULT_STEPS_PER_BEAT if data is None else cfg.data.steps_per_beat


def read_pieces(data: str | None, cfg: MusicRun) -> dict[str, list[Piece]]:
    """The ``train``, ``valid`` and ``test`` piano-roll pieces of ``data`` (the module's list of sources)."""
    if data is None:
        from rnnkit.tasks.music.scores import bach_chorales

        return bach_chorales(steps_per_beat=DEFAULT_STEPS_PER_BEAT)
    if is_roll_file(data):
        return read_pianoroll_json(data)
    spb, drums = cfg.data.steps_per_beat, cfg.data.drums

    def read(path: Path) -> Piece:
        if path.suffix.lower() in SUFFIXES:
            return read_midi(path, steps_per_beat=spb, drums=drums)
        from rnnkit.tasks.music.scores import read_score

        return read_score(path, steps_per_beat=spb)

    return split_files(data, [p for _, p in read_folder(data, read, suffixes=SUFFIXES + SCORE_SUFFIXES)], cfg)


def read_note_pieces(data: str | None, cfg: MusicRun) -> dict[str, list[list[Note]]]:
    """The ``train``, ``valid`` and ``test`` pieces of ``data`` as notes in seconds (the module's list)."""
    bpm = cfg.data.bpm
    if data is None or is_roll_file(data):
        return {split: [piece_to_notes(p, grid(data, cfg), bpm=bpm) for p in pieces]
                for split, pieces in read_pieces(data, cfg).items()}
    drums = cfg.data.drums

    def read(path: Path) -> list[Note]:
        if path.suffix.lower() in SUFFIXES:
            return read_midi_notes(path, drums=drums)
        from rnnkit.tasks.music.scores import read_score

        return piece_to_notes(read_score(path, steps_per_beat=NOTES_GRID), NOTES_GRID, bpm=bpm)

    return split_files(data, [n for _, n in read_folder(data, read, suffixes=SUFFIXES + SCORE_SUFFIXES)], cfg)


def split_files(data: str, pieces: list, cfg: MusicRun) -> dict[str, list]:
    """The pieces of the files of ``data`` split by the configured fractions (whole pieces, seeded)."""
    pieces = list(pieces)
    random.Random(cfg.data.seed).shuffle(pieces)
    n_valid = max(1, round(len(pieces) * cfg.data.valid_fraction))
    n_test = max(1, round(len(pieces) * cfg.data.test_fraction))
    if len(pieces) < n_valid + n_test + 1:
        raise ValueError(f"{data}: {len(pieces)} usable music files are too few to split into training, "
                         "validation and test pieces; give at least 3")
    return {"valid": pieces[:n_valid], "test": pieces[n_valid : n_valid + n_test],
            "train": pieces[n_valid + n_test :]}
