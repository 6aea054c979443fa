"""The sktime ``.ts`` format for labelled numeric sequences, and the embedded default: JapaneseVowels, shipped
inside rnnkit (``builtin/``; origin and licence in ``builtin/README.md``).

>>> train, test = default_labelled()     # JapaneseVowels: 9 speakers, 12 coefficients a step
>>> train.kind, len(train), train.classes[:3]
('numeric', 270, ['1', '2', '3'])
"""

from __future__ import annotations

import gzip
from importlib.resources import files
from pathlib import Path

import numpy as np

from rnnkit.data.labelled import (
    Example,
    LabelledData,
    LabelledDataError,
    _finish,
    _lines,
    _listing,
    _number,
    _read_text,
)

DEFAULT_FILES = ("japanese_vowels_train.ts.gz", "japanese_vowels_test.ts.gz")  # in rnnkit.data's builtin/


# ---- sktime .ts -------------------------------------------------------------------------------------------
def read_ts(path: str | Path) -> LabelledData:
    """The examples of an sktime ``.ts`` file: ``@`` header lines (``@problemName``, ``@timeStamps``,
    ``@missing``, ``@univariate``, ``@dimensions``, ``@equalLength``, ``@seriesLength``, ``@classLabel true a b
    c``), ``#`` comments, then after ``@data`` one example a line: dimensions separated by ``:``, the values of
    one dimension by ``,``, the class label last; ``?`` is a missing value (NaN). x is a (T, D) float32 array;
    the dimensions of one example must have equal length (examples may differ). Timestamped data
    (``@timeStamps true``), a label not listed in ``@classLabel`` and a varying number of dimensions raise
    ``LabelledDataError``."""
    path = Path(path)
    if not path.is_file():
        raise LabelledDataError(f"{path}: no such file")
    return _parse_ts(path, _read_text(path))


def _parse_ts(path: Path, text: str) -> LabelledData:
    """``read_ts`` of ``text``, the contents of ``path`` (named in the examples' sources and the errors)."""
    lines = _lines(text)
    labels, first = _ts_header(path, lines)
    examples = [
        _ts_example(f"{path}:{number}", line, labels)
        for number, line in enumerate(lines[first:], first + 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for e in examples:
        if e.x.shape[1] != examples[0].x.shape[1]:  # (T, D): T may vary, D may not
            raise LabelledDataError(f"{e.source}: {e.x.shape[1]} dimensions, expected {examples[0].x.shape[1]}")
    return _finish(path, examples, "numeric")


def _ts_header(path: Path, lines: list[str]) -> tuple[set[str], int]:
    """(the @classLabel labels, the index of the first line after @data); other header lines are not needed."""
    labels = None
    for i, line in enumerate(lines):
        words, where = line.split(), f"{path}:{i + 1}"
        if not words or words[0].startswith("#"):
            continue
        key, values = words[0].lower(), [w.lower() for w in words[1:]]
        if not key.startswith("@"):
            raise LabelledDataError(f"{where}: expected an @ header line or a # comment before @data")
        if key == "@data":
            if labels is None:
                raise LabelledDataError(f"{where}: no @classLabel line before @data")
            return labels, i + 1
        if key == "@timestamps" and values[:1] == ["true"]:
            raise LabelledDataError(f"{where}: timestamped .ts data (@timeStamps true) is not supported")
        if key == "@classlabel":
            if values[:1] != ["true"] or len(words) < 3:
                raise LabelledDataError(f"{where}: @classLabel lists no class labels; a classifier needs them")
            labels = set(words[2:])
    raise LabelledDataError(f"{path}: no @data line")


def _ts_example(where: str, line: str, labels: set[str]) -> Example:
    *fields, label = line.strip().split(":")
    label = label.strip()
    if not fields:
        raise LabelledDataError(f"{where}: no values; dimensions are separated by ':' and the label comes last")
    if label not in labels:
        raise LabelledDataError(f"{where}: label {label!r} is not in @classLabel ({_listing(sorted(labels))})")
    series = [
        [_number(where, value, missing="?", place=f"value in dimension {dim}") for value in field.split(",")]
        for dim, field in enumerate(fields, 1)
    ]
    if len({len(s) for s in series}) > 1:
        lengths = ", ".join(str(len(s)) for s in series)
        raise LabelledDataError(f"{where}: the dimensions differ in length ({lengths}); they must be equal")
    return Example(np.ascontiguousarray(np.array(series, dtype=np.float32).T), label, where)  # (D, T) -> (T, D)


# ---- the built-in default ---------------------------------------------------------------------------------
def default_labelled() -> tuple[LabelledData, LabelledData]:
    """(train, test) of JapaneseVowels (Kudo, Toyama and Shimbo 1999; UCI, CC BY 4.0): 9 speakers, 12 LPC
    cepstrum coefficients a step, 270 train and 370 test utterances of 7 to 29 steps, labels "1" to "9"; two
    ``.ts`` files, gzipped in rnnkit's ``data/builtin/``, read with ``read_ts``'s parser. An example's source
    is ``"PATH:LINE"`` of its ``.ts.gz`` file (the line of the uncompressed text). Raises
    ``LabelledDataError`` when a file is missing or damaged (a broken install)."""
    return _read_builtin(DEFAULT_FILES[0]), _read_builtin(DEFAULT_FILES[1])


def _read_builtin(name: str) -> LabelledData:
    """The examples of the gzipped ``.ts`` file ``builtin/NAME`` of the package ``rnnkit.data``."""
    resource = files("rnnkit.data").joinpath("builtin", name)
    try:
        text = gzip.decompress(resource.read_bytes()).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as err:  # gzip raises BadGzipFile (an OSError) or EOFError
        raise LabelledDataError(f"{resource}: cannot read the built-in data ({err}); reinstall rnnkit") from None
    return _parse_ts(Path(str(resource)), text)
