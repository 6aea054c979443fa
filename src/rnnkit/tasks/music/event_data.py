"""The ``music`` task over performance events (``data.representation = "events"``): pieces of notes as
windows of event ids, the event model, and the unigram baseline.

A piece's events are cut into windows of at most ``data.max_events``; each window is one example, read after
the event before it (the start token, id V, before a piece's first window), so no event goes unscored:

    piece     e1 e2 e3 e4 e5 e6 e7                    max_events = 3
    window 1  inputs <start> e1 e2   targets e1 e2 e3
    window 2  inputs   e3    e4 e5   targets e4 e5 e6
    window 3  inputs   e6            targets e7

A window starts from the zero state: what sounds across its first boundary it learns to guess, as
Performance RNN's 30-second training windows did.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import torch
from torch import Tensor

from rnnkit.batch import IGNORE, Batch, pad
from rnnkit.data.buckets import BucketedBatches
from rnnkit.tasks.base import Parts
from rnnkit.tasks.music.config import MusicRun
from rnnkit.tasks.music.event_model import EventModel
from rnnkit.tasks.music.events import EventCodec, Note, note_shifts, transpose_notes
from rnnkit.tasks.music.samples import write_samples

POOL = 8  # batches whose windows are sorted by length together (less padding)


class EventBatches(BucketedBatches):
    """Pieces of notes as padded batches of event windows: ``inputs`` (B, T) the event before each target
    (padded with 0), ``targets`` (B, T) the events (``IGNORE`` on padding), ``lengths`` (B,); batched by
    length as ``BucketedBatches`` orders them (a resumed run sees the same batches). With ``transpose`` N the
    pieces of each batch are shifted by a random -N .. N semitones, each pass anew, that keep their notes in
    the codec's range (``transpose_notes``). ValueError when the pieces hold no events."""

    def __init__(self, pieces: list[list[Note]], codec: EventCodec, *, max_events: int, batch_size: int,
                 shuffle: bool = False, seed: int = 0, transpose: int = 0):
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {max_events}")
        encoded = [torch.tensor(codec.encode(p), dtype=torch.long) for p in pieces]  # (N_i,) each
        windows = [(i, a) for i, ids in enumerate(encoded) for a in range(0, len(ids), max_events)]
        if not windows:
            raise ValueError(f"no events to batch: the pieces hold no notes in {codec.low}..{codec.high}")
        targets = [encoded[i][a : a + max_events] for i, a in windows]
        super().__init__(targets, [0] * len(windows), batch_size=batch_size, shuffle=shuffle, seed=seed, pool=POOL)
        self.pieces, self.codec, self.transpose, self.max_events = pieces, codec, transpose, max_events
        self.encoded, self.windows = encoded, windows

    def batches(self, epoch: int) -> Iterator[Batch]:
        rng = random.Random(self.seed * 100_003 + epoch)
        for index in self.order(epoch):
            ids = {i: self._transposed(i, rng) for i, _ in (self.windows[k] for k in index)} if self.transpose else {}
            yield self.windows_batch([self._window(ids.get(i, self.encoded[i]), a)
                                      for i, a in (self.windows[k] for k in index)])

    def _transposed(self, piece: int, rng: random.Random) -> Tensor:
        """The event ids of piece ``piece`` shifted by a random allowed transposition (0 among them)."""
        low, high = self.codec.low, self.codec.high
        notes = [n for n in self.pieces[piece] if low <= n.pitch <= high]
        shift = rng.choice(note_shifts(notes, low, high, max_shift=self.transpose))
        if shift == 0:
            return self.encoded[piece]
        return torch.tensor(self.codec.encode(transpose_notes(notes, shift, low=low, high=high)), dtype=torch.long)

    def _window(self, ids: Tensor, first: int) -> tuple[Tensor, Tensor]:
        """(inputs, targets) of the window of ``ids`` starting at ``first``."""
        before = ids[first - 1 : first] if first else ids.new_tensor([self.codec.size])  # the start token: V
        targets = ids[first : first + self.max_events]
        return torch.cat([before, targets[:-1]]), targets

    @staticmethod
    def windows_batch(windows: list[tuple[Tensor, Tensor]]) -> Batch:
        inputs, lengths = pad([x for x, _ in windows], value=0)
        targets, _ = pad([y for _, y in windows], value=IGNORE)
        return Batch(inputs=inputs, targets=targets, lengths=lengths)


def build_events(cfg: MusicRun, splits: dict[str, list[list[Note]]], codec: EventCodec | None = None) -> Parts:
    """The parts of an event run on ``splits`` (train, valid, test pieces of notes): the codec fitted on all
    pieces (pitch range widened by ``data.transpose``) unless given, the batches, the model with its output
    bias at the training events' frequencies, and the unigram baseline."""
    d = cfg.data
    if codec is not None and not isinstance(codec, EventCodec):
        raise ValueError(f"an events run needs an {EventCodec.type!r} preprocessor, got {type(codec).__name__}")
    codec = codec or EventCodec.fit([p for s in splits.values() for p in s], margin=d.transpose,
                                    time_step=d.time_step, shift_steps=max(1, round(d.max_shift / d.time_step)),
                                    velocity_bins=d.velocity_bins)
    train = EventBatches(splits["train"], codec, max_events=d.max_events, batch_size=d.batch_size, shuffle=True,
                         seed=d.seed, transpose=d.transpose)
    valid, test = (EventBatches(splits[s], codec, max_events=d.max_events, batch_size=d.batch_size)
                   for s in ("valid", "test"))
    model = EventModel(cfg.model, codec.size)
    frequencies = event_frequencies(train.encoded, codec.size)
    model.set_frequencies(frequencies)
    return Parts(model=model, train=train, valid=valid, test=test, preprocessor=codec,
                 baseline=lambda: {"loss": unigram_nll(test.encoded, frequencies)},
                 baseline_name="each event at its training frequency",
                 artifacts=lambda run, m: write_samples(run, m, codec, splits["test"], tempo=cfg.data.bpm),
                 notes=[f"events: {codec.size} ({codec.pitches} pitches {codec.low} to {codec.high}, "
                        f"{codec.shift_steps} shifts of {codec.time_step * 1000:g} ms, {codec.velocity_bins} "
                        f"velocity bins), {sum(len(s) for s in splits.values())} pieces, {len(train.windows)} "
                        f"training windows of at most {d.max_events} events"])


def event_frequencies(pieces: list[Tensor], events: int) -> Tensor:
    """(V,) the share of each event among the events of ``pieces``, add-one smoothed (Laplace): an event
    never seen in training keeps a small probability, so the baseline's cross-entropy stays finite."""
    counts = torch.bincount(torch.cat(pieces), minlength=events).double() if pieces else torch.zeros(events)
    return ((counts + 1) / (counts.sum() + events)).float()


def unigram_nll(pieces: list[Tensor], frequencies: Tensor) -> float:
    """Cross-entropy per event (nats) of ``pieces`` with each event drawn at ``frequencies``."""
    ids = torch.cat(pieces)
    return float(-frequencies.double().log()[ids].mean()) if len(ids) else math.nan
