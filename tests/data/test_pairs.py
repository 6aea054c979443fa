"""Pair readers: TSV, aligned files, Cornell movie lines and dialogue transcripts; every error one line naming the
file (and the line); the real translation and chat data where it is present."""

import logging
import time
from pathlib import Path

import pytest

from rnnkit.data.pairs import Pair, PairsDataError, dialogue_pairs, pair_splits, read_pairs

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def rows(pairs: list[Pair]) -> list[tuple[str, str]]:
    return [(p.source, p.target) for p in pairs]


def error_message(at: str, path, **kwargs) -> str:
    """The message of the PairsDataError that ``read_pairs(path, **kwargs)`` raises, one line starting ``at``."""
    with pytest.raises(PairsDataError) as err:
        read_pairs(path, **kwargs)
    message = str(err.value)
    assert message.startswith(at), message
    assert "\n" not in message
    return message


# ---- TSV --------------------------------------------------------------------------------------------------
def test_tsv_with_bom_crlf_extra_columns_and_whitespace(tmp_path):
    path = write(
        tmp_path / "eng-fra.txt", "\ufeffGo.\tVa !\tCC-BY 2.0\r\n  Hi  there \t Salut\t#1\t#2\r\nRun!\tCours !"
    )
    pairs = read_pairs(path)
    assert pairs == [
        Pair("Go.", "Va !", f"{path}:1"),
        Pair("Hi  there", "Salut", f"{path}:2"),  # the ends stripped, the inside kept
        Pair("Run!", "Cours !", f"{path}:3"),
    ]


def test_tsv_columns_swapped_or_chosen(tmp_path):
    path = write(tmp_path / "p.tsv", "a\tb\tc\nd\te\tf\n")
    assert rows(read_pairs(path, src="1", tgt="0")) == [("b", "a"), ("e", "d")]
    assert rows(read_pairs(path, src="2", tgt="0", fmt="tsv")) == [("c", "a"), ("f", "d")]
    with pytest.raises(ValueError, match="column indices"):
        read_pairs(path, src="en", tgt="fr")
    with pytest.raises(ValueError, match="same column"):
        read_pairs(path, src="1", tgt="1")


def test_tsv_short_line_names_the_line(tmp_path):
    path = write(tmp_path / "p.tsv", "a\tb\nno tab here\nc\td\n")
    message = error_message(f"{path}:2:", path)
    assert message == f"{path}:2: expected a source and a target separated by a tab, found 1 column"
    assert error_message(f"{path}:1:", path, src="0", tgt="2").endswith(
        "expected 3 tab-separated columns, found 2 columns"
    )


def test_empty_sides_are_dropped_with_one_warning(tmp_path, caplog):
    path = write(tmp_path / "p.tsv", "a\tb\n\t only target\n\nc\td\n  \t  \ne\tf\n\n\n")
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.pairs"):
        pairs = read_pairs(path)
    assert rows(pairs) == [("a", "b"), ("c", "d"), ("e", "f")]
    assert [r.getMessage() for r in caplog.records] == [f"dropped 3 pair(s) with an empty side, the first at {path}:2"]


def test_empty_sides_raise_without_skip_empty(tmp_path, caplog):
    path = write(tmp_path / "p.tsv", "a\tb\nc\t\ne\tf\n\n")
    assert error_message(f"{path}:2:", path, skip_empty=False).startswith(f"{path}:2: empty target")
    ends_blank = write(tmp_path / "q.tsv", "a\tb\n\n\n")  # blank lines at the end are not pairs
    with caplog.at_level(logging.WARNING):
        assert rows(read_pairs(ends_blank, skip_empty=False)) == [("a", "b")]
    assert not caplog.records


def test_non_utf8_gives_line_and_byte_offset(tmp_path):
    path = write(tmp_path / "p.tsv", b"ok\tbien\ncaf\xe9\tx\n")
    assert error_message(f"{path}:2:", path) == f"{path}:2: not UTF-8 text (byte offset 11)"
    binary = write(tmp_path / "b.tsv", b"a\tb\nc\0\td\n")
    assert "NUL byte at offset 5" in error_message(f"{binary}:2:", binary)


def test_missing_empty_and_unrecognised_files(tmp_path):
    assert "no such file" in error_message(f"{tmp_path / 'nope.tsv'}:", tmp_path / "nope.tsv")
    assert "no such file" in error_message(f"{tmp_path / 'nope.tsv'}:", tmp_path / "nope.tsv", fmt="tsv")
    empty = write(tmp_path / "e.tsv", b"")
    assert error_message(f"{empty}:", empty) == f"{empty}: the file is empty"
    blank = write(tmp_path / "blank.tsv", "\t\n")
    assert error_message(f"{blank}:", blank) == f"{blank}: no pairs"
    prose = write(tmp_path / "prose.txt", "one line\nanother line\n")
    assert "pass fmt=" in error_message(f"{prose}:", prose)


def test_bad_arguments(tmp_path):
    path = write(tmp_path / "p.tsv", "a\tb\n")
    with pytest.raises(ValueError, match="fmt='csv'"):
        read_pairs(path, fmt="csv")
    with pytest.raises(ValueError, match="context_turns"):
        read_pairs(path, context_turns=0)


# ---- two line-aligned files -------------------------------------------------------------------------------
def test_aligned_folder_splits_with_valid_as_val(tmp_path):
    write(tmp_path / "train.de", "\ufeffEin Hund.\r\nZwei Katzen.\r\n")
    write(tmp_path / "train.en", "A dog.\nTwo cats.\n\n")  # a blank line at the end is not a line
    write(tmp_path / "valid.de", "Ja.\n")
    write(tmp_path / "valid.en", "Yes.\n")
    write(tmp_path / "notes.md", "not a split\n")
    splits = pair_splits(tmp_path, src="de", tgt="en")
    assert list(splits) == ["train", "val"]
    assert splits["train"] == [
        Pair("Ein Hund.", "A dog.", f"{tmp_path / 'train.de'}:1"),
        Pair("Zwei Katzen.", "Two cats.", f"{tmp_path / 'train.de'}:2"),
    ]
    assert rows(read_pairs(tmp_path, src="en", tgt="de", split="val")) == [("Yes.", "Ja.")]
    assert rows(read_pairs(tmp_path, src="de", tgt="en", split="dev")) == [("Ja.", "Yes.")]


def test_aligned_prefix(tmp_path):
    write(tmp_path / "data" / "train.en", "hello\nworld\n")
    write(tmp_path / "data" / "train.fr", "bonjour\nmonde\n")
    assert rows(read_pairs(tmp_path / "data" / "train", src="en", tgt="fr")) == [
        ("hello", "bonjour"),
        ("world", "monde"),
    ]
    message = error_message(f"{tmp_path / 'data' / 'train'}:", tmp_path / "data" / "train")
    assert "need src and tgt" in message and "train.en, train.fr" in message


def test_misaligned_files_name_both_files_and_counts(tmp_path):
    de = write(tmp_path / "train.de", "a\nb\nc\n")
    en = write(tmp_path / "train.en", "A\nB\n\n\n")
    message = error_message(f"{de} has 3 lines but {en} has 2", tmp_path, src="de", tgt="en")
    assert "train.de has 3 lines but" in message


def test_aligned_empty_line_dropped_or_raised(tmp_path, caplog):
    write(tmp_path / "x.de", "a\n\nc\n")
    write(tmp_path / "x.en", "A\nB\nC\n")
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.pairs"):
        assert rows(read_pairs(tmp_path / "x", src="de", tgt="en")) == [("a", "A"), ("c", "C")]
    assert (
        caplog.records[0]
        .getMessage()
        .endswith(f"dropped 1 pair(s) with an empty side, the first at {tmp_path / 'x.de'}:2")
    )
    error_message(f"{tmp_path / 'x.de'}:2: empty source", tmp_path / "x", src="de", tgt="en", skip_empty=False)


def test_folder_without_the_split_or_a_side(tmp_path):
    write(tmp_path / "test.de", "a\n")
    write(tmp_path / "test.en", "A\n")
    assert "no train split" in error_message(f"{tmp_path}:", tmp_path, src="de", tgt="en")
    assert list(pair_splits(tmp_path, src="de", tgt="en")) == ["test"]
    with pytest.raises(PairsDataError, match="no train, val or test files .fr and .it"):
        pair_splits(tmp_path, src="fr", tgt="it")
    with pytest.raises(PairsDataError, match="test.fr: no such file"):  # one side there, the other missing
        pair_splits(tmp_path, src="fr", tgt="en")
    write(tmp_path / "train.de", "a\n")
    assert error_message(f"{tmp_path / 'train.en'}:", tmp_path, src="de", tgt="en").endswith("no such file")
    write(tmp_path / "valid.de", "a\n")
    write(tmp_path / "dev.de", "a\n")
    assert "twice" in error_message(f"{tmp_path}:", tmp_path, src="de", tgt="en", split="val")


# ---- Cornell movie lines ----------------------------------------------------------------------------------
CORNELL = """\
L10 +++$+++ u3 +++$+++ m1 +++$+++ DAN +++$+++ Fine.
L9 +++$+++ u2 +++$+++ m1 +++$+++ EVE +++$+++ How  is it?
L7 +++$+++ u3 +++$+++ m1 +++$+++ DAN +++$+++ Yes.
L6 +++$+++ u2 +++$+++ m1 +++$+++ EVE +++$+++ Ready?
L5 +++$+++ u0 +++$+++ m0 +++$+++ ANN +++$+++ Good, thanks.
L4 +++$+++ u1 +++$+++ m0 +++$+++ BOB +++$+++ How are you?
L3 +++$+++ u0 +++$+++ m0 +++$+++ ANN +++$+++ Hi.
L1 +++$+++ u1 +++$+++ m0 +++$+++ BOB +++$+++ Alone.
"""


def test_cornell_conversations_are_runs_of_ids_in_one_movie(tmp_path):
    path = write(tmp_path / "movie_lines.txt", CORNELL.replace("\n", "\r\n"))
    assert read_pairs(path) == [  # L1 stands alone (L2 is missing); L5 and L6 are in different movies
        Pair("Hi.", "How are you?", f"{path}:7"),
        Pair("How are you?", "Good, thanks.", f"{path}:6"),
        Pair("Ready?", "Yes.", f"{path}:4"),
        Pair("How  is it?", "Fine.", f"{path}:2"),  # L8 is missing
    ]
    assert rows(read_pairs(path, context_turns=2)) == [
        ("Hi.", "How are you?"),
        ("Hi.\nHow are you?", "Good, thanks."),
        ("Ready?", "Yes."),
        ("How  is it?", "Fine."),
    ]


def test_cornell_latin1_fallback_and_empty_utterance(tmp_path, caplog):
    text = "L3 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ Caf\xe9?\nL2 +++$+++ u1 +++$+++ m0 +++$+++ B +++$+++ \n"
    path = write(tmp_path / "lines.txt", (text + "L1 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ Hm.\n").encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.pairs"):
        assert read_pairs(path, context_turns=2) == [Pair("Hm.", "Caf\xe9?", f"{path}:3")]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == f"{path}:1: not UTF-8 text (byte offset 46); reading the file as Latin-1"
    assert messages[1] == f"dropped 1 pair(s) with an empty side, the first at {path}:3"
    error_message(f"{path}:3: empty target", path, skip_empty=False)


def test_cornell_errors(tmp_path):
    short = write(tmp_path / "short.txt", "L1 +++$+++ u0 +++$+++ m0 +++$+++ only four\n")
    assert "expected 5 fields" in error_message(f"{short}:1:", short)
    bad_id = write(tmp_path / "id.txt", "X1 +++$+++ u0 +++$+++ m0 +++$+++ A +++$+++ Hi.\n")
    assert "'X1' is not L followed by digits" in error_message(f"{bad_id}:1:", bad_id)
    twice = write(tmp_path / "twice.txt", CORNELL + "L4 +++$+++ u1 +++$+++ m0 +++$+++ BOB +++$+++ Again?\n")
    assert "L4 appears twice" in error_message(f"{twice}:", twice)
    with pytest.raises(ValueError, match="takes neither"):
        read_pairs(write(tmp_path / "ok.txt", CORNELL), src="0")


# ---- dialogue transcripts ---------------------------------------------------------------------------------
def test_dialogue_transcript_blocks(tmp_path):
    text = "\nHi.\n  Hello there.  \nHow are you?\n\n\n \nBye.\nSee you.\n\nAlone.\n"
    path = write(tmp_path / "chat.txt", text)
    assert read_pairs(path) == [
        Pair("Hi.", "Hello there.", f"{path}:2"),
        Pair("Hello there.", "How are you?", f"{path}:3"),
        Pair("Bye.", "See you.", f"{path}:8"),
    ]
    assert rows(read_pairs(path, context_turns=2))[1] == ("Hi.\nHello there.", "How are you?")
    one_block = write(tmp_path / "chat.dialogue", "Hi.\nHello.\n")  # the suffix says it; no blank line needed
    assert rows(read_pairs(one_block)) == [("Hi.", "Hello.")]
    assert rows(read_pairs(write(tmp_path / "plain", "a\nb\n"), fmt="dialogue")) == [("a", "b")]


def test_txt_with_tabs_is_tsv_not_dialogue(tmp_path):
    path = write(tmp_path / "pairs.txt", "a\tb\n\nc\td\n")
    assert rows(read_pairs(path)) == [("a", "b"), ("c", "d")]


def test_dialogue_pairs():
    turns = [["Hi.", "Hello.", "How are you?", "Fine."], ["Bye."], []]
    assert dialogue_pairs(turns) == [("Hi.", "Hello."), ("Hello.", "How are you?"), ("How are you?", "Fine.")]
    assert dialogue_pairs(turns, context_turns=2, sep=" ||| ")[1:] == [
        ("Hi. ||| Hello.", "How are you?"),
        ("Hello. ||| How are you?", "Fine."),
    ]
    assert dialogue_pairs(turns, context_turns=9)[-1] == ("Hi.\nHello.\nHow are you?", "Fine.")
    with pytest.raises(ValueError, match="context_turns"):
        dialogue_pairs(turns, context_turns=0)


# ---- real data --------------------------------------------------------------------------------------------
@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    return SHARED_DATA


def test_multi30k_splits(shared_data):
    folder = shared_data / "translation" / "multi30k"
    start = time.perf_counter()
    train = read_pairs(folder, src="de", tgt="en")
    assert time.perf_counter() - start < 1.0
    splits = pair_splits(folder, src="de", tgt="en")
    assert {name: len(pairs) for name, pairs in splits.items()} == {"train": 29000, "val": 1014, "test": 1000}
    first_de = (folder / "train.de").read_text(encoding="utf-8").split("\n")[0].strip()
    first_en = (folder / "train.en").read_text(encoding="utf-8").split("\n")[0].strip()
    assert splits["train"][0] == train[0] == Pair(first_de, first_en, f"{folder / 'train.de'}:1")


def test_tatoeba(shared_data):
    pairs = read_pairs(shared_data / "translation" / "tatoeba-eng-fra-5k.txt")
    assert len(pairs) == 5000
    assert (pairs[0].source, pairs[0].target) == ("Go.", "Va !")


def test_cornell_file(shared_data):
    pairs = read_pairs(shared_data / "chat" / "cornell-movie-lines-m0-m58.txt")
    assert len(pairs) > 20000
    assert all(p.source and p.target for p in pairs)
