"""Reading text corpora safely: UTF-8 files checked up front, decoded in chunks, found by file, folder or glob.

Every problem is a ``TextFileError`` whose one-line message starts with the path, so a bad file in a folder
of thousands is named, not guessed at:

>>> paths = find_documents("corpus/**/*.txt")           # sorted; each file passed check_text_file
>>> size = paths[0].stat().st_size
>>> middle = line_start_after(paths[0], size // 2)       # split a big file on a line boundary
>>> first_half = "".join(iter_text(paths[0], end=middle))

``default_corpus()`` is a built-in English corpus (Python's own documentation topics and the standard
library's docstrings, about 1.3M characters) for runs that must not download anything.
"""

from __future__ import annotations

import ast
import codecs
import functools
import glob
import logging
import os
import sysconfig
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)
HEAD = 1 << 16  # check_text_file looks at this many leading bytes
BOM = codecs.BOM_UTF8
_TEXT_CONTROLS = frozenset(b"\t\n\r\f")
_CONTROLS = frozenset([*range(0x20), 0x7F]) - _TEXT_CONTROLS
_NOT_CONTROLS = bytes(b for b in range(256) if b not in _CONTROLS)  # bytes.translate deletes these, in C
# Skipped when walking a folder (a corpus folder often holds an archive or a figure); named alone, they fail.
BINARY_SUFFIXES = frozenset({
    ".gz", ".bz2", ".xz", ".zst", ".zip", ".tar", ".7z", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf",
    ".pyc", ".so", ".dll", ".exe", ".bin", ".pt", ".pth", ".ckpt", ".safetensors", ".npy", ".npz", ".pkl",
    ".parquet", ".arrow",
})  # fmt: skip


class TextFileError(ValueError):
    """A path that is not a readable UTF-8 text file; the one-line message starts with the path."""


def iter_text(path: str | Path, *, start: int = 0, end: int | None = None, chunk_size: int = 1 << 20) -> Iterator[str]:
    """The text of bytes ``[start, end)`` of a UTF-8 file (``end=None``: to the end), in pieces decoded from
    ``chunk_size`` bytes each, incrementally so a file larger than memory streams. A BOM at byte 0 is
    skipped. Invalid UTF-8 (also a range that starts or ends inside a character) raises ``TextFileError``
    naming the absolute byte offset in the file."""
    if chunk_size < 1 or start < 0:
        raise ValueError(f"chunk_size must be positive and start non-negative, got {chunk_size} and {start}")
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    with _open(path) as f:
        f.seek(start)
        pos = start  # the file offset of the next byte read
        if start == 0 and f.read(len(BOM)) == BOM:
            pos = len(BOM)
        f.seek(pos)
        while end is None or pos < end:
            chunk = f.read(chunk_size if end is None else min(chunk_size, end - pos))
            if not chunk:
                break
            text = _decode(decoder, chunk, pos, path, final=False)
            pos += len(chunk)
            if text:
                yield text
        text = _decode(decoder, b"", pos, path, final=True)  # a character cut off at the end is an error
        if text:
            yield text


def _decode(decoder: codecs.IncrementalDecoder, chunk: bytes, pos: int, path: str | Path, *, final: bool) -> str:
    pending = len(decoder.getstate()[0])  # bytes of an unfinished character held back from the last chunk
    try:
        return decoder.decode(chunk, final)
    except UnicodeDecodeError as err:  # err.start counts from the held-back bytes, which precede pos
        raise TextFileError(f"{path}: invalid UTF-8 at byte {pos - pending + err.start}") from None


def _open(path: str | Path):
    try:
        return open(path, "rb")  # the callers close it: `with _open(path) as f`
    except FileNotFoundError:
        raise TextFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TextFileError(f"{path}: is a folder, not a file") from None
    except OSError as err:
        raise TextFileError(f"{path}: cannot read ({err.strerror})") from None


def read_text(path: str | Path) -> str:
    """The whole text of a UTF-8 file that passes ``check_text_file`` (BOM dropped, newlines untouched)."""
    check_text_file(path)
    return "".join(iter_text(path))


def check_text_file(path: str | Path) -> int:
    """The size in bytes of ``path``, after checking that it is a non-empty regular file whose first 64 KiB
    are UTF-8 text: no NUL byte, at most 10% control bytes other than tab, newline, carriage return and form
    feed, and valid UTF-8 (a character cut by the 64 KiB boundary is fine). Raises ``TextFileError``."""
    p = Path(path)
    if p.is_dir():
        raise TextFileError(f"{path}: is a folder, not a file")
    if p.exists() and not p.is_file():
        raise TextFileError(f"{path}: not a regular file")
    with _open(p) as f:
        head = f.read(HEAD)
        size = os.fstat(f.fileno()).st_size
    if not head:
        raise TextFileError(f"{path}: the file is empty")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise TextFileError(f"{path}: UTF-16 text, not UTF-8; convert it (iconv -f UTF-16 -t UTF-8)")
    if b"\0" in head or len(head.translate(None, _NOT_CONTROLS)) > len(head) / 10:
        raise TextFileError(f"{path}: looks like a binary file, not UTF-8 text")
    skip = len(BOM) if head.startswith(BOM) else 0
    _decode(codecs.getincrementaldecoder("utf-8")("strict"), head[skip:], skip, path, final=size <= HEAD)
    return size


def find_documents(spec: str) -> list[Path]:
    """The files ``spec`` names, sorted: one file; every file below a folder (recursively, skipping hidden
    files and folders and the suffixes in ``BINARY_SUFFIXES``); or the files a glob pattern matches (``**``
    spans folders; hidden names match only a pattern that starts with a dot, as in ``glob``).

    A single file must pass ``check_text_file`` (``TextFileError`` naming it otherwise). Among the files of
    a folder or a glob, those that do not pass (binary, UTF-16, empty, not UTF-8) are skipped with one
    warning line each and a count; ``TextFileError`` only when none is usable."""
    root = Path(spec)
    if glob.has_magic(spec):
        paths = [Path(p) for p in glob.glob(spec, recursive=True) if os.path.isfile(p)]
    elif root.is_dir():
        paths = list(_walk(root))
    elif root.exists():
        paths = [root]
    else:
        raise TextFileError(f"{spec}: no such file or folder")
    if not paths:
        raise TextFileError(f"{spec}: no files match")
    paths.sort()
    if paths == [root]:
        check_text_file(root)
        return paths
    return _usable(spec, paths)


def _usable(spec: str, paths: list[Path]) -> list[Path]:
    """The files of ``paths`` that pass ``check_text_file``; each other one is named in a warning."""
    kept, problems = [], []
    for p in paths:
        try:
            check_text_file(p)
            kept.append(p)
        except TextFileError as err:
            problems.append(str(err))
    if not kept:  # one line: the error says it all
        raise TextFileError(f"{spec}: none of its {len(paths)} file(s) is usable UTF-8 text (first: {problems[0]})")
    for problem in problems:
        log.warning("skipped %s", problem)
    if problems:
        log.warning("%s: skipped %d of %d files that are not UTF-8 text", spec, len(problems), len(paths))
    return kept


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # pruned in place: os.walk does not descend
        for name in files:
            p = Path(folder, name)
            if not name.startswith(".") and p.suffix.lower() not in BINARY_SUFFIXES and p.is_file():
                yield p


def line_start_after(path: str | Path, offset: int) -> int:
    """The byte offset of the first line start at or after ``offset`` (0, or just after a ``\\n``), reading
    only from ``offset`` on; the file size if there is none. Byte ranges cut at such offsets decode alone."""
    if offset <= 0:
        return 0
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(offset - 1)  # a line starts at offset when the byte before it is a newline
        pos = offset - 1
        while offset < size and (chunk := f.read(HEAD)):
            newline = chunk.find(b"\n")
            if newline >= 0:
                return pos + newline + 1
            pos += len(chunk)
        return size


def default_corpus() -> list[tuple[str, str]]:
    """The built-in English corpus as ``(name, text)`` documents, in a fixed order: Python's documentation
    topics (``pydoc_data``, named ``"topics/<key>"``, sorted by key), then the docstrings of at least 8 words
    of each top-level standard library module (parsed with ``ast``, never imported; one document per module,
    named ``"stdlib/<file>.py"``, sorted). About 1.3M characters; the same for one Python version. Built once
    per process (a few seconds), then cached."""
    return list(_default_corpus())


@functools.cache
def _default_corpus() -> tuple[tuple[str, str], ...]:
    from pydoc_data.topics import topics

    docs = [(f"topics/{key}", topics[key]) for key in sorted(topics)]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")):
        text = _module_docstrings(path)
        if text:
            docs.append((f"stdlib/{path.name}", text))
    return tuple(docs)


def _module_docstrings(path: Path) -> str:
    """The module's, classes' and functions' docstrings of at least 8 words, in source order, blank-line
    separated; "" for a file that does not decode or parse."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):  # ValueError: NUL bytes or a bad encoding declaration
        return ""
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    nodes = sorted((n for n in ast.walk(tree) if isinstance(n, kinds)), key=lambda n: getattr(n, "lineno", 0))
    docs = [ast.get_docstring(n) for n in nodes]  # cleaned: common indentation removed
    return "\n\n".join(d for d in docs if d and len(d.split()) >= 8)
