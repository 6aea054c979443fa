"""Text as truncated-BPTT batches: B parallel streams cut into chunks of T tokens.

The corpus (documents, each ending in ``<eos>`` when the codec has one) is laid end to end and cut into
B equal parts, one per batch row; each chunk holds the next T tokens of every row, and its targets are
the same tokens shifted by one (pytorch/examples word_language_model, ``batchify`` and ``get_batch``)::

    row 0:  a b c d | e f g h | i ...        inputs  (B, T) = tokens t .. t+T-1
    row 1:  n o p q | r s t u | v ...        targets (B, T) = tokens t+1 .. t+T
            chunk 0   chunk 1   chunk 2      the state at the end of chunk k starts chunk k+1

The rows are read lazily (a file larger than memory still trains); small corpora are encoded once and
kept as a tensor. The first chunk of an epoch sets ``reset`` for every row, so no state leaks from the
end of one epoch into the start of the next. With a codec that has ``<eos>``, every row starts with it:
the model reads text from a zero state exactly as a keyboard session starts (after ``<eos>``,
``autocomplete.Predictor.start_id``), even on a corpus of one document, where ``<eos>`` is otherwise
never an input.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from rnnkit.batch import Batch
from rnnkit.data.corpus import iter_text, line_start_after
from rnnkit.data.text import Codec

CACHE_LIMIT = 64 << 20  # corpora up to this many bytes are encoded once and kept in memory
ENCODE_BLOCK = 1 << 16  # characters handed to the codec at a time (always ending at a line end)


@dataclass(frozen=True)
class Span:
    """A piece of one document: the byte range [start, end) of a file, or the character range of an
    in-memory text. ``ends_document`` is true when the piece runs to the document's end (``<eos>``)."""

    name: str
    start: int
    end: int
    path: Path | None = None
    text: str | None = None
    ends_document: bool = True

    @property
    def size(self) -> int:
        return self.end - self.start

    def pieces(self) -> Iterator[str]:
        if self.text is not None:
            yield self.text[self.start : self.end]
        else:
            yield from iter_text(self.path, start=self.start, end=self.end)

    def split_at(self, offset: int) -> tuple[Span, Span]:
        """Two spans cut at the first line start at or after ``offset`` (absolute position)."""
        if self.text is not None:
            newline = self.text.find("\n", offset, self.end)
            cut = self.end if newline < 0 else newline + 1
        else:
            cut = min(line_start_after(self.path, offset), self.end)
        return replace(self, end=cut, ends_document=False), replace(self, start=cut)


def file_span(path: Path) -> Span:
    return Span(name=str(path), start=0, end=path.stat().st_size, path=path)


def text_span(name: str, text: str) -> Span:
    return Span(name=name, start=0, end=len(text), text=text)


def split_rows(spans: Sequence[Span], rows: int) -> list[list[Span]]:
    """Cut the concatenated spans into ``rows`` contiguous parts of about equal size, at line starts."""
    total = sum(s.size for s in spans)
    target = total / rows
    parts: list[list[Span]] = [[]]
    filled = 0
    queue = list(spans)
    while queue:
        span = queue.pop(0)
        room = round(target * len(parts)) - filled
        if len(parts) < rows and span.size > room:
            head, tail = span.split_at(span.start + room)
            if head.size:
                parts[-1].append(head)
                filled += head.size
            parts.append([])
            if tail.size:
                queue.insert(0, tail)
            continue
        parts[-1].append(span)
        filled += span.size
    return parts + [[] for _ in range(rows - len(parts))]


def encode_spans(spans: Sequence[Span], codec: Codec) -> Iterator[list[int]]:
    """Token ids of the spans in order, a block of whole lines at a time; ``<eos>`` after a document."""
    for span in spans:
        carry = ""
        for piece in span.pieces():
            text = carry + piece
            cut = _block_end(text) if len(text) > ENCODE_BLOCK else 0
            if cut:
                yield codec.encode(text[:cut])
                carry = text[cut:]
            else:
                carry = text
        if carry:
            yield codec.encode(carry)
        if span.ends_document and codec.eos_id is not None:
            yield [codec.eos_id]


def _block_end(text: str) -> int:
    """Where to cut a long text for encoding: after its last line end, else its last space, else anywhere
    (a file with no line breaks must not grow the buffer without bound)."""
    return text.rfind("\n") + 1 or text.rfind(" ") + 1 or len(text)


def split_valid(spans: Sequence[Span], fraction: float) -> tuple[list[Span], list[Span]]:
    """(train, valid) spans: whole documents, spread evenly, when there are ten or more; otherwise the
    last ``fraction`` of each document (a single file's last part)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"data.valid_fraction must be between 0 and 1, got {fraction}")
    if len(spans) >= 10:
        valid = [int((i + 1) * fraction) > int(i * fraction) for i in range(len(spans))]
        return [s for s, v in zip(spans, valid) if not v], [s for s, v in zip(spans, valid) if v]
    train, held = [], []
    for span in spans:
        head, tail = span.split_at(span.start + round(span.size * (1 - fraction)))
        train.append(head)
        held.append(tail)
    return [s for s in train if s.size], [s for s in held if s.size]


class TextStream:
    """``batches(epoch)`` of a corpus for truncated BPTT: ``Batch(inputs (B, T), targets (B, T), reset (B,))``.

    Every epoch gives the same batches (the trainer's resume relies on it). A last, shorter chunk is kept
    when every row has tokens left, so no text is dropped but the few tokens past the shortest row.
    """

    def __init__(self, spans: Sequence[Span], codec: Codec, *, batch_size: int, bptt: int):
        if batch_size < 1 or bptt < 1:
            raise ValueError(f"batch_size and bptt must be at least 1, got {batch_size} and {bptt}")
        if not spans or sum(s.size for s in spans) == 0:
            raise ValueError("the text split is empty")
        self.codec, self.batch_size, self.bptt = codec, batch_size, bptt
        self._start = () if codec.eos_id is None else (codec.eos_id,)  # each row's first input
        self.spans = list(spans)
        self.rows = split_rows(spans, batch_size)
        self.size = sum(s.size for s in spans)
        self._cache: torch.Tensor | None = None

    @property
    def chars_per_token(self) -> float:
        """Characters of text per token (1 for a character codec): turns nats per token into bits per
        character. Exact for a cached corpus, estimated on the first row's first megabyte otherwise."""
        if self.size <= CACHE_LIMIT:
            tokens = self._encoded().numel()
            return self._chars / tokens
        reader = encode_spans(self.rows[0], self.codec)
        sample = list(itertools.islice((i for ids in reader for i in ids), 1 << 18))
        return len(self.codec.decode(sample)) / max(len(sample), 1)

    def __len__(self) -> int:
        """Batches in one pass: exact for a cached corpus, estimated from ``chars_per_token`` otherwise."""
        if self.size <= CACHE_LIMIT:
            n = self._encoded().shape[1]
        else:
            n = int(self.size / self.batch_size / self.chars_per_token)
        return max(1, math.ceil((n - 1) / self.bptt))

    def batches(self, epoch: int = 0) -> Iterator[Batch]:
        if self.size <= CACHE_LIMIT:
            yield from self._chunks_of(self._encoded())
            return
        yield from self._chunks_lazily()

    def _encoded(self) -> torch.Tensor:
        """(B, N): every row encoded and cut to the shortest row's length."""
        if self._cache is None:
            rows = [[*self._start, *(i for ids in encode_spans(r, self.codec) for i in ids)] for r in self.rows]
            n = min(len(r) for r in rows)
            if n < 2:
                raise ValueError(f"the text split is too short for {self.batch_size} rows of at least 2 tokens")
            self._cache = torch.tensor([r[:n] for r in rows], dtype=torch.long)
            total = sum(len(r) for r in rows)
            self._chars = sum(len(p) for r in self.rows for s in r for p in s.pieces()) * n * len(rows) / total
        return self._cache

    def _chunks_of(self, tokens: torch.Tensor) -> Iterator[Batch]:
        n = tokens.shape[1]
        for k, t in enumerate(range(0, n - 1, self.bptt)):
            end = min(t + self.bptt, n - 1)
            yield self._batch(tokens[:, t : end + 1], first=k == 0)

    def _chunks_lazily(self) -> Iterator[Batch]:
        """The same chunks as ``_chunks_of`` without holding the corpus: each row keeps a small buffer."""
        readers = [encode_spans(r, self.codec) for r in self.rows]
        buffers: list[list[int]] = [list(self._start) for _ in self.rows]
        first = True
        while True:
            for reader, buf in zip(readers, buffers):
                while len(buf) < self.bptt + 1:
                    ids = next(reader, None)
                    if ids is None:
                        break
                    buf.extend(ids)
            width = min(len(b) for b in buffers)
            if width < 2:
                return
            width = min(width, self.bptt + 1)
            yield self._batch(torch.tensor([b[:width] for b in buffers], dtype=torch.long), first=first)
            first = False
            for b in buffers:
                del b[: width - 1]  # the last target is the next chunk's first input

    def _batch(self, window: torch.Tensor, *, first: bool) -> Batch:
        reset = torch.full((self.batch_size,), first, dtype=torch.bool)
        return Batch(inputs=window[:, :-1], targets=window[:, 1:], reset=reset)
