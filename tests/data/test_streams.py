"""Text streams for truncated BPTT: every token once, rows continue across chunks, lazy equals cached."""

import pytest
import torch

from rnnkit.data import streams
from rnnkit.data.streams import TextStream, file_span, split_rows, split_valid, text_span
from rnnkit.data.text import CharCodec, CodecConfig, build_codec


def _text(n_lines=200):
    return "".join(f"line {i}: the quick brown fox {i % 7}\n" for i in range(n_lines))


def test_rows_continue_across_chunks_and_targets_shift_by_one():
    text = _text()
    codec = CharCodec("".join(sorted(set(text))))
    stream = TextStream([text_span("t", text)], codec, batch_size=4, bptt=16)
    batches = list(stream.batches(0))
    assert batches[0].reset.all() and not any(b.reset.any() for b in batches[1:])
    for b in batches:
        assert torch.equal(b.inputs[:, 1:], b.targets[:, :-1])
    for prev, nxt in zip(batches, batches[1:]):
        assert torch.equal(prev.targets[:, -1], nxt.inputs[:, 0])  # row b goes on where it stopped
    rows = torch.cat([batches[0].inputs[:, :1]] + [b.targets for b in batches], dim=1)
    joined = "".join(codec.decode(r.tolist()) for r in rows)
    assert joined in text or len(joined) <= len(text)
    assert codec.decode(rows[0].tolist()) == text[: rows.shape[1]]  # row 0 reads the text's start in order


def test_split_rows_cuts_at_line_starts_and_covers_everything():
    text = _text()
    parts = split_rows([text_span("t", text)], 5)
    assert len(parts) == 5
    pieces = ["".join(p for s in part for p in s.pieces()) for part in parts]
    assert "".join(pieces) == text
    assert all(p.startswith("line") for p in pieces)


def test_lazy_reading_gives_the_cached_batches(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_text(_text(400), encoding="utf-8")
    codec = build_codec(CodecConfig(type="word"), [path.read_text()])
    cached = list(TextStream([file_span(path)], codec, batch_size=3, bptt=20).batches(0))
    monkeypatch.setattr(streams, "CACHE_LIMIT", 0)
    monkeypatch.setattr(streams, "ENCODE_BLOCK", 64)  # force many small encode blocks
    lazy = list(TextStream([file_span(path)], codec, batch_size=3, bptt=20).batches(0))
    assert len(cached) == len(lazy)
    for a, b in zip(cached, lazy):
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)


def test_documents_end_with_eos_for_word_codecs():
    docs = [text_span(f"d{i}", f"doc number {i} ends here") for i in range(3)]
    codec = build_codec(CodecConfig(type="word"), ["doc number 0 1 2 ends here"])
    ids = [i for block in streams.encode_spans(docs, codec) for i in block]
    assert ids.count(codec.eos_id) == 3 and ids[-1] == codec.eos_id


def test_every_row_starts_after_eos_as_a_keyboard_session_does():
    """A corpus of one document has no <eos> inside: each row still reads it first, from a zero state."""
    span = text_span("one", "".join(" ".join(f"word{i}" for i in range(9)) + "\n" for _ in range(40)))
    codec = build_codec(CodecConfig(type="word"), ["".join(span.pieces())])
    first = next(iter(TextStream([span], codec, batch_size=4, bptt=8).batches(0)))
    assert first.inputs[:, 0].tolist() == [codec.eos_id] * 4 and bool(first.reset.all())
    assert codec.decode(first.targets[0].tolist()).startswith("word0 word1")
    text = "".join(span.pieces())
    chars = next(iter(TextStream([span], CharCodec("".join(sorted(set(text)))), batch_size=4, bptt=8).batches(0)))
    assert chars.inputs[0, :5].tolist() == CharCodec("".join(sorted(set(text)))).encode("word0")  # no <eos>


def test_split_valid_by_document_or_by_tail():
    many = [text_span(f"d{i}", f"text {i}\n") for i in range(20)]
    train, valid = split_valid(many, 0.1)
    assert len(valid) == 2 and len(train) == 18 and not {s.name for s in train} & {s.name for s in valid}
    one = [text_span("one", _text(100))]
    train, valid = split_valid(one, 0.1)
    assert train[0].end == valid[0].start and valid[0].end == len(one[0].text)
    assert 0.05 < valid[0].size / one[0].size < 0.15
    assert one[0].text[valid[0].start - 1] == "\n"  # the cut lies at a line start
    with pytest.raises(ValueError, match="valid_fraction"):
        split_valid(one, 1.5)


def test_chars_per_token_is_one_for_characters():
    text = _text()
    codec = CharCodec("".join(sorted(set(text))))
    stream = TextStream([text_span("t", text)], codec, batch_size=2, bptt=8)
    assert stream.chars_per_token == pytest.approx(1.0)


def test_same_batches_every_epoch():
    text = _text()
    codec = CharCodec("".join(sorted(set(text))))
    stream = TextStream([text_span("t", text)], codec, batch_size=2, bptt=8)
    a, b = list(stream.batches(0)), list(stream.batches(1))
    assert all(torch.equal(x.inputs, y.inputs) for x, y in zip(a, b))
