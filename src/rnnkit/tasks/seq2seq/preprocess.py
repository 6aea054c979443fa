"""The preprocessor of the ``seq2seq`` task: the codecs of both sides and how a chat context is built."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.data.pairs import Pair
from rnnkit.data.text import Codec, build_codec, codec_from_dict
from rnnkit.tasks.seq2seq.config import Seq2SeqRun


class PairEncoding:
    """The codecs of both sides (one object when shared), the kind of model ("translate" or "chat"), and
    how a chat context is built. Saved in the checkpoint."""

    def __init__(self, source: Codec, target: Codec, *, kind: str = "translate", max_length: int = 100,
                 context_turns: int = 2, separator: str = "\n"):
        for side, codec in (("source", source), ("target", target)):
            if codec.eos_id is None:
                raise ValueError(f"the {side} codec has no end token: use a word or bpe codec for seq2seq")
        self.source, self.target, self.kind = source, target, kind
        self.max_length, self.context_turns, self.separator = max_length, context_turns, separator

    @property
    def shared(self) -> bool:
        return self.source is self.target

    @property
    def start_id(self) -> int:
        return self.target.eos_id  # the end token doubles as the decoder's start token

    def encode_source(self, text: str) -> Tensor:
        return torch.tensor((self.source.encode(text) or [self.source.eos_id])[: self.max_length])

    def context(self, history: list[str]) -> str:
        """A chat model's input: the last ``context_turns`` turns of ``history``."""
        return self.separator.join(history[-self.context_turns:])

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "max_length": self.max_length, "context_turns": self.context_turns,
             "separator": self.separator, "source": self.source.to_dict()}
        return d if self.shared else {**d, "target": self.target.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> PairEncoding:
        source = codec_from_dict(d["source"])
        target = codec_from_dict(d["target"]) if "target" in d else source
        return cls(source, target, kind=d["kind"], max_length=d["max_length"], context_turns=d["context_turns"],
                   separator=d["separator"])

    @classmethod
    def fit(cls, cfg: Seq2SeqRun, train: list[Pair], kind: str) -> PairEncoding:
        d = cfg.data
        if d.shared_codec:
            codec = build_codec(d.codec, (t for p in train for t in (p.source, p.target)))
            return cls(codec, codec, kind=kind, max_length=d.max_length, context_turns=d.context_turns)
        source = build_codec(d.codec, (p.source for p in train))
        target = build_codec(d.codec, (p.target for p in train))
        return cls(source, target, kind=kind, max_length=d.max_length, context_turns=d.context_turns)
