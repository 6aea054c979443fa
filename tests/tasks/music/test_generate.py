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
