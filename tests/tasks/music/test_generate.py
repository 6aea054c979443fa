"""Sampling from a music model: the primer comes back first, the same seed gives the same piece, pitches
stay in the roll's range, and the piece written as MIDI reads back the same."""

import mido
import pytest
import torch

from rnnkit.tasks.music import MusicModelConfig
from rnnkit.tasks.music.generate import sample
from rnnkit.tasks.music.midi import read_midi, write_midi
from rnnkit.tasks.music.model import MusicModel
from rnnkit.tasks.music.preprocess import PianoRoll

PRIME = [[60, 64, 67], [60, 64, 67], [62, 65, 69], []]


@pytest.fixture(params=["sigmoid", "joint"])
def model(request):
    torch.manual_seed(0)
    cfg = MusicModelConfig(head=request.param, nade_hidden=8)
    cfg.encoder.hidden_size, cfg.encoder.num_layers = 16, 1
    return MusicModel(cfg, pitches=25)


def test_the_primer_continues_and_a_seed_repeats(model):
    roll = PianoRoll(55, 79)
    piece = sample(model, roll, prime=PRIME, steps=12, seed=3)
    assert piece[: len(PRIME)] == PRIME and len(piece) == len(PRIME) + 12
    assert piece == sample(model, roll, prime=PRIME, steps=12, seed=3)
    assert all(55 <= p <= 79 for step in piece for p in step)
    assert sample(model, roll, steps=5, temperature=0) == sample(model, roll, steps=5, temperature=0, seed=9)
    assert len(sample(model, roll, steps=0)) == 0
    with pytest.raises(ValueError):
        sample(model, roll, steps=-1)


def test_a_sampled_piece_is_a_midi_file_players_read(model, tmp_path):
    roll = PianoRoll(55, 79, steps_per_beat=4)
    piece = sample(model, roll, prime=PRIME, steps=16, seed=1, temperature=1.5)
    path = write_midi(piece, tmp_path / "new.mid", steps_per_beat=4)
    assert mido.MidiFile(path).length > 0  # a standard MIDI file
    while piece and not piece[-1]:
        piece = piece[:-1]  # silence at the end leaves no trace in a MIDI file
    assert read_midi(path, steps_per_beat=4) == piece


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A music run trained for a few updates on toy chorales, at four steps a beat."""
    import json

    from rnnkit.tasks.run import make_config, train

    root = tmp_path_factory.mktemp("music-run")
    chords = [[60, 64, 67], [62, 65, 69], [64, 67, 71], [65, 69, 72]]
    pieces = [[chords[(i + t // 2) % 4] for t in range(16)] for i in range(12)]
    (root / "toy.json").write_text(json.dumps({"train": pieces[:8], "valid": pieces[8:10], "test": pieces[10:]}))
    cfg = make_config("music", overrides=["model.encoder.hidden_size=16", "model.encoder.num_layers=1",
                                          "model.nade_hidden=8", "data.batch_size=4", "train.steps=10",
                                          "train.eval_every=10", "train.progress=false"])
    train("music", cfg, out=root / "run", data=str(root / "toy.json"))
    return root / "run"


def test_generate_writes_a_midi_file_and_its_piano_roll(run, tmp_path, capsys):
    from rnnkit.cli import main

    primer = write_midi(PRIME, tmp_path / "primer.mid", steps_per_beat=1)
    out = tmp_path / "new.mid"
    assert main(["generate", str(run), "--out", str(out), "--length", "12", "--seed", "2", "--prime", str(primer)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert mido.MidiFile(out).length > 0 and (tmp_path / "new.mid.png").read_bytes()[:4] == b"\x89PNG"
    notes = read_midi(out, steps_per_beat=1)
    assert notes[:3] == PRIME[:3]  # the primer's chords open the piece (the run's grid is one step a beat)
    for argv, words in ((["generate", str(run), "--out", str(out)], "already exists"),
                        (["generate", str(run), "--out", str(tmp_path / "b.mid"), "--top-k", "3"], "does not apply"),
                        (["generate", str(run)], "give --out"),
                        (["predict", str(run), "anything"], "makes no predictions")):
        status = main(argv)
        err = capsys.readouterr().err.strip()
        assert status != 0 and len(err.splitlines()) == 1 and words in err, err
    assert main(["generate", str(run), "--out", str(out), "--overwrite", "--seed", "2", "--length", "4"]) == 0


def test_predict_composes_after_each_primer(run, tmp_path):
    from rnnkit.pipeline import from_checkpoint

    pipeline = from_checkpoint(run)
    primer = write_midi(PRIME[:2], tmp_path / "p.mid", steps_per_beat=4)
    with_primer, without = pipeline.predict([primer, ""], length=6, seed=4)
    assert with_primer[:2] == PRIME[:2] and len(with_primer) == 8 and len(without) == 6
    assert pipeline.defaults == {"length": 64, "temperature": 1.0} and "generate" in pipeline.commands
