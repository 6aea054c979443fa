"""Labelled data for sequence classification: texts or numeric sequences, one class label each.

``read_labelled`` reads CSV/TSV, JSON lines, numeric (UCR-style) CSV, sktime ``.ts`` files, a folder with one
subfolder per class, and a folder of line files ``STEM.LABEL``. Every problem is a ``LabelledDataError`` whose
one-line message starts with the file and, where there is one, the line (``"PATH:LINE: problem"``), so a bad
record among thousands is named, not guessed at:

>>> data = read_labelled("data/sentiment")              # rt-polarity.pos and rt-polarity.neg, a text a line
>>> data.kind, len(data), data.classes
('text', 10662, ['neg', 'pos'])
>>> train, dev, test = stratified_split(data.labels, (0.8, 0.1, 0.1), seed=0)   # index lists, each sorted

``rnnkit.data.ts`` reads sktime ``.ts`` files and has ``default_labelled()``, the JapaneseVowels speaker set
(9 speakers, 12 cepstrum coefficients a step) that rnnkit ships in ``rnnkit/data/builtin/``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}  # suffix -> delimiter
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
# Never taken for the LABEL of a line file STEM.LABEL: these suffixes name a format, not a class.
FORMAT_SUFFIXES = frozenset({*TABLE_SUFFIXES, *JSONL_SUFFIXES, ".ts"})


class LabelledDataError(ValueError):
    """A file that cannot be read as labelled data. The one-line message starts with the file and, where there
    is one, the line: ``"PATH:LINE: problem"`` or ``"PATH: problem"``."""


@dataclass
class Example:
    """One labelled sequence. ``x`` is the text (stripped of surrounding whitespace), or for a numeric sequence
    a ``(T, F)`` float32 array (T steps, F features; NaN where a value is missing). ``source`` is
    ``"PATH:LINE"`` (1-based, the line where the record starts), or ``"PATH"`` for a file that is one example."""

    x: str | np.ndarray
    label: str
    source: str


@dataclass
class LabelledData:
    """Examples of one ``kind``: ``"text"`` (``x`` is a str) or ``"numeric"`` (``x`` is a (T, F) array; T may
    differ between examples, F does not)."""

    examples: list[Example]
    kind: str

    @property
    def labels(self) -> list[str]:
        """The label of each example, in order."""
        return [e.label for e in self.examples]

    @property
    def classes(self) -> list[str]:
        """The distinct labels, sorted as strings ("10" before "2")."""
        return sorted({e.label for e in self.examples})

    def __len__(self) -> int:
        return len(self.examples)


def read_labelled(spec: str | Path, *, text_column: str = "text", label_column: str = "label") -> LabelledData:
    """The labelled examples ``spec`` names, in file order (files and folders sorted by name):

    - ``.csv``, ``.tsv``/``.tab`` with a header row: the columns ``text_column`` and ``label_column``; a record
      may span lines (quoted newlines); blank lines are skipped. Without a text column, when every other cell of
      the first row is a number or empty, it is a numeric wide table (UCR style): each row one univariate
      sequence of its numeric cells in column order, trailing empty cells trimmed, inner ones NaN; x is (T, 1).
      A headerless numeric table has the label in its first column (detected when the first row's other cells
      are numbers).
    - ``.jsonl``, ``.ndjson``, ``.json`` (one JSON object a line): fields ``text_column``, ``label_column``;
      a number label becomes its string (``1`` -> ``"1"``).
    - ``.ts`` (sktime): see ``read_ts``.
    - a folder with subfolders that hold files: every regular, non-hidden file directly in ``root/<class>/`` is
      one text example (the whole file), labelled by the subfolder's name (the aclImdb layout).
    - otherwise a folder of line files ``STEM.LABEL`` sharing one stem (``rt-polarity.pos``,
      ``rt-polarity.neg``), or the path ``DIR/STEM`` naming them: each non-blank line is one example.

    Files are UTF-8 (a BOM is dropped). Texts and labels are stripped; an empty one is an error, as are an empty,
    binary or non-UTF-8 file, a missing column, a short row, bad JSON, a non-numeric cell in a numeric table, no
    examples, or a single class. Raises ``LabelledDataError``."""
    path = Path(spec)
    if path.is_dir():
        return _read_folder(path)
    if not path.exists():
        if not (line_files := _stem_files(path)):
            raise LabelledDataError(f"{path}: no such file or folder (nor line files {path}.LABEL)")
        return _finish(path, _read_line_files(line_files), "text")
    if not path.is_file():
        raise LabelledDataError(f"{path}: not a regular file or folder")
    suffix = path.suffix.lower()
    if suffix == ".ts":
        from rnnkit.data.ts import read_ts  # here, not at the top: ts reads with this module's helpers

        return read_ts(path)
    if suffix in TABLE_SUFFIXES:
        return _finish(path, *_read_table(path, TABLE_SUFFIXES[suffix], text_column, label_column))
    if suffix in JSONL_SUFFIXES:
        return _finish(path, _read_jsonl(path, text_column, label_column), "text")
    raise LabelledDataError(
        f"{path}: unknown format {suffix or '(no suffix)'!r}; expected .csv, .tsv, .tab, .jsonl, .ndjson, .json, "
        f".ts, a folder, or the stem DIR/STEM of line files STEM.LABEL"
    )


def _finish(where: Path, examples: list[Example], kind: str) -> LabelledData:
    if not examples:
        raise LabelledDataError(f"{where}: no examples")
    classes = sorted({e.label for e in examples})
    if len(classes) < 2:
        raise LabelledDataError(f"{where}: only one class ({classes[0]!r}); a classifier needs at least two")
    return LabelledData(examples, kind)


# ---- reading text safely ----------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    """The whole text of a UTF-8 file, BOM dropped; an empty, binary or non-UTF-8 file raises, naming the line."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LabelledDataError(f"{path}: cannot read ({err.strerror})") from None
    if not data:
        raise LabelledDataError(f"{path}: the file is empty")
    if (nul := data.find(b"\0")) >= 0:
        raise LabelledDataError(f"{path}:{_line_at(data, nul)}: a binary file, not text (NUL byte at offset {nul})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:  # err.start counts from byte 0 of the file, BOM included
        line = _line_at(data, err.start)
        raise LabelledDataError(f"{path}:{line}: not UTF-8 text (byte offset {err.start})") from None
    return text.removeprefix("\ufeff")


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _lines(text: str) -> list[str]:
    # Only "\n" ends a line (str.splitlines also splits at \f, \x1c, \u2028...), so numbers match `grep -n`.
    return [line.removesuffix("\r") for line in text.split("\n")]


def _listing(names: Iterable[str], limit: int = 12) -> str:
    names = list(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _text_example(where: str, text: str, label: str) -> Example:
    text, label = text.strip(), label.strip()
    if not text:
        raise LabelledDataError(f"{where}: empty text")
    if not label:
        raise LabelledDataError(f"{where}: empty label")
    return Example(text, label, where)


# ---- CSV and TSV ------------------------------------------------------------------------------------------
def _records(path: Path, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells) for each record that is not blank."""
    reader = csv.reader(io.StringIO(text, newline="\n"), delimiter=delimiter)
    while True:
        start = reader.line_num + 1  # line_num counts the lines read so far; a quoted newline spans several
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise LabelledDataError(f"{path}:{start}: malformed {path.suffix} record ({err})") from None
        if any(cell.strip() for cell in row):
            yield start, row


def _read_table(path: Path, delimiter: str, text_column: str, label_column: str) -> tuple[list[Example], str]:
    records = list(_records(path, _read_text(path), delimiter))
    if not records:
        return [], "text"
    (line, header), rows = records[0], records[1:]
    names = [name.strip() for name in header]
    label_at = names.index(label_column) if label_column in names else None
    if label_at is not None and text_column in names:
        return _text_rows(path, rows, names, names.index(text_column), label_at), "text"
    if label_at is not None and rows and _all_numbers(rows[0][1], skip=label_at):
        return _numeric_rows(path, rows, label_at, width=len(names)), "numeric"
    if label_at is None and _all_numbers(header, skip=0):  # headerless, label first (UCR archive)
        return _numeric_rows(path, records, 0, width=None), "numeric"
    missing = label_column if label_at is None else text_column
    raise LabelledDataError(f"{path}:{line}: no column {missing!r} (columns: {_listing(names)})")


def _all_numbers(row: list[str], *, skip: int) -> bool:
    """Whether the cells of ``row`` but one are numbers or empty, and not all empty."""
    cells = [cell for i, cell in enumerate(row) if i != skip and cell.strip()]
    try:
        [_number("", cell, missing="", place="cell") for cell in cells]
    except LabelledDataError:
        return False
    return bool(cells)


def _number(where: str, cell: str, *, missing: str, place: str) -> float:
    """``cell`` as a float; NaN for the ``missing`` marker (an empty cell in a table, "?" in a .ts file)."""
    cell = cell.strip()
    if cell == missing:
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise LabelledDataError(f"{where}: non-numeric {place}: {cell!r}") from None


def _check_width(where: str, row: list[str], width: int, *, ragged: bool = False) -> None:
    if len(row) > width or (len(row) < width and not ragged):
        few = "many" if len(row) > width else "few"
        raise LabelledDataError(f"{where}: too {few} fields ({len(row)}; the header has {width})")


def _text_rows(path: Path, rows: list, names: list[str], text_at: int, label_at: int) -> list[Example]:
    examples = []
    for line, row in rows:
        where = f"{path}:{line}"
        _check_width(where, row, len(names))
        examples.append(_text_example(where, row[text_at], row[label_at]))
    return examples


def _numeric_rows(path: Path, rows: list, label_at: int, *, width: int | None) -> list[Example]:
    examples = []
    for line, row in rows:
        where = f"{path}:{line}"
        if width is not None:
            _check_width(where, row, width, ragged=True)
        if len(row) <= label_at:
            raise LabelledDataError(f"{where}: too few fields ({len(row)}; the label is in column {label_at + 1})")
        columns = [i for i in range(len(row)) if i != label_at]
        while columns and not row[columns[-1]].strip():  # rows of a ragged table end in empty cells
            columns.pop()
        if not columns:
            raise LabelledDataError(f"{where}: no values")
        values = [_number(where, row[i], missing="", place=f"cell in column {i + 1}") for i in columns]
        label = row[label_at].strip()
        if not label:
            raise LabelledDataError(f"{where}: empty label")
        examples.append(Example(np.array(values, dtype=np.float32)[:, None], label, where))  # (T,) -> (T, 1)
    return examples


# ---- JSON lines -------------------------------------------------------------------------------------------
def _read_jsonl(path: Path, text_column: str, label_column: str) -> list[Example]:
    examples = []
    for number, line in enumerate(_lines(_read_text(path)), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            hint = "; a .json file must hold one JSON object a line" if path.suffix.lower() == ".json" else ""
            raise LabelledDataError(f"{where}: malformed JSON ({err.msg}, column {err.colno}){hint}") from None
        if not isinstance(record, dict):
            raise LabelledDataError(f"{where}: a JSON {type(record).__name__}, not an object")
        for column in (text_column, label_column):
            if column not in record:
                raise LabelledDataError(f"{where}: no field {column!r} (fields: {_listing(record)})")
        text = record[text_column]
        if not isinstance(text, str):
            raise LabelledDataError(f"{where}: field {text_column!r} is {json.dumps(text)[:40]}, not a string")
        examples.append(_text_example(where, text, _json_label(where, record[label_column])))
    return examples


def _json_label(where: str, label: object) -> str:
    if isinstance(label, str):
        return label
    if isinstance(label, int | float):  # 1 -> "1", 2.5 -> "2.5", true -> "true": as written in the file
        return json.dumps(label)
    raise LabelledDataError(f"{where}: the label is {json.dumps(label)[:40]}, not a string or a number")


# ---- folders ----------------------------------------------------------------------------------------------
def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _files(folder: Path) -> list[Path]:
    return [p for p in _visible(folder) if p.is_file()]


def _read_folder(root: Path) -> LabelledData:
    """A folder per class when some subfolder holds files, else one stem of line files STEM.LABEL."""
    classes = [(d.name, files) for d in _visible(root) if d.is_dir() and (files := _files(d))]
    if classes:
        examples = [_whole_file(p, label=name) for name, files in classes for p in files]
        return _finish(root, examples, "text")
    stems: dict[str, list[Path]] = {}
    for p in _files(root):
        if p.suffix and p.suffix.lower() not in FORMAT_SUFFIXES:
            stems.setdefault(p.stem, []).append(p)
    found = sorted(stem for stem, paths in stems.items() if len(paths) > 1)
    if not found:
        raise LabelledDataError(f"{root}: no class subfolders with files and no line files STEM.LABEL")
    if len(found) > 1:
        raise LabelledDataError(f"{root}: line files of several stems ({_listing(found)}); name one: {root / found[0]}")
    return _finish(root, _read_line_files(stems[found[0]]), "text")


def _whole_file(path: Path, *, label: str) -> Example:
    text = _read_text(path).strip()
    if not text:
        raise LabelledDataError(f"{path}: empty text")
    return Example(text, label, str(path))


def _stem_files(path: Path) -> list[Path]:
    """The line files ``path.LABEL`` beside ``path``, for a ``path`` that does not exist itself."""
    if not path.name or not path.parent.is_dir():
        return []
    return [p for p in _files(path.parent) if p.stem == path.name and p.suffix.lower() not in FORMAT_SUFFIXES]


def _read_line_files(paths: list[Path]) -> list[Example]:
    examples = []
    for path in paths:
        label = path.suffix.removeprefix(".")
        for number, line in enumerate(_lines(_read_text(path)), 1):
            if line.strip():
                examples.append(Example(line.strip(), label, f"{path}:{number}"))
    return examples


# ---- splits -----------------------------------------------------------------------------------------------
def stratified_split(
    labels: Sequence[str], fractions: Sequence[float] = (0.8, 0.1, 0.1), *, seed: int = 0
) -> list[list[int]]:
    """One sorted list of indices into ``labels`` per fraction; together they cover every index once. Each class
    is shuffled (one ``random.Random(seed)``, classes in sorted order) and cut by ``fractions``: shares rounded
    to whole examples by largest remainder, so each is within one of exact, and a class with at least
    ``len(fractions)`` examples gives every split one or more (taken from the largest). Fractions must be
    positive and sum to 1, else ``ValueError``.

    >>> stratified_split(["a"] * 8 + ["b"] * 2, (0.5, 0.5))    # [[one 'b', four 'a'], [the others]]
    """
    if not fractions or any(f <= 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-9):
        raise ValueError(f"fractions must be positive and sum to 1, got {tuple(fractions)}")
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    rng = random.Random(seed)
    splits: list[list[int]] = [[] for _ in fractions]
    for label in sorted(by_class):
        indices = by_class[label]
        rng.shuffle(indices)
        start = 0
        for split, size in zip(splits, _split_sizes(len(indices), fractions)):
            split.extend(indices[start : start + size])
            start += size
    return [sorted(split) for split in splits]


def _split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    exact = [f * n for f in fractions]
    sizes = [math.floor(e) for e in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (sizes[i] - exact[i], i))  # largest remainder first
    for i in by_remainder[: max(0, n - sum(sizes))]:
        sizes[i] += 1
    if n >= len(sizes):
        for i in range(len(sizes)):
            if sizes[i] == 0:  # the largest has two or more here: n >= len(sizes) with one split empty
                sizes[max(range(len(sizes)), key=sizes.__getitem__)] -= 1
                sizes[i] = 1
    return sizes
