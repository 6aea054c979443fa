"""Scores to piano-roll pieces through ``music21``: MusicXML, ABC and Humdrum files, and the Bach chorales that
ship with music21's corpus.

A score is read as written: every part merged into one roll, tied notes joined, rests, grace notes and
unpitched (percussion) notes left out, repeats not expanded, nothing transposed. Offsets and durations come
in quarter lengths, so a note on a beat lands on a multiple of ``steps_per_beat`` (as ``read_midi``'s notes do).

``bach_chorales`` parses the corpus chorales once and caches them as a gzipped piano-roll JSON file, the
format ``read_pianoroll_json`` reads, so a later call costs a fraction of a second.

>>> read_score(music21.corpus.getWork("bach/bwv269"), steps_per_beat=1)[:3]  # a MusicXML (.mxl) file
[[43, 59, 62, 67], [55, 59, 62, 67], [52, 60, 64, 67]]
>>> splits = bach_chorales(cache_dir="cache")  # {"train": [...], "valid": [...], "test": [...]}, quarter notes
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import random
import time
import zipfile
from fractions import Fraction
from pathlib import Path

import music21
import numpy as np

from rnnkit.files import write_atomic
from rnnkit.tasks.music.preprocess import SPLITS, Piece, read_pianoroll_json
from rnnkit.tasks.music.sources import SCORE_SUFFIXES

FORMATS = {".xml": "musicxml", ".musicxml": "musicxml", ".mxl": "musicxml", ".abc": "abc", ".krn": "humdrum"}
MAX_BYTES = 20_000_000  # larger files (or .mxl archives unpacking to more) are refused before parsing
SPLIT_SEED = 0  # the chorales' shuffle before the 80/10/10 cut; changing it changes every cached split
log = logging.getLogger("rnnkit")


# ---- reading one score ------------------------------------------------------------------------------------
def read_score(path: str | os.PathLike, *, steps_per_beat: int = 4, max_notes: int = 200_000,
               max_steps: int = 100_000) -> Piece:
    """The piece of the score file ``path`` (MusicXML ``.xml``/``.musicxml``/``.mxl``, ABC ``.abc``, Humdrum
    ``.krn``; see ``SCORE_SUFFIXES``) on a grid of ``steps_per_beat`` steps a quarter-note beat; step 0 is the
    score's offset 0 (the start of a pickup measure).

    Every part is merged; each pitch of a note or chord sounds from the step of its onset to the step of its
    offset (exclusive, both rounded to the nearest step, halves up), at least one step; tied notes count as
    one; rests, grace notes, unpitched notes and pitches beyond 0..127 are dropped. The piece ends with the
    last note's offset.
    ValueError naming the file, on one line, when its suffix is not a score's, it (or an ``.mxl`` archive's
    contents) is larger than ``MAX_BYTES``, music21 cannot parse it, it holds several works (an ABC tune book),
    more than ``max_notes`` notes, or a note ending beyond ``max_steps`` steps; all are checked before the
    roll is built. OSError if unreadable.
    """
    return _read_parts(path, steps_per_beat=steps_per_beat, max_notes=max_notes, max_steps=max_steps)[1]


def _read_parts(path: str | os.PathLike, *, steps_per_beat: int, max_notes: int = 200_000,
                max_steps: int = 100_000) -> tuple[int, Piece]:
    """``read_score``'s piece, after the number of parts in the score (0 for a score without parts)."""
    path = Path(path)
    if steps_per_beat < 1:
        raise ValueError(f"steps_per_beat must be at least 1, got {steps_per_beat}")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: not a score file (expected one of {', '.join(SCORE_SUFFIXES)})")
    _check_bytes(path, suffix)
    score = _parse(path, FORMATS[suffix])
    notes = _notes(path, score)
    if len(notes) > max_notes:
        raise ValueError(f"{path}: {len(notes)} notes, more than max_notes={max_notes}: refused")
    parts = len(score.getElementsByClass(music21.stream.Part))  # a bare Part or Stream has no .parts
    return parts, _roll(path, notes, steps_per_beat=steps_per_beat, max_steps=max_steps)


def _check_bytes(path: Path, suffix: str) -> None:
    """ValueError if the file, or what an ``.mxl`` (zip) archive unpacks to, is larger than ``MAX_BYTES``."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{path}: {size} bytes, more than {MAX_BYTES}: refused")
    if suffix == ".mxl":
        try:
            with zipfile.ZipFile(path) as archive:
                size = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, EOFError) as err:
            raise ValueError(f"{path}: not a readable score: not a zip archive (.mxl): {_one_line(err)}") from None
        if size > MAX_BYTES:  # a zip bomb: music21 would unpack it whole in memory
            raise ValueError(f"{path}: unpacks to {size} bytes, more than {MAX_BYTES}: refused")


def _parse(path: Path, fmt: str) -> music21.stream.Stream:
    """The one score (or part) in the file; ``forceSource`` so music21 neither reads nor writes its pickle cache."""
    try:
        parsed = music21.converter.parse(path, format=fmt, forceSource=True)
    except Exception as err:  # music21's parsers fail in many ways (their own exceptions, IndexError, ...)
        raise ValueError(f"{path}: not a readable score: {_one_line(err)}") from None
    if isinstance(parsed, music21.stream.Opus):
        works = list(parsed.scores)
        if len(works) != 1:
            raise ValueError(f"{path}: {len(works)} works in one file (an opus); give one work a file")
        parsed = works[0]
    return parsed


def _one_line(err: BaseException) -> str:
    detail = " ".join(str(err).split())  # one line; some exceptions have no message at all
    return f"{type(err).__name__}: {detail}" if detail else type(err).__name__


def _notes(path: Path, score: music21.stream.Stream) -> list[tuple[int, Fraction, Fraction]]:
    """(pitch, onset, offset) in quarter lengths of every sounding pitch in ``score``, ties joined."""
    try:
        flat = score.stripTies().flatten()  # stripTies part by part, so a tie never jumps to another voice
    except Exception as err:  # a malformed score can still trip music21 here
        raise ValueError(f"{path}: not a readable score: {_one_line(err)}") from None
    notes = []
    for element in flat.notes:  # notes and chords; rests are not among them
        if element.duration.isGrace:
            continue
        onset = Fraction(element.offset)
        offset = onset + Fraction(element.duration.quarterLength)
        notes += [(p.midi, onset, offset) for p in getattr(element, "pitches", ()) if 0 <= p.midi <= 127]
    return notes


def _roll(path: Path, notes: list[tuple[int, Fraction, Fraction]], *, steps_per_beat: int, max_steps: int) -> Piece:
    """The piece of ``notes`` on the grid; ValueError (naming ``path``) if one ends beyond ``max_steps``."""
    if not notes:
        return []
    starts = [_step(onset, steps_per_beat) for _, onset, _ in notes]  # exact ints: offsets may be absurd
    ends = [max(_step(offset, steps_per_beat), start + 1) for (_, _, offset), start in zip(notes, starts)]
    if max(ends) > max_steps:
        raise ValueError(f"{path}: a note ending at step {max(ends)}, beyond max_steps={max_steps}: refused")
    on = np.zeros((max(ends), 128), dtype=bool)  # (T, 128)
    for (pitch, _, _), start, end in zip(notes, starts, ends):
        on[start:end, pitch] = True  # overlapping notes of one pitch (two voices in unison) simply union
    return [np.flatnonzero(row).tolist() for row in on]


def _step(quarters: Fraction, steps_per_beat: int) -> int:
    """The nearest step of an offset in quarter lengths (halves round up), exact for triplets too."""
    return math.floor(quarters * steps_per_beat + Fraction(1, 2))


# ---- the Bach chorales ------------------------------------------------------------------------------------
def bach_chorales(*, steps_per_beat: int = 1, cache_dir: str | os.PathLike | None = None) -> dict[str, list[Piece]]:
    """The four-part Bach chorales of music21's corpus as ``{"train": [...], "valid": [...], "test": [...]}``
    pieces (about 80/10/10), each read with ``read_score`` at ``steps_per_beat``, in its written key.

    The chorales are those of music21's Riemenschneider list, each file once (the list names some files twice).
    Only scores of exactly four parts are kept, as DeepBach's data set does (Hadjeres et al. 2017): a few
    carry trumpets, timpani or violins besides the voices. A chorale whose roll equals one already taken is
    dropped, so no piece is in two splits. The split is by piece, after a shuffle seeded with ``SPLIT_SEED``:
    the same for every call and machine.

    The first call parses the corpus (about 30 s; progress on the ``rnnkit`` logger) and writes the splits to
    ``bach-chorales-satb-music21-VERSION-spbN.json.gz`` under ``cache_dir`` (default ``cache_root()``)
    atomically; later calls read that file with ``read_pianoroll_json``. A chorale music21 cannot parse is
    skipped with a warning; ValueError if fewer than 3 are usable.
    """
    if steps_per_beat < 1:
        raise ValueError(f"steps_per_beat must be at least 1, got {steps_per_beat}")
    path = Path(cache_dir) if cache_dir is not None else cache_root()
    path = path / f"bach-chorales-satb-music21-{music21.__version__}-spb{steps_per_beat}.json.gz"
    if path.exists():
        return read_pianoroll_json(path)
    started = time.perf_counter()
    splits = split_pieces(_read_chorales(_chorale_paths(), steps_per_beat=steps_per_beat), seed=SPLIT_SEED)
    text = json.dumps(splits, separators=(",", ":"))
    write_atomic(path, gzip.compress(text.encode(), mtime=0))  # mtime 0: the same corpus gives the same bytes
    log.info("bach chorales: %s pieces (train/valid/test) in %.1f s, cached in %s",
             "/".join(str(len(splits[s])) for s in SPLITS), time.perf_counter() - started, path)
    return read_pianoroll_json(path)  # one reader for both paths: the first call returns what later calls will


def cache_root() -> Path:
    """Where rnnkit caches derived data, by the XDG convention: ``$XDG_CACHE_HOME/rnnkit``, else
    ``~/.cache/rnnkit``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "rnnkit" if xdg else Path.home() / ".cache" / "rnnkit"


def split_pieces(pieces: list[Piece], *, seed: int = SPLIT_SEED) -> dict[str, list[Piece]]:
    """``pieces`` shuffled with ``random.Random(seed)`` and cut into train/valid/test of about 80/10/10, valid and
    test at least one piece each. ValueError for fewer than 3 pieces."""
    if len(pieces) < 3:
        raise ValueError(f"need at least 3 pieces to split into {'/'.join(SPLITS)}, got {len(pieces)}")
    order = list(range(len(pieces)))
    random.Random(seed).shuffle(order)
    held_out = max(1, round(len(pieces) / 10))  # each of valid and test
    cut = len(pieces) - 2 * held_out
    parts = {"train": order[:cut], "valid": order[cut:cut + held_out], "test": order[cut + held_out:]}
    return {split: [pieces[i] for i in parts[split]] for split in SPLITS}


def _chorale_paths() -> list[Path]:
    """The corpus file of each chorale in music21's Riemenschneider list, in list order, each file once."""
    names = music21.corpus.chorales.Iterator(returnType="filename")  # "bach/bwv269", ...; some twice
    return list(dict.fromkeys(_corpus_file(name) for name in names))


def _corpus_file(name: str) -> Path:
    """The score file of a corpus name: ``getWork`` matches names by prefix ("bach/bwv244.3" also finds
    bwv244.32), so take the exact stem, MusicXML before Humdrum."""
    found = music21.corpus.getWork(name)
    found = found if isinstance(found, list) else [found]
    stem = name.rsplit("/", 1)[-1]
    exact = [p for p in found if p.stem == stem and p.suffix.lower() in FORMATS] or found
    return min(exact, key=lambda p: (FORMATS.get(p.suffix.lower()) != "musicxml", p.name))


def _read_chorales(paths: list[Path], *, steps_per_beat: int) -> list[Piece]:
    """The usable pieces of ``paths`` in order: four-part chorales with notes, repeated rolls dropped."""
    log.info("bach chorales: parsing %d corpus files with music21, once", len(paths))
    pieces, seen = [], set()
    for i, path in enumerate(paths, 1):
        if i % 50 == 0:
            log.info("bach chorales: %d/%d parsed", i, len(paths))
        try:
            parts, piece = _read_parts(path, steps_per_beat=steps_per_beat)
        except (ValueError, OSError) as err:
            log.warning("skipping %s", err)
            continue
        key = tuple(map(tuple, piece))
        why = f"{parts} parts" if parts != 4 else "no notes" if not piece else "a repeat" if key in seen else ""
        if why:  # instruments or a fifth voice; nothing to learn; a harmonization already taken
            log.info("bach chorales: skipping %s: %s", path.name, why)
            continue
        seen.add(key)
        pieces.append(piece)
    if len(pieces) < 3:
        raise ValueError(f"music21 corpus: only {len(pieces)} usable Bach chorales, need at least 3")
    return pieces
