"""Labelled-data readers: every format, every error (one line, the file first, then the line), stratified splits."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import ts
from rnnkit.data.labelled import LabelledDataError, read_labelled, stratified_split
from rnnkit.data.ts import default_labelled, read_ts

SENTIMENT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sentiment"  # ../shared beside the repo
NAN = float("nan")


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def rows(data):
    return [(e.x, e.label, e.source) for e in data.examples]


def error_message(call, spec, *, at: str) -> str:
    """The message of the LabelledDataError that ``call(spec)`` raises, checked to be one line starting ``at``."""
    with pytest.raises(LabelledDataError) as err:
        call(spec)
    message = str(err.value)
    assert message.startswith(at), message
    assert "\n" not in message
    return message


# ---- CSV, TSV, JSON lines ----------------------------------------------------------------------------------
def test_csv_quotes_commas_doubled_quotes_newlines_bom_and_blank_lines(tmp_path):
    text = '\ufefftext,label\n"hello, world",pos\n\n"she said ""no""",neg\n"two\nlines", pos\n   \nplain,neg\n'
    path = write(tmp_path / "d.csv", text)
    data = read_labelled(path)
    assert data.kind == "text" and len(data) == 4 and data.classes == ["neg", "pos"]
    assert rows(data) == [
        ("hello, world", "pos", f"{path}:2"),
        ('she said "no"', "neg", f"{path}:4"),
        ("two\nlines", "pos", f"{path}:5"),  # the line where the record starts
        ("plain", "neg", f"{path}:8"),
    ]


def test_csv_with_crlf_line_ends(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\r\nhi,a\r\n"x\r\ny",b\r\nlast,a\r\n')
    expected = [("hi", "a", f"{path}:2"), ("x\r\ny", "b", f"{path}:3"), ("last", "a", f"{path}:5")]
    assert rows(read_labelled(path)) == expected


@pytest.mark.parametrize("suffix", [".tsv", ".tab"])
def test_tsv_with_named_columns(tmp_path, suffix):
    path = write(tmp_path / f"d{suffix}", 'id\tsentence\ty\n1\ta, b\tpos\n2\t"quoted\ttab"\tneg\n')
    data = read_labelled(path, text_column="sentence", label_column="y")
    assert rows(data) == [("a, b", "pos", f"{path}:2"), ("quoted\ttab", "neg", f"{path}:3")]


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".json"])
def test_json_lines_with_number_labels(tmp_path, suffix):
    records = [{"text": "naïve 東京", "label": 1}, {"id": 7, "label": 0, "text": " bad "}, {"text": "x", "label": "2"}]
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    path = write(tmp_path / f"d{suffix}", "\ufeff" + lines[0] + "\n\n" + lines[1] + "\n" + lines[2])
    data = read_labelled(path)
    assert data.kind == "text" and data.classes == ["0", "1", "2"]
    assert rows(data) == [("naïve 東京", "1", f"{path}:1"), ("bad", "0", f"{path}:3"), ("x", "2", f"{path}:4")]


# ---- numeric tables ---------------------------------------------------------------------------------------
def test_numeric_wide_csv_with_ragged_rows(tmp_path):
    path = write(tmp_path / "w.csv", "label,t1,t2,t3,t4\na,1,2,3,4\nb,0.5,-1,,\n\na,1e3,,7,\n")
    data = read_labelled(path)
    assert data.kind == "numeric" and data.labels == ["a", "b", "a"]
    assert [e.source for e in data.examples] == [f"{path}:2", f"{path}:3", f"{path}:5"]
    assert all(e.x.dtype == np.float32 and e.x.ndim == 2 for e in data.examples)
    np.testing.assert_array_equal(data.examples[0].x, [[1], [2], [3], [4]])
    np.testing.assert_array_equal(data.examples[1].x, [[0.5], [-1]])  # trailing empty cells trimmed
    np.testing.assert_array_equal(data.examples[2].x, [[1000], [NAN], [7]])  # an inner empty cell is missing


def test_numeric_wide_csv_with_the_label_last(tmp_path):
    path = write(tmp_path / "w.csv", "t1,t2,label\n1,2,a\n3,,b\n")
    data = read_labelled(path)
    np.testing.assert_array_equal(data.examples[0].x, [[1], [2]])
    np.testing.assert_array_equal(data.examples[1].x, [[3]])


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t")])
def test_headerless_ucr_table_has_the_label_first(tmp_path, suffix, sep):
    lines = ["1,0.25,0.5,0.75", "-1,1.5,,2.5", "1,4,5,"]
    path = write(tmp_path / f"ucr{suffix}", "".join(line.replace(",", sep) + "\n" for line in lines))
    data = read_labelled(path)
    assert data.kind == "numeric" and data.labels == ["1", "-1", "1"] and data.classes == ["-1", "1"]
    assert [e.source for e in data.examples] == [f"{path}:1", f"{path}:2", f"{path}:3"]
    np.testing.assert_array_equal(data.examples[0].x, [[0.25], [0.5], [0.75]])
    np.testing.assert_array_equal(data.examples[1].x, [[1.5], [NAN], [2.5]])
    np.testing.assert_array_equal(data.examples[2].x, [[4], [5]])


# ---- sktime .ts -------------------------------------------------------------------------------------------
MULTIVARIATE_TS = """# Two dimensions, missing values, unequal lengths
@problemName Toy
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
1,2,3:4,5,6:up
# a comment among the data

?,2:3,?:down
"""

UNIVARIATE_TS = """@problemName Uni
@timeStamps false
@univariate true
@equalLength true
@seriesLength 4
@classLabel true 0 1
@data
0.5,1.5,2.5,3.5:0
1,2,3,4:1
"""


@pytest.mark.parametrize("reader", [read_ts, read_labelled])
def test_multivariate_ts_with_missing_values(tmp_path, reader):
    path = write(tmp_path / "toy.ts", MULTIVARIATE_TS)
    data = reader(path)
    assert data.kind == "numeric" and data.labels == ["up", "down"]
    assert [e.source for e in data.examples] == [f"{path}:10", f"{path}:13"]
    assert data.examples[0].x.dtype == np.float32
    np.testing.assert_array_equal(data.examples[0].x, [[1, 4], [2, 5], [3, 6]])  # (T, D)
    np.testing.assert_array_equal(data.examples[1].x, [[NAN, 3], [2, NAN]])


def test_univariate_ts(tmp_path):
    data = read_labelled(write(tmp_path / "uni.ts", UNIVARIATE_TS))
    assert data.classes == ["0", "1"] and [e.x.shape for e in data.examples] == [(4, 1), (4, 1)]
    np.testing.assert_array_equal(data.examples[0].x[:, 0], [0.5, 1.5, 2.5, 3.5])


# ---- folders ----------------------------------------------------------------------------------------------
def test_folder_per_class(tmp_path):
    root = tmp_path / "imdb"
    write(root / "pos" / "1_9.txt", "  Great film.\n")
    write(root / "pos" / "0_10.txt", "Loved it")
    write(root / "neg" / "3_2.txt", "Dull.")
    write(root / "neg" / ".hidden", "not an example")
    write(root / "neg" / "nested" / "deep.txt", "not directly inside the class folder")
    write(root / ".git" / "HEAD", "a hidden folder")
    write(root / "empty" / "sub" / "x.txt", "a folder with no file directly inside is no class")
    write(root / "urls.pos", "subfolders win over line files\n")
    write(root / "urls.neg", "subfolders win over line files\n")
    data = read_labelled(root)
    assert data.kind == "text"
    assert rows(data) == [
        ("Dull.", "neg", str(root / "neg" / "3_2.txt")),
        ("Loved it", "pos", str(root / "pos" / "0_10.txt")),
        ("Great film.", "pos", str(root / "pos" / "1_9.txt")),
    ]


def test_line_files_by_folder_and_by_stem(tmp_path):
    root = tmp_path / "sent"
    write(root / "rt.pos", "good one \n\nfine\n")
    write(root / "rt.neg", "bad\n")
    (root / "unused").mkdir()  # a subfolder without files does not win
    write(root / "notes.txt", "no sibling with the same stem")
    write(root / "rt.csv", "text,label\n")  # a format suffix is not a label
    expected = [("bad", "neg", f"{root / 'rt.neg'}:1"), ("good one", "pos", f"{root / 'rt.pos'}:1"),
                ("fine", "pos", f"{root / 'rt.pos'}:3")]  # fmt: skip
    assert rows(read_labelled(root)) == expected
    assert rows(read_labelled(root / "rt")) == expected
    assert rows(read_labelled(str(root / "rt"))) == expected


@pytest.mark.skipif(not SENTIMENT.is_dir(), reason=f"the sentiment data is not at {SENTIMENT}")
@pytest.mark.parametrize("spec", [SENTIMENT, SENTIMENT / "rt-polarity"])
def test_real_sentiment_folder(spec):
    data = read_labelled(spec)
    assert data.kind == "text" and len(data) == 10662 and data.classes == ["neg", "pos"]
    assert data.labels.count("pos") == data.labels.count("neg") == 5331
    assert data.examples[0].source == f"{SENTIMENT / 'rt-polarity.neg'}:1"
    assert all(e.x and e.x == e.x.strip() for e in data.examples)


# ---- errors -----------------------------------------------------------------------------------------------
TS_HEAD = "@problemName T\n@classLabel true up down\n@data\n"  # data lines start at line 4


@pytest.mark.parametrize(
    "name, data, line, fragment",
    [
        ("d.csv", b"", None, "the file is empty"),
        ("d.csv", b"text,label\nok,a\nbin\x00ary,b\n", 3, "a binary file, not text (NUL byte at offset 19)"),
        ("d.csv", b"text,label\nok,a\ncaf\xe9,b\n", 3, "not UTF-8 text (byte offset 19)"),
        ("d.csv", b"\xef\xbb\xbftext,label\n\xff,a\n", 2, "not UTF-8 text (byte offset 14)"),  # BOM counted
        ("d.csv", "text,lbl\nhi,a\n", 1, "no column 'label' (columns: text, lbl)"),
        ("d.csv", "sentence,label\nhi,a\n", 1, "no column 'text' (columns: sentence, label)"),
        ("d.csv", 'text,label\nhi,a\n"  ",b\n', 3, "empty text"),
        ("d.csv", "text,label\nhi,a\nyo,\n", 3, "empty label"),
        ("d.csv", "text,label\nhi,a\n\nlonely\n", 4, "too few fields (1; the header has 2)"),
        ("d.csv", "text,label\nhello, world,a\n", 2, "too many fields (3; the header has 2)"),
        ("d.csv", "text,label\na,pos\nb,pos\n", None, "only one class ('pos'); a classifier needs at least two"),
        ("d.csv", "text,label\n\n", None, "no examples"),
        ("d.tsv", " \n\n", None, "no examples"),
        ("w.csv", "label,t1,t2\na,1,2\nb,3,x\n", 3, "non-numeric cell in column 3: 'x'"),
        ("u.csv", "1,0.5,0.6\n2,0.1,oops\n", 2, "non-numeric cell in column 3: 'oops'"),
        ("d.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", label: 1}\n', 2, "malformed JSON"),
        ("d.json", '[\n  {"text": "a", "label": "x"}\n]\n', 1, "a .json file must hold one JSON object a line"),
        ("d.jsonl", '{"text": "a", "label": "x"}\n\n{"text": "b"}\n', 3, "no field 'label' (fields: text)"),
        ("d.jsonl", '{"label": "x", "id": 1}\n', 1, "no field 'text' (fields: label, id)"),
        ("d.jsonl", '["a", "b"]\n', 1, "a JSON list, not an object"),
        ("d.jsonl", '{"text": "a", "label": [1]}\n', 1, "the label is [1], not a string or a number"),
        ("d.jsonl", '{"text": 5, "label": "x"}\n', 1, "field 'text' is 5, not a string"),
        ("d.jsonl", '{"text": "", "label": "x"}\n', 1, "empty text"),
        ("d.xml", "<a/>", None, "unknown format '.xml'"),
        ("t.ts", TS_HEAD + "1,2:up\n3,4:left\n", 5, "label 'left' is not in @classLabel (down, up)"),
        ("t.ts", TS_HEAD + "1,2,3:4,5:up\n", 4, "the dimensions differ in length (3, 2)"),
        ("t.ts", TS_HEAD + "1,2:3,4:up\n1,2:down\n", 5, "1 dimensions, expected 2"),
        ("t.ts", TS_HEAD + "1,a:2,3:up\n", 4, "non-numeric value in dimension 1: 'a'"),
        ("t.ts", TS_HEAD + "up\n", 4, "no values"),
        ("t.ts", "@problemName T\n@timeStamps true\n@classLabel true a b\n@data\n", 2, "timestamped .ts data"),
        ("t.ts", "@problemName T\n@data\n1:a\n", 2, "no @classLabel line before @data"),
        ("t.ts", "@classLabel false\n@data\n1:a\n", 1, "@classLabel lists no class labels"),
        ("t.ts", "@classLabel true a b\n1,2:a\n", 2, "expected an @ header line"),
        ("t.ts", "# only a comment\n@classLabel true a b\n", None, "no @data line"),
    ],
)
def test_file_errors_name_the_file_and_line(tmp_path, name, data, line, fragment):
    path = write(tmp_path / name, data)
    message = error_message(read_labelled, path, at=f"{path}:{line}: " if line else f"{path}: ")
    assert fragment in message


def test_read_ts_rejects_what_read_labelled_rejects(tmp_path):
    path = write(tmp_path / "t.ts", TS_HEAD + "1,2:up\n3,4:left\n")
    assert "not in @classLabel" in error_message(read_ts, path, at=f"{path}:5: ")
    error_message(read_ts, tmp_path / "absent.ts", at=f"{tmp_path / 'absent.ts'}: no such file")


def test_path_errors(tmp_path):
    error_message(read_labelled, tmp_path / "nope.csv", at=f"{tmp_path / 'nope.csv'}: no such file or folder")
    error_message(read_labelled, tmp_path / "no" / "where", at=f"{tmp_path / 'no' / 'where'}: no such file")
    write(tmp_path / "plain" / "README.md", "hello")
    error_message(read_labelled, tmp_path / "plain", at=f"{tmp_path / 'plain'}: no class subfolders")
    for stem in ("a", "b"):
        write(tmp_path / "two" / f"{stem}.pos", "x\n")
        write(tmp_path / "two" / f"{stem}.neg", "y\n")
    message = error_message(read_labelled, tmp_path / "two", at=f"{tmp_path / 'two'}: line files of several stems")
    assert "(a, b)" in message


def test_folder_per_class_errors(tmp_path):
    root = tmp_path / "c"
    write(root / "pos" / "a.txt", "fine")
    bad = write(root / "neg" / "b.txt", b"")
    error_message(read_labelled, root, at=f"{bad}: the file is empty")
    write(bad, " \n\t\n")
    error_message(read_labelled, root, at=f"{bad}: empty text")
    write(bad, b"ok\nbin\x00")
    error_message(read_labelled, root, at=f"{bad}:2: a binary file")
    bad.unlink()
    error_message(read_labelled, root, at=f"{root}: only one class ('pos')")


def test_line_file_errors(tmp_path):
    write(tmp_path / "rt.pos", b"good\nfine\nbad \xff\n")
    write(tmp_path / "rt.neg", b"bad\n")
    error_message(read_labelled, tmp_path / "rt", at=f"{tmp_path / 'rt.pos'}:3: not UTF-8 text (byte offset 14)")
    (tmp_path / "rt.neg").unlink()
    write(tmp_path / "rt.pos", "good\n")
    error_message(read_labelled, tmp_path / "rt", at=f"{tmp_path / 'rt'}: only one class ('pos')")


# ---- stratified_split -------------------------------------------------------------------------------------
LABELS = ["a"] * 100 + ["b"] * 37 + ["c"] * 11 + ["d"] * 3 + ["e"]
random.Random(5).shuffle(LABELS)


def test_stratified_split_is_a_sorted_disjoint_cover():
    splits = stratified_split(LABELS, (0.8, 0.1, 0.1), seed=3)
    assert len(splits) == 3 and all(split == sorted(split) for split in splits)
    assert sorted(i for split in splits for i in split) == list(range(len(LABELS)))


def test_stratified_split_keeps_class_proportions():
    fractions = (0.7, 0.2, 0.1)
    splits = stratified_split(LABELS, fractions, seed=1)
    for cls in ("a", "b", "c"):
        n = LABELS.count(cls)
        for split, fraction in zip(splits, fractions):
            assert abs(sum(LABELS[i] == cls for i in split) - fraction * n) <= 1, (cls, fraction)
    assert [sum(LABELS[i] == "d" for i in split) for split in splits] == [1, 1, 1]  # at least one each
    assert sum(LABELS[i] == "e" for split in splits for i in split) == 1  # too few to share: kept whole


def test_stratified_split_is_deterministic_per_seed():
    assert stratified_split(LABELS, seed=7) == stratified_split(LABELS, seed=7)
    assert stratified_split(LABELS, seed=7) != stratified_split(LABELS, seed=8)
    assert stratified_split(LABELS) == stratified_split(LABELS, (0.8, 0.1, 0.1), seed=0)


def test_stratified_split_of_the_docstring_example():
    first, second = stratified_split(["a"] * 8 + ["b"] * 2, (0.5, 0.5))
    assert (len(first), len(second)) == (5, 5) and sum(i >= 8 for i in first) == 1


@pytest.mark.parametrize("fractions", [(0.5, 0.6), (1.2, -0.2), (), (0.5, 0.0, 0.5)])
def test_stratified_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="positive and sum to 1"):
        stratified_split(["a", "b"], fractions)


# ---- default_labelled -------------------------------------------------------------------------------------
def test_default_labelled_reads_the_builtin_japanese_vowels():
    train, test = default_labelled()
    assert (len(train), len(test)) == (270, 370)
    assert train.kind == test.kind == "numeric"
    assert train.classes == test.classes == [str(i) for i in range(1, 10)]
    xs = [e.x for e in train.examples + test.examples]
    assert {x.shape[1] for x in xs} == {12} and not any(np.isnan(x).any() for x in xs)
    assert (min(len(x) for x in xs), max(len(x) for x in xs)) == (7, 29)
    assert train.examples[0].source.endswith("japanese_vowels_train.ts.gz:16")  # line 16: the first after @data
    assert test.examples[-1].source.endswith("japanese_vowels_test.ts.gz:385")


def test_default_labelled_names_a_missing_builtin_file(monkeypatch):
    monkeypatch.setattr(ts, "DEFAULT_FILES", ("absent.ts.gz", "absent.ts.gz"))
    message = error_message(lambda _: default_labelled(), None, at=str(Path(ts.__file__).parent / "builtin"))
    assert "absent.ts.gz: cannot read the built-in data" in message and "reinstall rnnkit" in message
