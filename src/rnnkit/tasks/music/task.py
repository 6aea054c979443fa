"""Task ``music``: polyphonic music as piano-roll frames, beside an input-blind baseline.

``rnnkit train music`` trains on the embedded JSB Chorales; ``--data PATH`` reads a JSON piano roll with
its own ``train``/``valid``/``test`` splits (the JSB Chorales format) or a folder (or glob) of MIDI files,
split by ``data.valid_fraction`` and ``data.test_fraction``. The baseline is every pitch on its own at its
training frequency; the figure is the negative log-likelihood per time step (``loss``, nats) on the test
split.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import torch

from rnnkit.batch import Batch, pad
from rnnkit.data.buckets import BucketedBatches
from rnnkit.tasks.base import Parts, Task
from rnnkit.tasks.music.config import MusicRun
from rnnkit.tasks.music.model import MusicModel
from rnnkit.tasks.music.preprocess import PianoRoll, Piece, read_pianoroll_json, transpositions

DEFAULT_STEPS_PER_BEAT = 1  # the embedded chorales are on quarter notes
POOL = 8
SIGMOID_MAX_EPOCHS = 100.0  # batches whose pieces are sorted by length together (less padding)


class PieceBatches(BucketedBatches):
    """Pieces as padded batches: ``inputs`` (B, T, P) the silent start frame and frames 1 .. T-1,
    ``targets`` (B, T, P) frames 1 .. T, ``lengths`` (B,); batched by length as ``BucketedBatches`` orders
    them (a resumed run sees the same batches). With ``transpose`` N every piece is shifted by a random
    -N .. N semitones, each pass anew, that keep it in the roll's range."""

    def __init__(self, pieces: list[Piece], roll: PianoRoll, *, batch_size: int, shuffle: bool = False,
                 seed: int = 0, transpose: int = 0):
        if not pieces:
            raise ValueError("no pieces to batch")
        frames = [roll.encode(p) for p in pieces]
        super().__init__(frames, [0] * len(pieces), batch_size=batch_size, shuffle=shuffle, seed=seed, pool=POOL)
        self.pieces, self.roll, self.transpose = pieces, roll, transpose

    def batches(self, epoch: int) -> Iterator[Batch]:
        rng = random.Random(self.seed * 100_003 + epoch)
        for index in self.order(epoch):
            if self.transpose:
                shifted = [rng.choice(transpositions(self.pieces[i], self.roll.low, self.roll.high,
                                                     max_shift=self.transpose)) for i in index]
                yield self.frames_batch([self.roll.encode(p) for p in shifted])
            else:
                yield self.frames_batch([self.sequences[i] for i in index])

    @staticmethod
    def frames_batch(frames: list[torch.Tensor]) -> Batch:
        targets, lengths = pad(frames)
        inputs = torch.cat([torch.zeros_like(targets[:, :1]), targets[:, :-1]], dim=1)
        return Batch(inputs=inputs, targets=targets, lengths=lengths)


def default_path() -> Path:
    """The embedded default: JSB Chorales at quarter-note steps (origin and licence: ``rnnkit/data/builtin``)."""
    return Path(str(files("rnnkit.data").joinpath("builtin", "jsb_chorales_quarter.json.gz")))


def read_pieces(data: str | None, cfg: MusicRun) -> dict[str, list[Piece]]:
    """The ``train``, ``valid`` and ``test`` pieces of ``data``: a JSON piano roll's own splits (the embedded
    chorales when None), or the MIDI files of a folder or glob split by the configured fractions (whole
    pieces, seeded)."""
    if data is None or Path(data).name.lower().endswith((".json", ".json.gz")):
        return read_pianoroll_json(data or default_path())
    from rnnkit.tasks.music.midi import read_midi_folder

    pieces = [piece for _, piece in read_midi_folder(data, steps_per_beat=cfg.data.steps_per_beat,
                                                       drums=cfg.data.drums)]
    random.Random(cfg.data.seed).shuffle(pieces)
    n_valid = max(1, round(len(pieces) * cfg.data.valid_fraction))
    n_test = max(1, round(len(pieces) * cfg.data.test_fraction))
    if len(pieces) < n_valid + n_test + 1:
        raise ValueError(f"{data}: {len(pieces)} usable MIDI files are too few to split into training, validation "
                         "and test pieces; give at least 3")
    return {"valid": pieces[:n_valid], "test": pieces[n_valid : n_valid + n_test],
            "train": pieces[n_valid + n_test :]}


class MusicTask(Task):
    name = "music"
    description = "polyphonic music: next piano-roll frames from MIDI files or a JSON piano roll"
    default_data = "JSB Chorales: 382 Bach chorales at quarter-note steps, in their published splits"
    config_class = MusicRun
    pipeline = "rnnkit.tasks.music.pipeline:MusicPipeline"
    quality = "rnnkit.tasks.music.bench"

    def build(self, cfg: MusicRun, data: str | None, preprocessor: PianoRoll | None = None) -> Parts:
        splits = read_pieces(data, cfg)
        grid = DEFAULT_STEPS_PER_BEAT if data is None else cfg.data.steps_per_beat
        roll = preprocessor or PianoRoll.fit([p for s in splits.values() for p in s], steps_per_beat=grid)
        d = cfg.data
        train = PieceBatches(splits["train"], roll, batch_size=d.batch_size, shuffle=True, seed=d.seed,
                             transpose=d.transpose)
        valid, test = (PieceBatches(splits[s], roll, batch_size=d.batch_size) for s in ("valid", "test"))
        model = self.build_model(cfg, roll)
        frequencies = pitch_frequencies(splits["train"], roll)
        model.head.set_frequencies(frequencies)
        return Parts(model=model, train=train, valid=valid, test=test, preprocessor=roll,
                     baseline=lambda: {"loss": independent_nll(splits["test"], roll, frequencies)},
                     baseline_name="each pitch at its training frequency",
                     notes=[f"piano roll: {roll.size} pitches ({roll.low} to {roll.high}), "
                            f"{sum(len(s) for s in splits.values())} pieces"])

    def resolve(self, cfg: MusicRun) -> MusicRun:
        """``cfg`` with at most ``SIGMOID_MAX_EPOCHS`` passes for the sigmoid head unless ``train.max_epochs``
        is set: it overfits JSB Chorales within a few hundred passes (10 minutes: 10.98 nats a step, 100
        passes: 8.77; docs/results.md), where the joint head still gains."""
        if cfg.model.head != "sigmoid" or cfg.train.max_epochs is not None:
            return cfg
        return replace(cfg, train=replace(cfg.train, max_epochs=SIGMOID_MAX_EPOCHS))

    def build_model(self, cfg: MusicRun, preprocessor: PianoRoll) -> MusicModel:
        return MusicModel(cfg.model, preprocessor.size)

    def load_preprocessor(self, data: dict | None) -> PianoRoll:
        return PianoRoll.from_dict(data)


def pitch_frequencies(pieces: list[Piece], roll: PianoRoll) -> torch.Tensor:
    """(P,) the share of training steps at which each pitch sounds."""
    frames = torch.cat([roll.encode(p) for p in pieces])
    return frames.mean(dim=0)


def independent_nll(pieces: list[Piece], roll: PianoRoll, frequencies: torch.Tensor) -> float:
    """NLL per step of ``pieces`` with every pitch on its own at ``frequencies`` (clamped away from 0 and 1)."""
    p = frequencies.clamp(1e-4, 1 - 1e-4)
    frames = torch.cat([roll.encode(piece) for piece in pieces])
    log_prob = frames * p.log() + (1 - frames) * (1 - p).log()
    return float(-log_prob.sum(dim=1).mean())

