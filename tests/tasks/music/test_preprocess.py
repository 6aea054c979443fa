"""Piano-roll JSON reading (the real JSB Chorales where present), the PianoRoll preprocessor and transpositions."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.tasks.music.preprocess import PianoRoll, read_pianoroll_json, transpose, transpositions

MUSIC_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "music"  # ../shared beside the repo

PIECE = [[60, 64, 67], [60, 64, 67], [], [59, 62], [72]]


def write_json(path: Path, obj) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def error_message(path: Path) -> str:
    """The message of the ValueError that ``read_pianoroll_json(path)`` raises: one line starting with the path."""
    with pytest.raises(ValueError) as err:
        read_pianoroll_json(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return message


# ---- JSON -------------------------------------------------------------------------------------------------
def test_jsb_chorales_quarter():
    path = MUSIC_DATA / "jsb-chorales-quarter.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    splits = read_pianoroll_json(path)
    assert {k: len(v) for k, v in splits.items()} == {"train": 229, "valid": 76, "test": 77}
    pitches = [p for pieces in splits.values() for piece in pieces for step in piece for p in step]
    assert min(pitches) >= 0 and max(pitches) <= 127
    assert splits["test"][0][0] == [72, 76, 79, 84]
    roll = PianoRoll.fit(splits["train"])
    assert roll.decode(roll.encode(splits["valid"][0])) == splits["valid"][0]


def test_json_steps_come_back_sorted_and_unique(tmp_path):
    path = write_json(tmp_path / "r.json", {"train": [[[64, 60, 60], []]], "valid": [[[1]]], "test": [[[127, 0]]]})
    assert read_pianoroll_json(path) == {"train": [[[60, 64], []]], "valid": [[[1]]], "test": [[[0, 127]]]}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        ('{"train": [[[60]]], "valid": [[[60]]]}', "exactly the splits"),
        ('[[[60]]]', "exactly the splits"),
        ('{"train": [[[60]]], "valid": [[[60]]], "test": [[[60]]], "extra": []}', "exactly the splits"),
        ('{"train": [], "valid": [[[60]]], "test": [[[60]]]}', "split 'train'"),
        ('{"train": [[[60]]], "valid": [[]], "test": [[[60]]]}', "valid piece 0"),
        ('{"train": [[[60]]], "valid": [[[60]]], "test": [[[60]], [[128]]]}', "test piece 1 step 0"),
        ('{"train": [[[60.5]]], "valid": [[[60]]], "test": [[[60]]]}', "train piece 0 step 0"),
        ('{"train": [[[true]]], "valid": [[[60]]], "test": [[[60]]]}', "not a list of ints in 0..127"),
        ('{"train": [[[-1]]], "valid": [[[60]]], "test": [[[60]]]}', "not a list of ints in 0..127"),
        ('{"train": [[60]], "valid": [[[60]]], "test": [[[60]]]}', "train piece 0 step 0"),
    ],
)
def test_malformed_json_is_one_line_naming_the_file(tmp_path, content, problem):
    assert problem in error_message(write_json(tmp_path / "bad.json", content))


def test_undecodable_bytes_are_a_value_error(tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00{")
    assert "not JSON" in error_message(path)


# ---- PianoRoll --------------------------------------------------------------------------------------------
def test_fit_range_and_margin():
    assert PianoRoll.fit([PIECE]) == PianoRoll(59, 72, 1)
    assert PianoRoll.fit([PIECE], margin=3, steps_per_beat=4) == PianoRoll(56, 75, 4)
    assert PianoRoll.fit([[[2], [125]]], margin=5) == PianoRoll(0, 127)  # clamped to 0..127
    with pytest.raises(ValueError, match="no notes"):
        PianoRoll.fit([[[], []], []])
    with pytest.raises(ValueError, match="margin"):
        PianoRoll.fit([PIECE], margin=-1)


def test_encode_decode_round_trip():
    roll = PianoRoll.fit([PIECE])
    frames = roll.encode(PIECE)
    assert roll.size == 14 and frames.shape == (5, 14) and frames.dtype == torch.float32
    assert frames[0].nonzero().flatten().tolist() == [1, 5, 8]  # 60, 64, 67 less low=59
    assert frames[2].sum() == 0
    assert roll.decode(frames) == PIECE
    assert roll.decode(frames.numpy()) == PIECE
    assert roll.decode(frames * 0.4 + 0.3) == PIECE  # probabilities: above 0.5 is on
    assert roll.encode([]).shape == (0, 14) and roll.decode(np.zeros((0, 14))) == []


def test_encode_drops_pitches_out_of_range():
    roll = PianoRoll(60, 64)
    assert roll.decode(roll.encode([[59, 60, 64, 65], [100]])) == [[60, 64], []]


def test_decode_checks_the_shape():
    with pytest.raises(ValueError, match=r"\(T, 5\)"):
        PianoRoll(60, 64).decode(torch.zeros(3, 6))
    with pytest.raises(ValueError, match=r"\(T, 5\)"):
        PianoRoll(60, 64).decode(torch.zeros(5))


def test_to_dict_from_dict():
    roll = PianoRoll(40, 90, steps_per_beat=4)
    d = roll.to_dict()
    assert d == {"type": "pianoroll", "low": 40, "high": 90, "steps_per_beat": 4}
    assert json.loads(json.dumps(d)) == d
    assert PianoRoll.from_dict(d) == roll
    assert PianoRoll.from_dict({"type": "pianoroll", "low": 40, "high": 90}) == PianoRoll(40, 90, 1)
    assert PianoRoll.type == "pianoroll"


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"type": "chars", "low": 40, "high": 90},
        {"low": 40, "high": 90},
        {"type": "pianoroll", "low": 40},
        {"type": "pianoroll", "low": 40, "high": 90, "extra": 1},
        {"type": "pianoroll", "low": 90, "high": 40},
        {"type": "pianoroll", "low": -1, "high": 40},
        {"type": "pianoroll", "low": 40, "high": 128},
        {"type": "pianoroll", "low": "40", "high": 90},
        {"type": "pianoroll", "low": 40.0, "high": 90},
        {"type": "pianoroll", "low": 40, "high": 90, "steps_per_beat": 0},
        {"type": "pianoroll", "low": False, "high": 90},
    ],
)
def test_from_dict_refuses_bad_dicts(bad):
    with pytest.raises(ValueError):
        PianoRoll.from_dict(bad)


# ---- transpositions ---------------------------------------------------------------------------------------
def test_transpose():
    assert transpose(PIECE, 2) == [[62, 66, 69], [62, 66, 69], [], [61, 64], [74]]
    assert transpose(PIECE, 0) == PIECE and transpose(PIECE, 0) is not PIECE
    with pytest.raises(ValueError, match="0..127"):
        transpose([[120]], 8)


def test_transpositions_stay_in_range():
    low, high = 57, 74
    shifted = transpositions(PIECE, low, high, max_shift=6)
    assert shifted[0] == PIECE  # shift 0 first
    shifts = [s[-1][0] - 72 for s in shifted]
    assert shifts == [0, -2, -1, 1, 2]  # 59 - 2 = 57 = low; 72 + 2 = 74 = high
    assert all(low <= p <= high for piece in shifted for step in piece for p in step)
    assert len(transpositions(PIECE, 0, 127, max_shift=6)) == 13
    assert transpositions(PIECE, 0, 127, max_shift=0) == [PIECE]
    assert transpositions([[], []], 60, 70) == [[[], []]]  # no notes: only itself
    assert transpositions(PIECE, 60, 73) == [transpose(PIECE, 1)]  # 59 is below 60: shift 0 does not qualify
    assert transpositions(PIECE, 60, 72) == []  # no shift fits a range narrower than the piece
