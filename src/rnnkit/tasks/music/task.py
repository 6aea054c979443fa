"""Task ``music``: polyphonic music as piano-roll frames or as performance events, beside an input-blind
baseline.

``rnnkit train music`` trains on the Bach chorales of music21's corpus; ``--data PATH`` reads a JSON piano
roll or a folder of MIDI files and scores (``rnnkit.tasks.music.sources``). Over a piano roll (``data.representation =
"roll"``) the baseline is every pitch on its own at its training frequency and the figure the negative
log-likelihood per time step (``loss``, nats) on the test split; over events (``"events"``,
``rnnkit.tasks.music.event_data``) the baseline is each event at its training frequency and the figure the
cross-entropy per event.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace

import torch

from rnnkit.batch import Batch, pad
from rnnkit.data.buckets import BucketedBatches
from rnnkit.tasks.base import Parts, Task
from rnnkit.tasks.music.config import MusicRun
from rnnkit.tasks.music.event_data import build_events
from rnnkit.tasks.music.event_model import EventModel
from rnnkit.tasks.music.events import EventCodec
from rnnkit.tasks.music.model import MusicModel
from rnnkit.tasks.music.preprocess import PianoRoll, Piece, transpositions
from rnnkit.tasks.music.samples import ROLL_TEMPO, write_samples
from rnnkit.tasks.music.sources import grid, read_note_pieces, read_pieces

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


class MusicTask(Task):
    name = "music"
    description = "music: next piano-roll frames or performance events, from MIDI files, scores or a JSON piano roll"
    default_data = "the Bach chorales of music21's corpus (331 in four parts) at quarter-note steps"
    config_class = MusicRun
    pipeline = "rnnkit.tasks.music.pipeline:MusicPipeline"
    cli = "rnnkit.tasks.music.cli"
    router = "rnnkit.tasks.music.serve:router"
    panel = "rnnkit.tasks.music"
    quality = "rnnkit.tasks.music.bench"

    def build(self, cfg: MusicRun, data: str | None, preprocessor: PianoRoll | EventCodec | None = None) -> Parts:
        if cfg.data.representation == "events":
            return build_events(cfg, read_note_pieces(data, cfg), preprocessor)
        if preprocessor is not None and not isinstance(preprocessor, PianoRoll):
            raise ValueError(f"a roll run needs a {PianoRoll.type!r} preprocessor, got {type(preprocessor).__name__}")
        splits = read_pieces(data, cfg)
        roll = preprocessor or PianoRoll.fit([p for s in splits.values() for p in s], steps_per_beat=grid(data, cfg))
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
                     artifacts=lambda run, m: write_samples(run, m, roll, splits["test"], tempo=ROLL_TEMPO),
                     notes=[f"piano roll: {roll.size} pitches ({roll.low} to {roll.high}), "
                            f"{sum(len(s) for s in splits.values())} pieces"])

    def resolve(self, cfg: MusicRun) -> MusicRun:
        """``cfg`` with at most ``SIGMOID_MAX_EPOCHS`` passes for the sigmoid head unless ``train.max_epochs``
        is set: it overfits JSB Chorales within a few hundred passes (10 minutes: 10.98 nats a step, 100
        passes: 8.77; docs/results.md), where the joint head still gains. An event run has no head: as given."""
        if cfg.data.representation != "roll" or cfg.model.head != "sigmoid" or cfg.train.max_epochs is not None:
            return cfg
        return replace(cfg, train=replace(cfg.train, max_epochs=SIGMOID_MAX_EPOCHS))

    def build_model(self, cfg: MusicRun, preprocessor: PianoRoll | EventCodec) -> MusicModel | EventModel:
        if isinstance(preprocessor, EventCodec):
            return EventModel(cfg.model, preprocessor.size)
        return MusicModel(cfg.model, preprocessor.size)

    def load_preprocessor(self, data: dict | None) -> PianoRoll | EventCodec:
        """The piano roll or the event codec saved as ``data``, by its ``"type"``."""
        kinds = {PianoRoll.type: PianoRoll, EventCodec.type: EventCodec}
        kind = kinds.get(data.get("type")) if isinstance(data, dict) else None
        if kind is None:
            raise ValueError(f"not a music preprocessor (type {' or '.join(map(repr, kinds))}): {data!r:.200}")
        return kind.from_dict(data)


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

