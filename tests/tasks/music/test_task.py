"""``rnnkit train music`` end to end on a small JSON piano roll: both heads learn, the run reloads, the
benchmark measures, and bad input stops with one line."""

import json

import pytest
import torch

from rnnkit.cli import main
from rnnkit.tasks.music import TASK
from rnnkit.tasks.music.midi import read_midi
from rnnkit.tasks.music.task import PieceBatches
from rnnkit.tasks.run import load, make_config, train

TINY = ["model.encoder.hidden_size=24", "model.encoder.num_layers=1", "model.nade_hidden=8", "data.batch_size=4",
        "train.steps=60", "train.eval_every=30", "train.warmup_steps=5", "train.lr=0.01", "train.progress=false"]


def chorale(seed: int, length: int = 16) -> list[list[int]]:
    """A toy piece: a triad on a walking root, the same chord held for two steps."""
    rng = torch.Generator().manual_seed(seed)
    root = 60
    steps = []
    for _ in range(length // 2):
        root += int(torch.randint(-2, 3, (1,), generator=rng))
        chord = sorted({root, root + 4, root + 7})
        steps += [chord, chord]
    return steps


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("music") / "toy.json"
    splits = {"train": [chorale(i) for i in range(24)], "valid": [chorale(100 + i) for i in range(6)],
              "test": [chorale(200 + i) for i in range(6)]}
    path.write_text(json.dumps(splits), encoding="utf-8")
    return path


@pytest.mark.parametrize("head", ["sigmoid", "joint"])
def test_both_heads_learn_and_beat_the_baseline(data, tmp_path, head):
    cfg = make_config("music", overrides=[*TINY, f"model.head={head}"])
    result = train("music", cfg, out=tmp_path / head, data=str(data))
    assert result.test["loss"] < result.baseline["loss"]  # chords and their motion, beyond pitch frequencies
    loaded = load(tmp_path / head)
    assert loaded.config.model.head == head and loaded.preprocessor.size == result_roll_size(data)
    # beside the run: samples composed and compared with the test pieces, and a page that plays one
    samples = json.loads((tmp_path / head / "samples.json").read_text())
    assert set(samples["distance"]) == {"pitch_class", "polyphony", "interval", "note_density", "polyphony_mean"}
    assert 0 <= samples["overall"] <= 1 and samples["speed"]["events"] == 8 * 16 * 4 * 4  # 16 bars, 4 steps a beat
    assert (tmp_path / head / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert read_midi(tmp_path / head / "sample.mid", steps_per_beat=4)
    page = (tmp_path / head / "report.html").read_text()
    assert "<audio controls" in page and page.count("<img") == 2


def result_roll_size(path) -> int:
    pitches = [p for split in json.loads(path.read_text()).values() for piece in split for step in piece for p in step]
    return max(pitches) - min(pitches) + 1


def test_batches_read_after_a_silent_frame_and_transpose_in_range(data):
    parts = TASK.build(make_config("music", overrides=TINY), str(data))
    batch = next(iter(parts.valid.batches(0)))
    assert torch.equal(batch.inputs[:, 0], torch.zeros_like(batch.inputs[:, 0]))
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])
    roll = parts.preprocessor
    shifted = PieceBatches(parts.train.pieces, roll, batch_size=4, shuffle=True, transpose=6)
    assert [b.targets.sum() for b in shifted.batches(3)] == [b.targets.sum() for b in shifted.batches(3)]
    assert shifted.batches_per_epoch == 6


def test_the_benchmark_measures_both_heads(data, tmp_path, capsys):
    status = main(["bench", "quality", "music", "--data", str(data), "--minutes", "0.05", "--quick",
                   "--json", str(tmp_path / "music.json")])
    assert status == 0
    report = json.loads((tmp_path / "music.json").read_text())
    assert [r["head"] for r in report["results"]] == ["sigmoid", "torch", "joint"]
    rnnkit, plain = [r for r in report["results"] if r["head"] != "torch"], report["results"][1]
    for r in rnnkit:
        assert r["test"]["loss"] > 0 and r["baseline"]["loss"] > 0 and r["test"]["loss_from_2"] > 0
        assert r["samples"]["pieces"] == 8 and 0 <= r["samples"]["overall"] <= 1 and r["samples"]["steps_per_s"] > 0
    assert plain["test"]["loss_from_2"] > 0 and plain["config"]["passes"] >= 1
    out = capsys.readouterr().out
    assert "joint head" in out and "plain PyTorch 1x32 LSTM" in out and "steps a second" in out


def test_bad_input_gives_one_line(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    for argv in (["train", "music", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "a")],
                 ["train", "music", "--data", str(tmp_path / "bad.json"), "--out", str(tmp_path / "b")]):
        status = main(argv)
        err = capsys.readouterr().err.strip()
        assert status != 0 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_default_is_the_bach_chorales_of_music21s_corpus(private_cache):
    parts = TASK.build(make_config("music", overrides=TINY), None)
    assert [len(s.pieces) for s in (parts.train, parts.valid, parts.test)] == [265, 33, 33]
    assert (parts.preprocessor.low, parts.preprocessor.high, parts.preprocessor.steps_per_beat) == (36, 81, 1)
    assert [p.name for p in (private_cache / "rnnkit").iterdir()][0].startswith("bach-chorales")


def test_the_sigmoid_head_is_limited_in_passes_and_the_joint_head_is_not():
    assert make_config("music", overrides=["model.head=sigmoid"]).train.max_epochs == 100
    assert make_config("music", overrides=["model.head=sigmoid", "train.max_epochs=7"]).train.max_epochs == 7
    assert make_config("music").train.max_epochs is None
