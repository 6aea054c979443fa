"""Atomic writes: the file appears whole or not at all, refusals leave it untouched, failures leave no litter."""

import contextlib
import errno
import json
import os
from pathlib import Path

import pytest

from rnnkit import files
from rnnkit.files import discard, read_json, sibling, write_atomic, write_json_atomic


def names(directory):
    return sorted(p.name for p in directory.iterdir())


def test_str_and_bytes_round_trip_and_parents_are_created(tmp_path):
    text = tmp_path / "a" / "b" / "note.txt"
    assert write_atomic(text, "grüße\n") == text and text.read_text(encoding="utf-8") == "grüße\n"
    blob = write_atomic(str(tmp_path / "blob.bin"), bytes(range(256)))
    assert blob == tmp_path / "blob.bin" and blob.read_bytes() == bytes(range(256))
    assert names(tmp_path) == ["a", "blob.bin"] and names(text.parent) == ["note.txt"]


def test_the_new_file_appears_whole_in_one_rename(tmp_path, monkeypatch):
    path = tmp_path / "data.bin"
    write_atomic(path, b"old" * 1000)
    new, seen, real_replace = os.urandom(1 << 20), [], os.replace

    def replace(src, dst):  # the moment of the swap: the target is still the old file, the new one is whole
        seen.append((os.path.basename(src), path.read_bytes(), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    write_atomic(path, new)
    [(tmp_name, before, staged)] = seen
    assert tmp_name.startswith(".data.bin.tmp-") and before == b"old" * 1000 and staged == new
    assert path.read_bytes() == new and names(tmp_path) == ["data.bin"]


def test_overwrite_false_refuses_an_existing_file_and_leaves_it_untouched(tmp_path):
    path = write_atomic(tmp_path / "run.json", "mine")
    with pytest.raises(FileExistsError) as info:
        write_atomic(path, "theirs", overwrite=False)
    message = str(info.value)
    assert message.startswith(f"{path}: already exists;") and "\n" not in message
    assert info.value.errno == errno.EEXIST
    assert path.read_text() == "mine" and names(tmp_path) == ["run.json"]
    assert write_atomic(tmp_path / "fresh", "ok", overwrite=False).read_text() == "ok"


def test_overwrite_false_never_clobbers_a_file_written_meanwhile(tmp_path, monkeypatch):
    path, real_link = tmp_path / "run.json", os.link

    def link(src, dst):  # another process finishes its own write between our check and our link
        path.write_text("theirs")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link)
    with pytest.raises(FileExistsError, match="already exists"):
        write_atomic(path, "mine", overwrite=False)
    assert path.read_text() == "theirs" and names(tmp_path) == ["run.json"]


class FullDisk:
    """A binary file whose write stores half the data, then fails as a full disk does."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.f, name)


@contextlib.contextmanager
def full_disk_open(*args, **kwargs):
    with open(*args, **kwargs) as f:
        yield FullDisk(f)


def fail_write(monkeypatch):
    monkeypatch.setattr(files, "open", full_disk_open, raising=False)  # shadows the builtin in rnnkit.files


def fail_fsync(monkeypatch):
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)


def fail_replace(monkeypatch):
    def replace(src, dst):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("fail", [fail_write, fail_fsync, fail_replace])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, fail):
    old, fresh = write_atomic(tmp_path / "report.html", "old report"), tmp_path / "fresh.html"
    fail(monkeypatch)
    for path in (old, fresh):
        with pytest.raises(OSError) as info:
            write_atomic(path, "new report " * 1000)
        assert str(info.value).startswith(f"{path}: cannot write:") and "\n" not in str(info.value)
        assert info.value.errno in (errno.ENOSPC, errno.EXDEV)
    assert old.read_text() == "old report" and names(tmp_path) == ["report.html"]  # fresh: not at all


def test_a_directory_in_the_way_is_an_error_naming_the_path(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match="out: cannot write"):
        write_atomic(tmp_path / "out", "x")
    assert names(tmp_path) == ["out"]


def test_json_is_checked_before_the_disk_is_touched(tmp_path):
    path = write_json_atomic(tmp_path / "r.json", {"a": (1, 2), "b": None}, indent=2)
    assert read_json(path) == {"a": [1, 2], "b": None} and path.read_text().endswith("}\n")
    with pytest.raises(TypeError, match="r.json: not JSON-serializable"):
        write_json_atomic(path, {"a": object()})
    with pytest.raises(FileExistsError):
        write_json_atomic(path, {}, overwrite=False)
    assert read_json(path)["a"] == [1, 2] and names(tmp_path) == ["r.json"]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError):
        read_json(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")


def test_discard_renames_away_then_deletes(tmp_path, monkeypatch):
    run = tmp_path / "run"
    (run / "last").mkdir(parents=True)
    (run / "last" / "meta.json").write_text(json.dumps({}))
    renamed, real_rename = [], os.rename
    monkeypatch.setattr(os, "rename", lambda src, dst: (renamed.append(os.path.basename(dst)), real_rename(src, dst)))
    discard(run)
    discard(tmp_path / "nothing")  # a missing directory is no error
    [trash] = renamed
    assert trash.startswith(".run.trash-") and names(tmp_path) == []
    assert sibling(run / "last", "old") == tmp_path / "run" / ".last.old"
