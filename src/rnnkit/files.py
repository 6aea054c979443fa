"""Atomic file writes: a file appears at its path whole or not at all, even if the process is killed.

``write_atomic`` writes a hidden temporary sibling ``.NAME.tmp-<random>``, fsyncs it, moves it into place in
one rename and fsyncs the directory, so a reader (or a process started after a crash) sees the old file or
the new one, never a mix. The smaller pieces (``write_synced``, ``fsync_dir``, ``sibling``, ``discard``)
serve callers that swap in whole directories, as ``rnnkit.checkpoint`` does. Only the standard library is
used.

>>> write_atomic("runs/x/notes.txt", "hello\\n")
PosixPath('runs/x/notes.txt')
>>> write_json_atomic("runs/x/run.json", {"task": "lm"}, overwrite=False)  # FileExistsError if it is there
PosixPath('runs/x/run.json')
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

__all__ = ["discard", "fsync_dir", "read_json", "sibling", "unique_sibling", "write_atomic", "write_json_atomic",
           "write_synced"]


def write_atomic(path: str | os.PathLike, data: bytes | str, *, overwrite: bool = True) -> Path:
    """Write ``data`` (str is encoded as UTF-8) to the file ``path`` atomically and return ``path`` as a Path.

    Parent directories are created. The data goes to ``.NAME.tmp-<random>`` beside ``path``, is flushed and
    fsynced, and is moved into place with ``os.replace`` (``overwrite=True``) or with ``os.link``, which fails
    if ``path`` exists (``overwrite=False``: a file written meanwhile by another process is never replaced);
    then the parent directory is fsynced. On any failure the temporary file is removed and ``path`` is left as
    it was. Raises FileExistsError (``PATH: already exists; ...``) when ``overwrite`` is False and ``path``
    exists, and OSError with the errno of the cause and a message ``PATH: cannot write: ...`` for any other
    failure of the file system (a full disk, no permission, ``path`` a directory).
    """
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    if not overwrite and path.exists():  # os.link below decides; this only saves writing in vain
        raise _exists(path)
    tmp = unique_sibling(path, "tmp")
    try:
        placed = _write_and_place(tmp, path, payload, overwrite=overwrite)
    except OSError as err:
        raise _cannot_write(path, err) from err
    finally:
        tmp.unlink(missing_ok=True)  # after a failure of any kind, or the second name left by os.link
    if not placed:
        raise _exists(path)
    return path


def write_json_atomic(path: str | os.PathLike, obj: Any, *, overwrite: bool = True, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON text (``indent`` as in ``json.dumps``, then a newline) with ``write_atomic``.

    ``obj`` is serialized before the disk is touched: TypeError or ValueError, naming ``path``, when it is
    not JSON-serializable, and nothing is written. Otherwise as ``write_atomic``.
    """
    try:
        text = json.dumps(obj, indent=indent) + "\n"
    except (TypeError, ValueError) as err:
        raise type(err)(f"{path}: not JSON-serializable: {err}") from None
    return write_atomic(path, text, overwrite=overwrite)


def read_json(path: str | os.PathLike) -> Any:
    """The JSON value in the file ``path``; OSError (FileNotFoundError) if unreadable, ValueError if not JSON."""
    return json.loads(Path(path).read_bytes())  # bytes: json detects UTF-8/16/32 itself


def write_synced(path: str | os.PathLike, data: bytes) -> None:
    """Create the file ``path`` (FileExistsError if it exists), write ``data``, flush and fsync it.

    Not atomic by itself: a crash may leave part of the file. Use it for files inside a temporary directory
    that is renamed into place afterwards, or use ``write_atomic``.
    """
    with open(path, "xb") as f:  # "x": never write through a file or link someone else put there
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(directory: str | os.PathLike) -> None:
    """Flush ``directory``'s entries (creations, renames) to disk; does nothing where that is impossible."""
    if os.name != "posix":  # Windows cannot open a directory to fsync it
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sibling(path: Path, tag: str) -> Path:
    """The hidden path ``.NAME.TAG`` beside ``path``: ``sibling(Path("a/last"), "old") == Path("a/.last.old")``."""
    return path.with_name(f".{path.name}.{tag}")


def unique_sibling(path: Path, tag: str) -> Path:
    """A fresh hidden path ``.NAME.TAG-<12 random hex digits>`` beside ``path`` (nothing is created)."""
    return sibling(path, f"{tag}-{uuid.uuid4().hex[:12]}")


def discard(directory: Path, *, trash: Path | None = None) -> None:
    """Delete ``directory`` if it exists: rename it to ``trash`` (default ``.NAME.trash-<random>`` beside it),
    then remove that tree, so a half-deleted directory never sits under a name that readers look at.

    Errors while removing the renamed tree are ignored: its hidden name marks it as garbage.
    """
    if directory.exists():
        trash = trash or unique_sibling(directory, "trash")
        os.rename(directory, trash)
        shutil.rmtree(trash, ignore_errors=True)


def _write_and_place(tmp: Path, path: Path, data: bytes, *, overwrite: bool) -> bool:
    """Write ``tmp`` and move it to ``path``; False if ``overwrite`` is False and ``path`` exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_synced(tmp, data)
    if overwrite:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)  # atomic, and unlike os.rename it refuses an existing target
        except FileExistsError:
            return False
    fsync_dir(path.parent)  # the new name survives a power cut only once the directory is synced
    return True


def _exists(path: Path) -> FileExistsError:
    err = FileExistsError(f"{path}: already exists; not replaced (overwrite=False)")
    err.errno = errno.EEXIST
    return err


def _cannot_write(path: Path, err: OSError) -> OSError:
    # The cause often names only the temporary file (or nothing, as a full disk does); name the target instead,
    # keeping the cause's class and errno so callers can still test for ENOSPC or PermissionError.
    named = type(err)(f"{path}: cannot write: {err.strerror or err}")
    named.errno = err.errno
    return named


def free_path(path: str | os.PathLike) -> Path:
    """``path``, or ``NAME-2.EXT``, ``NAME-3.EXT``, ...: the first that does not exist, so that nothing is
    overwritten (``runs/demo`` -> ``runs/demo-2``; ``explanation.html`` -> ``explanation-2.html``)."""
    path = Path(path)
    n, found = 1, path
    while found.exists():
        n += 1
        found = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return found
