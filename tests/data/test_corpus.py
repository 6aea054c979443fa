"""Reading corpora: file checks and their messages, incremental decoding with exact byte offsets, discovery."""

import pytest

from rnnkit.data.corpus import (
    TextFileError,
    check_text_file,
    default_corpus,
    find_documents,
    iter_text,
    line_start_after,
    read_text,
)


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ---- check_text_file ------------------------------------------------------------------------------------
def test_check_accepts_text_and_returns_size(tmp_path):
    data = "naïve café 東京\n".encode()
    assert check_text_file(write(tmp_path / "a.txt", data)) == len(data)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "the file is empty"),
        (b"text\x00\x01\x02 more text", "looks like a binary file, not UTF-8 text"),
        (bytes(range(1, 32)) * 10 + b"a few words", "looks like a binary file, not UTF-8 text"),
        (b"\xff\xfeh\x00i\x00", "UTF-16 text, not UTF-8"),
        (b"caf\xe9 au lait", "invalid UTF-8 at byte 3"),  # Latin-1
    ],
)
def test_check_rejects_with_one_line_naming_the_file(tmp_path, data, message):
    path = write(tmp_path / "bad.txt", data)
    with pytest.raises(TextFileError) as err:
        check_text_file(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_check_rejects_missing_and_folder(tmp_path):
    with pytest.raises(TextFileError, match="no such file"):
        check_text_file(tmp_path / "missing.txt")
    with pytest.raises(TextFileError, match="is a folder"):
        check_text_file(tmp_path)


def test_check_allows_text_controls_and_a_character_cut_at_64k(tmp_path):
    assert check_text_file(write(tmp_path / "t.txt", b"a\tb\r\n\x0cc\n" * 100))
    data = b"x" * (65536 - 1) + "é".encode() + b"tail"  # é straddles the 64 KiB boundary
    assert check_text_file(write(tmp_path / "long.txt", data)) == len(data)
    with pytest.raises(TextFileError, match="invalid UTF-8 at byte 65535"):
        check_text_file(write(tmp_path / "cut.txt", b"x" * 65535 + b"\xc3"))  # the whole file, cut short


# ---- iter_text / read_text ------------------------------------------------------------------------------
def test_iter_text_decodes_across_small_chunks_and_skips_bom(tmp_path):
    text = "naïve café 東京 🙂\n" * 20
    path = write(tmp_path / "a.txt", b"\xef\xbb\xbf" + text.encode())
    for chunk_size in (1, 2, 3, 7, 1 << 20):
        assert "".join(iter_text(path, chunk_size=chunk_size)) == text
    assert read_text(path) == text


def test_iter_text_reports_absolute_offset_beyond_the_first_chunk(tmp_path):
    data = ("é" * 50).encode() + b"ab\xe6\x9d" + b"z" * 10  # a cut 3-byte character at byte 102
    path = write(tmp_path / "a.txt", data)
    for chunk_size in (1, 4, 5, 16, 1 << 20):
        with pytest.raises(TextFileError, match=rf"^{path}: invalid UTF-8 at byte 102$"):
            "".join(iter_text(path, chunk_size=chunk_size))
    with pytest.raises(TextFileError, match="at byte 102"):  # read_text: the 64 KiB check passes nothing bad by
        read_text(path)


def test_iter_text_offset_deep_in_a_big_file(tmp_path):
    data = b"line of text\n" * 10_000 + b"\x80" + b"more\n"  # beyond check_text_file's 64 KiB window
    path = write(tmp_path / "big.txt", data)
    assert check_text_file(path) == len(data)
    with pytest.raises(TextFileError, match=f"invalid UTF-8 at byte {130_000}"):
        read_text(path)


def test_iter_text_byte_ranges(tmp_path):
    path = write(tmp_path / "a.txt", "ab\ncafé\nxyz\n".encode())
    assert "".join(iter_text(path, start=3, end=9)) == "café\n"
    assert "".join(iter_text(path, start=9)) == "xyz\n"
    with pytest.raises(TextFileError, match="invalid UTF-8 at byte 6"):  # an end inside "é" (bytes 6, 7)
        "".join(iter_text(path, start=3, end=7))
    with pytest.raises(TextFileError, match="invalid UTF-8 at byte 7"):  # a start inside it
        "".join(iter_text(path, start=7))
    with pytest.raises(TextFileError, match="no such file"):
        list(iter_text(tmp_path / "missing.txt"))


def test_line_start_after(tmp_path):
    path = write(tmp_path / "a.txt", b"ab\ncd\n\nef")  # line starts: 0, 3, 6, 7
    starts = [line_start_after(path, offset) for offset in range(11)]
    assert starts == [0, 3, 3, 3, 6, 6, 6, 7, 9, 9, 9]  # 9: the file size, no more line starts


def test_line_start_after_far_from_offset(tmp_path):
    path = write(tmp_path / "a.txt", b"x" * 200_000 + b"\nlast")
    assert line_start_after(path, 10) == 200_001


# ---- find_documents -------------------------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path):
    for name in ["b.txt", "a.md", "sub/c.txt", "sub/deeper/d.txt", ".hidden.txt", ".git/e.txt", "sub/.f.txt"]:
        write(tmp_path / name, f"text of {name}\n".encode())
    write(tmp_path / "figure.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    return tmp_path


def test_find_documents_in_a_folder(tree):
    found = find_documents(str(tree))
    assert [p.relative_to(tree).as_posix() for p in found] == ["a.md", "b.txt", "sub/c.txt", "sub/deeper/d.txt"]


def test_find_documents_by_glob_and_single_file(tree):
    found = find_documents(str(tree / "**" / "*.txt"))
    assert [p.relative_to(tree).as_posix() for p in found] == ["b.txt", "sub/c.txt", "sub/deeper/d.txt"]
    assert find_documents(str(tree / "a.md")) == [tree / "a.md"]
    with pytest.raises(TextFileError, match=r"\*\.csv: no files match"):
        find_documents(str(tree / "*.csv"))
    with pytest.raises(TextFileError, match="no such file or folder"):
        find_documents(str(tree / "nope"))


def test_find_documents_skips_files_that_are_not_text_with_a_warning_each(tree, caplog):
    write(tree / "sub" / "blob.dat", b"\x00\x01\x02\x03")
    write(tree / "sub" / "wide.txt", "hi".encode("utf-16"))
    found = find_documents(str(tree))
    assert [p.relative_to(tree).as_posix() for p in found] == ["a.md", "b.txt", "sub/c.txt", "sub/deeper/d.txt"]
    lines = caplog.text.splitlines()
    assert any("blob.dat: looks like a binary file" in line for line in lines)
    assert any("wide.txt: UTF-16 text" in line for line in lines)
    assert any("skipped 2 of 6 files that are not UTF-8 text" in line for line in lines)
    with pytest.raises(TextFileError, match=r"\*\.png: none of its 1 file\(s\) is usable.*figure\.png: looks like"):
        find_documents(str(tree / "*.png"))  # a pattern that names only binaries: nothing usable
    with pytest.raises(TextFileError, match=r"blob\.dat: looks like a binary file"):
        find_documents(str(tree / "sub" / "blob.dat"))  # a file named alone must be text


# ---- default corpus -------------------------------------------------------------------------------------
def test_default_corpus_is_deterministic_english():
    docs = default_corpus()
    names = [name for name, _ in docs]
    assert len(docs) > 100 and len(set(names)) == len(names)
    assert names[0] == "topics/assert" and any(n.startswith("stdlib/") and n.endswith(".py") for n in names)
    assert 500_000 < sum(len(text) for _, text in docs) < 5_000_000
    assert "Assert statements are a convenient way to insert debugging assertions" in dict(docs)["topics/assert"]
    words = " ".join(text for _, text in docs[:50]).split()
    assert sum(w.lower() in {"the", "a", "is", "of", "to"} for w in words) > len(words) / 20  # English prose
    assert all(text.strip() for _, text in docs)
    assert default_corpus() == docs
