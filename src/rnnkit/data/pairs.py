"""Parallel text and dialogue as (source, target) text pairs, for translation and chat (the ``seq2seq`` task).

``read_pairs`` reads four formats; every problem is a ``PairsDataError`` whose one-line message starts with the
file and, where there is one, the line (``"PATH:LINE: problem"``):

>>> pairs = read_pairs("data/translation/tatoeba-eng-fra-5k.txt")      # English<TAB>French<TAB>attribution
>>> pairs[0]
Pair(source='Go.', target='Va !', where='data/translation/tatoeba-eng-fra-5k.txt:1')
>>> {name: len(p) for name, p in pair_splits("data/translation/multi30k", src="de", tgt="en").items()}
{'train': 29000, 'val': 1014, 'test': 1000}
>>> chat = read_pairs("data/chat/cornell-movie-lines-m0-m58.txt", context_turns=2)   # (context, reply)
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.labelled import _listing

log = logging.getLogger(__name__)

FORMATS = ("auto", "tsv", "aligned", "cornell", "dialogue")
SPLITS = {"train": ("train",), "val": ("val", "valid", "dev"), "test": ("test",)}  # split -> names of its files
CORNELL_SEP = "+++$+++"
CORNELL_FIELDS = ("LINEID", "USER", "MOVIE", "NAME", "TEXT")
CORNELL_ID = re.compile(r"L(\d+)")
SNIFF_BYTES = 1 << 16  # format detection looks at this much of the file's start


@dataclass(frozen=True)
class Pair:
    """One (source, target) pair, each side stripped of surrounding whitespace and not empty. For dialogue the
    source is the context (up to ``context_turns`` earlier turns joined by ``"\\n"``) and the target the reply.
    ``where`` is ``"PATH:LINE"`` (1-based) of the pair's first line: the line of a TSV pair, the line number in
    the source file of aligned files, the first context turn of a dialogue pair."""

    source: str
    target: str
    where: str


class PairsDataError(ValueError):
    """A file that cannot be read as pairs. The one-line message starts with the file and, where there is one,
    the line: ``"PATH:LINE: problem"`` or ``"PATH: problem"``."""


class _NotUtf8(PairsDataError):
    """A line that is not UTF-8; the Cornell reader then reads the whole file as Latin-1."""


def read_pairs(
    path: str | Path,
    *,
    src: str | None = None,
    tgt: str | None = None,
    fmt: str = "auto",
    split: str = "train",
    context_turns: int = 1,
    skip_empty: bool = True,
) -> list[Pair]:
    """The pairs of ``path`` in file order (dialogue: in conversation order), in one of these formats:

    - ``"tsv"`` (Tatoeba): ``source<TAB>target[<TAB>more columns, ignored]``, one pair a line; ``src`` and
      ``tgt`` are column indices as strings, ``"0"`` and ``"1"`` by default (``src="1", tgt="0"`` swaps them).
    - ``"aligned"``: two files with one sentence a line, line N of one the translation of line N of the other.
      ``path`` is a folder holding ``{split}.{src}`` and ``{split}.{tgt}`` (``split`` is ``"train"``, ``"val"``
      or ``"test"``; the files of ``"val"`` may also be named ``valid.*`` or ``dev.*``), or a prefix with
      ``{path}.{src}`` and ``{path}.{tgt}`` beside it. ``src`` and ``tgt`` (the suffixes) are required.
    - ``"cornell"``: Cornell Movie-Dialogs ``movie_lines.txt``, ``LINEID +++$+++ USER +++$+++ MOVIE +++$+++ NAME
      +++$+++ TEXT``. Lines with consecutive ids (L1044, L1045) in one movie form a conversation, in id order
      whatever the file order; pairs come from ``dialogue_pairs``. Read as Latin-1 if it is not UTF-8.
    - ``"dialogue"``: a transcript, one utterance a line, conversations separated by blank lines.

    ``fmt="auto"`` picks: a folder, or a path that does not exist but has files ``{path}.*`` beside it:
    aligned. A file whose first non-blank line holds ``+++$+++``: cornell; else one with a tab in its first
    64 KiB: tsv; else, with no tab there, one named ``*.dialogue``, or ``*.txt`` with a blank line between two
    non-blank lines: dialogue. Anything else is an error asking for ``fmt``.

    Files are UTF-8 (a BOM is dropped; ``\\r\\n`` line ends work), read a line at a time. Blank lines at the end
    of a file are not pairs, nor counted as lines. A pair with an empty side is dropped, with one logged warning
    giving the count and the first ``PATH:LINE``; with ``skip_empty=False`` it raises. A missing, empty or
    non-UTF-8 file (the message gives the byte offset), a short TSV line, aligned files of different lengths,
    a folder without the split, or no pairs at all raise ``PairsDataError``; bad arguments raise ``ValueError``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt={fmt!r} is not a known format; expected one of {', '.join(FORMATS)}")
    if context_turns < 1:
        raise ValueError(f"context_turns must be at least 1, got {context_turns}")
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "aligned":
        pairs = _read_aligned(*_aligned_files(path, src, tgt, split))
    else:
        _check_file(path)
        if fmt == "tsv":
            pairs = _read_tsv(path, _column(src, "src", 0), _column(tgt, "tgt", 1))
        elif src is not None or tgt is not None:
            raise ValueError(f"src and tgt name TSV columns or aligned files; a {fmt} file takes neither")
        else:
            read = _read_cornell if fmt == "cornell" else _read_dialogue
            pairs = _dialogue_rows(read(path), context_turns)
    pairs = _drop_empty(pairs, skip_empty=skip_empty)
    if not pairs:
        raise PairsDataError(f"{path}: no pairs")
    return pairs


def pair_splits(
    path: str | Path, *, src: str | None = None, tgt: str | None = None, fmt: str = "auto", context_turns: int = 1
) -> dict[str, list[Pair]]:
    """``{"train": ..., "val": ..., "test": ...}`` for the splits of aligned files present in the folder
    ``path`` (each read by ``read_pairs``; ``valid.*`` and ``dev.*`` files give ``"val"``); for a file or a
    prefix, ``{"train": read_pairs(path, ...)}``. A folder with none of the splits raises ``PairsDataError``."""
    path = Path(path)
    if not path.is_dir() or fmt not in ("auto", "aligned"):
        return {"train": read_pairs(path, src=src, tgt=tgt, fmt=fmt, context_turns=context_turns)}
    _check_sides(path, src, tgt)
    present = [s for s, names in SPLITS.items() if any(_has_side(path / name, src, tgt) for name in names)]
    if not present:
        raise PairsDataError(f"{path}: no train, val or test files .{src} and .{tgt} (files: {_folder_files(path)})")
    return {s: read_pairs(path, src=src, tgt=tgt, fmt="aligned", split=s) for s in present}


def dialogue_pairs(turns: list[list[str]], context_turns: int = 1, sep: str = "\n") -> list[tuple[str, str]]:
    """(context, reply) for each turn ``i >= 1`` of each conversation in ``turns`` (a list of conversations, each
    a list of utterances in order): the reply is turn ``i``, the context the ``context_turns`` turns before it
    (fewer at the start of a conversation) joined by ``sep``. A conversation of n turns gives n - 1 pairs.

    >>> dialogue_pairs([["Hi.", "Hello.", "How are you?"], ["Bye."]], context_turns=2)
    [('Hi.', 'Hello.'), ('Hi.\\nHello.', 'How are you?')]
    """
    if context_turns < 1:
        raise ValueError(f"context_turns must be at least 1, got {context_turns}")
    return [
        (sep.join(conversation[max(0, i - context_turns) : i]), conversation[i])
        for conversation in turns
        for i in range(1, len(conversation))
    ]


# ---- reading lines ----------------------------------------------------------------------------------------
def _check_file(path: Path) -> None:
    if not path.exists():
        raise PairsDataError(f"{path}: no such file")
    if not path.is_file():
        raise PairsDataError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise PairsDataError(f"{path}: the file is empty")


def _lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """(line number from 1, text) for each line of ``path``, one at a time, without the line end and the BOM.
    Only ``"\\n"`` ends a line (str.splitlines also splits at \\f, \\x1c, \\u2028...), so numbers match grep -n."""
    offset = 0
    with path.open("rb") as file:
        for number, raw in enumerate(file, 1):  # a UTF-8 multi-byte character never holds the byte "\n"
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as err:  # offsets count from byte 0 of the file, BOM included
                raise _NotUtf8(f"{path}:{number}: not UTF-8 text (byte offset {offset + err.start})") from None
            if (nul := raw.find(b"\0")) >= 0:
                raise PairsDataError(f"{path}:{number}: a binary file, not text (NUL byte at offset {offset + nul})")
            offset += len(raw)
            yield number, (line.removeprefix("\ufeff") if number == 1 else line).removesuffix("\n").removesuffix("\r")


def detect_format(path: str | Path) -> str:
    """The format ``read_pairs`` reads ``path`` as with ``fmt="auto"``: "aligned", "cornell", "tsv" or
    "dialogue"; a one-line PairsDataError when none fits."""
    path = Path(path)
    if path.is_dir() or (not path.exists() and _prefixed(path)):
        return "aligned"
    if not path.exists():
        raise PairsDataError(f"{path}: no such file or folder (nor aligned files {path}.SRC and {path}.TGT)")
    _check_file(path)
    with path.open("rb") as file:
        head = file.read(SNIFF_BYTES).decode("utf-8", errors="replace").removeprefix("\ufeff")
    first = next((line for line in head.split("\n") if line.strip()), "")
    if CORNELL_SEP in first:
        return "cornell"
    if "\t" in head:
        return "tsv"
    blocks = re.search(r"\n\s*\n", head.strip()) is not None  # a blank line between two non-blank ones
    if path.suffix.lower() == ".dialogue" or (path.suffix.lower() == ".txt" and blocks):
        return "dialogue"
    raise PairsDataError(
        f"{path}: cannot tell the format (no tab, no {CORNELL_SEP}, not a .dialogue or blank-line-separated .txt "
        f"file); pass fmt='tsv', 'cornell' or 'dialogue'"
    )


# ---- TSV --------------------------------------------------------------------------------------------------
def _column(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    if not str(value).isdigit():
        raise ValueError(f"{name}={value!r}: a TSV file takes column indices such as '0' and '1' for src and tgt")
    return int(value)


def _read_tsv(path: Path, source_at: int, target_at: int) -> list[Pair]:
    if source_at == target_at:
        raise ValueError(f"src and tgt are the same column ({source_at})")
    need = max(source_at, target_at) + 1
    pairs = []
    for number, line in _lines(path):
        where = f"{path}:{number}"
        cells = line.split("\t")
        if not line.strip():
            pairs.append(Pair("", "", where))
        elif len(cells) < need:
            want = "a source and a target separated by a tab" if need == 2 else f"{need} tab-separated columns"
            found = "1 column" if len(cells) == 1 else f"{len(cells)} columns"
            raise PairsDataError(f"{where}: expected {want}, found {found}")
        else:
            pairs.append(Pair(cells[source_at].strip(), cells[target_at].strip(), where))
    while pairs and not pairs[-1].source and not pairs[-1].target:  # blank lines at the end
        pairs.pop()
    return pairs


# ---- two line-aligned files -------------------------------------------------------------------------------
def _prefixed(path: Path) -> list[str]:
    """The names of the files ``{path}.*`` beside ``path``."""
    if not path.parent.is_dir():
        return []
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + ".") and p.is_file())


def _folder_files(folder: Path) -> str:
    return _listing(sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")))


def _has_side(prefix: Path, src: str, tgt: str) -> bool:
    return Path(f"{prefix}.{src}").exists() or Path(f"{prefix}.{tgt}").exists()


def _check_sides(path: Path, src: str | None, tgt: str | None) -> None:
    if not src or not tgt:
        found = _folder_files(path) if path.is_dir() else _listing(_prefixed(path))
        raise PairsDataError(f"{path}: aligned files need src and tgt, their suffixes (files: {found or 'none'})")
    if src == tgt:
        raise ValueError(f"src and tgt are the same suffix ({src!r})")


def _aligned_files(path: Path, src: str | None, tgt: str | None, split: str) -> tuple[Path, Path]:
    """The source and target files: ``{path}/{split}.{src}`` and ``.{tgt}`` for a folder, else ``{path}.{src}``
    and ``{path}.{tgt}``; both must be non-empty files."""
    _check_sides(path, src, tgt)
    prefix = path
    if path.is_dir():
        names = next((names for names in SPLITS.values() if split in names), None)
        if names is None:
            raise ValueError(f"split={split!r}; expected train, val (or valid, dev) or test")
        found = [name for name in names if _has_side(path / name, src, tgt)]
        if not found:
            raise PairsDataError(
                f"{path}: no {split} split, {split}.{src} and {split}.{tgt} (files: {_folder_files(path)})"
            )
        if len(found) > 1:
            raise PairsDataError(f"{path}: the {split} split is there twice, as {' and '.join(found)}; keep one")
        prefix = path / found[0]
    files = Path(f"{prefix}.{src}"), Path(f"{prefix}.{tgt}")
    for file in files:
        _check_file(file)
    return files


def _read_aligned(source: Path, target: Path) -> list[Pair]:
    """Line N of ``source`` with line N of ``target``; the files must have equally many lines, blank lines at
    the end left out."""
    pairs, ends = [], [0, 0]  # the last non-blank line of each file
    lines = itertools.zip_longest(_lines(source), _lines(target), fillvalue=(0, ""))
    for number, ((_, s), (_, t)) in enumerate(lines, 1):
        for side, text in enumerate((s, t)):
            ends[side] = number if text.strip() else ends[side]
        pairs.append(Pair(s.strip(), t.strip(), f"{source}:{number}"))
    if ends[0] != ends[1]:
        raise PairsDataError(f"{source} has {ends[0]} lines but {target} has {ends[1]}; aligned files need one a pair")
    return pairs[: ends[0]]


# ---- dialogue ---------------------------------------------------------------------------------------------
Conversation = list[tuple[str, str]]  # (utterance, "PATH:LINE") for each turn, in order


def _read_cornell(path: Path) -> list[Conversation]:
    try:
        records = _cornell_records(path, "utf-8")
    except _NotUtf8 as err:
        log.warning("%s; reading the file as Latin-1", err)
        records = _cornell_records(path, "latin-1")
    conversations: list[Conversation] = []
    previous = None  # (id, movie) of the line before
    for number, movie, text, where in sorted(records, key=lambda r: r[0]):
        if previous is not None and number == previous[0]:
            raise PairsDataError(f"{where}: line id L{number} appears twice")
        if (number - 1, movie) != previous:  # a gap in the ids, or another movie: a new conversation
            conversations.append([])
        conversations[-1].append((text, where))
        previous = number, movie
    return conversations


def _cornell_records(path: Path, encoding: str) -> list[tuple[int, str, str, str]]:
    """(line id number, movie, text, "PATH:LINE") of each non-blank line, in file order."""
    records = []
    for number, line in _lines(path, encoding):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fields = [field.strip() for field in line.split(CORNELL_SEP, len(CORNELL_FIELDS) - 1)]
        if len(fields) < len(CORNELL_FIELDS):
            raise PairsDataError(
                f"{where}: expected {len(CORNELL_FIELDS)} fields separated by {CORNELL_SEP} "
                f"({', '.join(CORNELL_FIELDS)}), found {len(fields)}"
            )
        if not (match := CORNELL_ID.fullmatch(fields[0])):
            raise PairsDataError(f"{where}: line id {fields[0]!r} is not L followed by digits")
        records.append((int(match[1]), fields[2], fields[4], where))
    return records


def _read_dialogue(path: Path) -> list[Conversation]:
    conversations: list[Conversation] = [[]]
    for number, line in _lines(path):
        if line.strip():
            conversations[-1].append((line.strip(), f"{path}:{number}"))
        elif conversations[-1]:  # a blank line ends a conversation; more blank lines change nothing
            conversations.append([])
    return conversations


def _dialogue_rows(conversations: list[Conversation], context_turns: int) -> list[Pair]:
    texts = [[text for text, _ in conversation] for conversation in conversations]
    starts = [c[max(0, i - context_turns)][1] for c in conversations for i in range(1, len(c))]  # first line
    return [
        Pair(source.strip(), target.strip(), where)
        for (source, target), where in zip(dialogue_pairs(texts, context_turns), starts, strict=True)
    ]


# ---- empty sides ------------------------------------------------------------------------------------------
def _drop_empty(pairs: list[Pair], *, skip_empty: bool) -> list[Pair]:
    """``pairs`` without those with an empty side (warning once), or ``PairsDataError`` at the first of them."""
    empty = [p for p in pairs if not p.source or not p.target]
    if not empty:
        return pairs
    if not skip_empty:
        side = "source" if not empty[0].source else "target"
        raise PairsDataError(f"{empty[0].where}: empty {side}; skip_empty=True drops such pairs")
    log.warning("dropped %d pair(s) with an empty side, the first at %s", len(empty), empty[0].where)
    return [p for p in pairs if p.source and p.target]
