"""Sampling from a music model: the primer comes back first, the same seed gives the same piece, pitches
stay in the roll's range, and the piece written as MIDI reads back the same."""

import mido
import pytest
import torch

from rnnkit.tasks.music import MusicModelConfig
from rnnkit.tasks.music.generate import frames, sample
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



def test_frames_are_the_new_steps_of_sample_as_they_are_drawn(model):
    roll = PianoRoll(55, 79)
    steps = frames(model, roll, prime=PRIME, steps=6, seed=5)
    first = next(steps)
    assert torch.is_grad_enabled()  # no_grad holds only while a step is drawn, not in the caller's code
    assert [first, *steps] == sample(model, roll, prime=PRIME, steps=6, seed=5)[len(PRIME):]
    with pytest.raises(ValueError):
        frames(model, roll, steps=-1)  # checked when called, before the first step

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
    assert main(["generate", str(run), "--out", str(out), "--length", "12", "--unit", "steps", "--seed", "2",
                 "--prime", str(primer)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert mido.MidiFile(out).length > 0 and (tmp_path / "new.mid.png").read_bytes()[:4] == b"\x89PNG"
    wav = (tmp_path / "new.mid.wav").read_bytes()  # fluidsynth and a soundfont come with make install
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    assert 12 < len(read_midi(out, steps_per_beat=4)) <= 24  # the primer's 12 steps on the run's grid, 12 new
    notes = read_midi(out, steps_per_beat=1)
    assert notes[:3] == PRIME[:3]  # the primer's chords open the piece, read a step a beat
    for argv, words in ((["generate", str(run), "--out", str(out)], "already exists"),
                        (["generate", str(run), "--out", str(tmp_path / "b.mid"), "--top-k", "3"], "does not apply"),
                        (["generate", str(run)], "give --out"),
                        (["generate", str(run), "--out", str(tmp_path / "c.mid"), "--unit", "furlongs"], "unit must"),
                        (["generate", str(run), "--out", str(tmp_path / "d.mid"), "--audio", "mp3"], "audio must"),
                        (["predict", str(run), "anything"], "makes no predictions")):
        status = main(argv)
        err = capsys.readouterr().err.strip()
        assert status != 0 and len(err.splitlines()) == 1 and words in err, err
    assert main(["generate", str(run), "--out", str(out), "--overwrite", "--seed", "2", "--length", "1",
                 "--audio", "none"]) == 0  # one bar: 16 steps of sixteenths
    assert len(read_midi(out, steps_per_beat=4)) <= 16
    assert (tmp_path / "new.mid.wav").read_bytes() == wav  # with --audio none the sound is left as it was


def test_predict_composes_after_each_primer(run, tmp_path):
    from rnnkit.pipeline import from_checkpoint

    pipeline = from_checkpoint(run)
    primer = write_midi(PRIME[:2], tmp_path / "p.mid", steps_per_beat=4)
    with_primer, without = pipeline.predict([primer, ""], length=6, unit="steps", seed=4)
    assert with_primer[:2] == PRIME[:2] and len(with_primer) == 8 and len(without) == 6
    assert pipeline.defaults == {"length": 16, "unit": "bars", "temperature": 1.0, "audio": "wav"}
    assert "generate" in pipeline.commands
    # bars and beats at the run's 4 steps a beat; seconds at the 100 beats a minute the MIDI files are written at
    assert [pipeline.span(2, "bars"), pipeline.span(3, "beats"), pipeline.span(5, "steps"),
            pipeline.span(6, "seconds")] == [32, 12, 5, 40]
