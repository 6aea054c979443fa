"""Scores through music21: MusicXML built here with music21 itself, hand-written ABC and Humdrum files, files
that are refused, the corpus Bach chorales (a few of them) and their cache, and a MIDI file of ``write_midi``
that music21 reads with the same notes."""

import gzip
import json
from pathlib import Path

import music21
import pytest
from music21 import chord, meter, note, stream

from rnnkit.tasks.music import scores
from rnnkit.tasks.music.midi import _runs, write_midi
from rnnkit.tasks.music.preprocess import read_pianoroll_json
from rnnkit.tasks.music.scores import SCORE_SUFFIXES, bach_chorales, cache_root, read_score, split_pieces

ABC = """X:1
T:tiny
M:4/4
L:1/4
K:C
C D [EG] z | c2- c2 | {d}B4 |]
"""
# Two spines: the left a bass (C is C3, MIDI 48), the right an upper voice (c is middle C) with a tie ([ ... ]).
KERN = """**kern\t**kern
*M4/4\t*M4/4
=1-\t=1-
4C\t4c
4D\t4e
2E\t4r
.\t[4g
=2\t=2
1C\t4g]
.\t2.r
==\t==
*-\t*-
"""


def error_message(path: Path, **kwargs) -> str:
    """The message of the ValueError that ``read_score(path, **kwargs)`` raises: one line starting with the path."""
    with pytest.raises(ValueError) as err:
        read_score(path, **kwargs)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return message


def small_score() -> stream.Score:
    """4/4, two parts. Upper: a C major chord, a rest, a dotted half D4 (over the bar line), a grace F4, A4, a
    half rest. Lower: a whole C3, then a quarter's triplet of E3s and a half rest."""
    upper = stream.Part([meter.TimeSignature("4/4")])
    upper.append([chord.Chord(["C4", "E4", "G4"]), note.Rest(), note.Note("D4", quarterLength=3),
                  note.Note("F4").getGrace(), note.Note("A4"), note.Rest(quarterLength=2)])
    lower = stream.Part([meter.TimeSignature("4/4"), note.Note("C3", quarterLength=4)])
    lower.append([note.Note("E3", quarterLength=1 / 3) for _ in range(3)] + [note.Rest(quarterLength=2)])
    return stream.Score([upper, lower])


# ---- MusicXML, ABC, Humdrum -------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".musicxml", ".xml", ".mxl"])
def test_a_musicxml_score_built_with_music21_reads_back(tmp_path, suffix):
    path = tmp_path / f"small{suffix}"
    small_score().write("mxl" if suffix == ".mxl" else "musicxml", fp=path)
    # D4 (3 beats) crosses the bar line: music21 writes it as tied notes, read back as one. The grace F4 is
    # dropped and rests sound nothing. At 3 steps a beat the triplet (beat 5) is steps 12, 13, 14; at 1 step
    # a beat its onsets 4, 4 1/3, 4 2/3 round to steps 4, 4, 5, so the last E3 sounds at step 5.
    assert read_score(path, steps_per_beat=1) == [[48, 60, 64, 67], [48], [48, 62], [48, 62], [52, 62], [52, 69]]
    assert read_score(path, steps_per_beat=3) == (
        [[48, 60, 64, 67]] * 3 + [[48]] * 3 + [[48, 62]] * 6 + [[52, 62]] * 3 + [[69]] * 3)


def test_ties_are_joined_into_one_note(tmp_path):
    path = tmp_path / "small.musicxml"
    small_score().write("musicxml", fp=path)
    parsed = music21.converter.parse(path, forceSource=True)
    assert len([n for n in parsed.flatten().notes if n.tie is not None]) == 2  # written as two tied notes
    d4 = [(onset, offset) for pitch, onset, offset in scores._notes(path, parsed) if pitch == 62]
    assert d4 == [(2, 5)]  # read as one, two beats into the first bar to one beat into the second


def test_a_hand_written_abc_tune_reads_back(tmp_path):
    path = tmp_path / "tiny.abc"
    path.write_text(ABC)
    # C D [EG] rest | c tied over two halves | a grace d (dropped), then a whole B
    assert read_score(path, steps_per_beat=1) == [[60], [62], [64, 67], [], *[[72]] * 4, *[[71]] * 4]


def test_a_hand_written_humdrum_kern_file_reads_back(tmp_path):
    path = tmp_path / "tiny.krn"
    path.write_text(KERN)
    assert read_score(path, steps_per_beat=1) == [[48, 60], [50, 64], [52], [52, 67], [48, 67], [48], [48], [48]]
    assert read_score(path, steps_per_beat=2)[:4] == [[48, 60], [48, 60], [50, 64], [50, 64]]


def test_a_score_without_notes_is_an_empty_piece(tmp_path):
    path = tmp_path / "rests.musicxml"
    stream.Score([stream.Part([meter.TimeSignature("4/4"), note.Rest(quarterLength=4)])]).write("musicxml", fp=path)
    assert read_score(path) == []


def test_score_suffixes_name_the_formats_read():
    assert set(SCORE_SUFFIXES) == {".xml", ".musicxml", ".mxl", ".abc", ".krn"}


# ---- refused files ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "data"), [("broken.xml", b"<score-partwise><part id='P1'><measure"),
                                             ("broken.mxl", b"PK\x03\x04 not really a zip"),
                                             ("broken.krn", b"\x00\xff\xfe garbage"),
                                             ("empty.xml", b"")])
def test_a_corrupt_file_is_a_one_line_value_error_naming_it(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    assert "not a readable score" in error_message(path)


def test_other_suffixes_and_bad_settings_are_refused(tmp_path):
    path = tmp_path / "tune.mid"
    path.write_bytes(b"MThd")
    assert "not a score file" in error_message(path)
    with pytest.raises(ValueError, match="steps_per_beat"):
        read_score(path, steps_per_beat=0)
    with pytest.raises(FileNotFoundError):
        read_score(tmp_path / "missing.xml")


def test_a_tune_book_of_several_works_is_refused(tmp_path):
    path = tmp_path / "book.abc"
    path.write_text(ABC + "\n" + ABC.replace("X:1", "X:2"))
    assert "2 works" in error_message(path)


def test_size_note_and_step_guards(tmp_path, monkeypatch):
    path = tmp_path / "small.musicxml"
    small_score().write("musicxml", fp=path)
    assert "max_notes=5" in error_message(path, max_notes=5)  # 9 pitched notes, ties joined
    assert "beyond max_steps=5" in error_message(path, steps_per_beat=1, max_steps=5)
    assert len(read_score(path, steps_per_beat=1, max_notes=9, max_steps=6)) == 6  # the limits themselves pass
    monkeypatch.setattr(scores, "MAX_BYTES", path.stat().st_size - 1)
    assert "refused" in error_message(path)


def test_an_mxl_archive_that_unpacks_too_large_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "small.mxl"
    small_score().write("mxl", fp=path)
    monkeypatch.setattr(scores, "MAX_BYTES", path.stat().st_size + 10)  # the archive passes, its contents don't
    assert "unpacks to" in error_message(path)


# ---- MIDI written by write_midi ---------------------------------------------------------------------------
def test_a_midi_file_of_write_midi_parses_with_music21_with_its_notes(tmp_path):
    piece = [[60, 64, 67], [60, 64, 67], [], [59, 62], [59, 72], [], [55], [60], [60], [60], [60], [60]]
    path = write_midi(piece, tmp_path / "p.mid", steps_per_beat=2)
    parsed = music21.converter.parse(path, forceSource=True)
    notes = parsed.stripTies().flatten().notes  # music21 splits notes at its bar lines into tied notes
    assert sum(len(n.pitches) for n in notes) == len(_runs(piece)) == 8  # one note per run of steps: an onset


# ---- the Bach chorales ------------------------------------------------------------------------------------
def test_the_chorale_list_names_each_file_once_and_exactly():
    paths = scores._chorale_paths()
    assert len(paths) == len(set(paths)) > 300
    assert all(p.suffix in (".mxl", ".xml") and p.is_file() for p in paths)
    assert scores._corpus_file("bach/bwv244.3").name == "bwv244.3.mxl"  # not bwv244.32 or bwv244.37
    assert scores._corpus_file("bach/bwv366").name == "bwv366.mxl"  # MusicXML before the Humdrum twin


@pytest.fixture
def five_chorales(monkeypatch):
    """Five corpus files for ``bach_chorales``: four four-part chorales, the first twice (a repeated roll)."""
    paths = scores._chorale_paths()[:4]
    monkeypatch.setattr(scores, "_chorale_paths", lambda: [*paths, paths[0]])
    return paths


def test_bach_chorales_splits_a_few_chorales_and_caches_them(tmp_path, monkeypatch, five_chorales):
    splits = bach_chorales(cache_dir=tmp_path)
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [2, 1, 1]  # the repeat dropped
    pitches = [p for pieces in splits.values() for piece in pieces for step in piece for p in step]
    assert min(pitches) >= 36 and max(pitches) <= 84
    expected = read_score(five_chorales[0], steps_per_beat=1)
    assert sum(piece == expected for pieces in splits.values() for piece in pieces) == 1

    cache = tmp_path / f"bach-chorales-satb-music21-{music21.__version__}-spb1.json.gz"
    assert [p.name for p in tmp_path.iterdir()] == [cache.name]  # no temporary file left behind
    assert read_pianoroll_json(cache) == splits
    assert json.loads(gzip.decompress(cache.read_bytes())) == splits

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(scores, "_read_parts", no_parsing)
    assert bach_chorales(cache_dir=tmp_path) == splits
    with pytest.raises(AssertionError, match="parsed again"):  # another grid is another cache file
        bach_chorales(cache_dir=tmp_path, steps_per_beat=2)


def test_bach_chorales_on_a_finer_grid_is_the_same_music(tmp_path, five_chorales):
    coarse, fine = bach_chorales(cache_dir=tmp_path), bach_chorales(cache_dir=tmp_path, steps_per_beat=2)
    for split in coarse:
        assert [len(piece) * 2 for piece in coarse[split]] == [len(piece) for piece in fine[split]]


def test_chorales_that_are_not_four_part_or_unreadable_are_skipped(tmp_path, monkeypatch, caplog):
    broken = tmp_path / "broken.mxl"
    broken.write_bytes(b"nothing")
    five_parts = music21.corpus.getWork("bach/bwv8.6")  # a continuo besides the voices
    paths = [*scores._chorale_paths()[:3], Path(five_parts), broken]
    monkeypatch.setattr(scores, "_chorale_paths", lambda: paths)
    splits = bach_chorales(cache_dir=tmp_path / "cache")
    assert sum(map(len, splits.values())) == 3
    assert f"skipping {broken}: not a readable score" in caplog.text


def test_too_few_usable_chorales_is_a_value_error(tmp_path, monkeypatch):
    two = scores._chorale_paths()[:2]
    monkeypatch.setattr(scores, "_chorale_paths", lambda: two)
    with pytest.raises(ValueError, match="only 2 usable"):
        bach_chorales(cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_split_pieces_is_seeded_by_piece_and_about_80_10_10():
    pieces = [[[i]] for i in range(349)]
    splits = split_pieces(pieces)
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [279, 35, 35]
    assert splits == split_pieces(pieces) != split_pieces(pieces, seed=1)
    assert sorted(p[0][0] for pieces in splits.values() for p in pieces) == list(range(349))
    assert [len(v) for v in split_pieces(pieces[:3]).values()] == [1, 1, 1]
    with pytest.raises(ValueError, match="at least 3"):
        split_pieces(pieces[:2])


def test_cache_root_follows_the_xdg_convention(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "rnnkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "rnnkit"
