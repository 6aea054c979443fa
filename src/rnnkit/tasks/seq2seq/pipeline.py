"""The ``seq2seq`` pipeline: translations (whole or streamed piece by piece) and chat replies."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from rnnkit.batch import Batch
from rnnkit.tasks.base import Pipeline


class Seq2SeqPipeline(Pipeline):
    """Translations or chat replies from a trained ``seq2seq`` run; ``kind`` says which ("translate" or
    "chat"). Decoding follows the run's ``decode`` settings (beam search of ``decode.beam``)."""

    task = "seq2seq"
    streams = True

    def __init__(self, loaded):
        super().__init__(loaded)
        self.encoding = self.preprocessor
        self.decode = loaded.config.decode

    @property
    def kind(self) -> str:
        return self.encoding.kind

    @property
    def defaults(self) -> dict[str, Any]:
        """The run's own decoding settings: ``beam`` (1: greedy) and the length penalty."""
        return {"beam": self.decode.beam, "length_penalty": self.decode.length_penalty}

    @property
    def commands(self) -> frozenset[str]:
        return frozenset({"chat"}) if self.kind == "chat" else frozenset()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kind": self.kind}

    def predict(self, inputs: Sequence[str], *, beam: int | None = None) -> list[str]:
        """The output for each input (a chat model's input is its context), decoded in batches."""
        from rnnkit.tasks.seq2seq.task import translate

        return translate(self.model, self.encoding, [self._check(t) for t in inputs], self.decode, beam=beam)

    def stream(self, input: str, *, beam: int | None = None) -> Iterator[str]:
        return self.translate_stream(input, beam=beam)

    def translate(self, text: str, *, beam: int | None = None) -> str:
        """The model's output for ``text``: beam search of ``beam`` hypotheses (default the run's; 1 greedy)."""
        return self.predict([text], beam=beam)[0]

    def translate_stream(self, text: str, *, beam: int | None = None) -> Iterator[str]:
        """The output of ``translate`` piece by piece, each piece as soon as the search has fixed it (with a
        beam, once every hypothesis that can still win agrees on it)."""
        from rnnkit.decode.beam import beam_stream

        enc, beam = self.encoding, beam or self.decode.beam
        source = enc.encode_source(self._check(text)).unsqueeze(0)
        with torch.inference_mode():
            state = self.model.start(Batch(source, lengths=torch.tensor([source.shape[1]])))
            first = torch.tensor([enc.start_id])
            out: list[int] = []
            shown = ""
            limit = self.decode.limit(source.shape[1])
            for ids in beam_stream(self.model.step, first, state, beam_size=beam, max_length=limit,
                                   eos_id=enc.target.eos_id, length_penalty=self.decode.length_penalty,
                                   no_repeat_ngram=self.decode.no_repeat_ngram):
                out.extend(i for i in ids if i != enc.target.eos_id)
                text_now = enc.target.decode(out)
                if text_now.endswith("\ufffd"):
                    continue  # a character split across byte-level tokens: wait for its other bytes
                if len(text_now) > len(shown):
                    yield text_now[len(shown):]
                    shown = text_now

    def reply(self, message: str, history: list[str] | None = None, *, beam: int | None = None) -> str:
        """A chat model's reply to ``message`` after the earlier turns ``history`` (oldest first)."""
        return self.translate(self.context(message, history), beam=beam)

    def reply_stream(self, message: str, history: list[str] | None = None, *, beam: int | None = None
                     ) -> Iterator[str]:
        """``reply`` piece by piece, as the search fixes it."""
        return self.translate_stream(self.context(message, history), beam=beam)

    def context(self, message: str, history: list[str] | None = None) -> str:
        """A chat model's input: the last turns of ``history`` and ``message``."""
        return self.encoding.context([*(history or []), self._check(message)])

    def attention_figure(self, text: str, path: str | Path, *, output: str | None = None) -> Path:
        """A heat map of where the model looked for each output token of ``text`` (its greedy output, or
        the given ``output``), written to ``path`` (PNG); an existing file is never overwritten."""
        from rnnkit.tasks.seq2seq.task import attention_figure

        path = Path(path)
        if path.exists():
            raise ValueError(f"{path}: already exists; choose another file")
        return attention_figure(self.model, self.encoding, self._check(text), path, decode=self.decode, output=output)

    def unknown(self, text: str) -> list[str]:
        """The words of ``text`` that the source codec maps to its unknown token (a byte-level codec has none)."""
        codec = self.encoding.source
        if codec.unk_id is None or codec.type == "bpe":
            return []
        words = codec.words(text) if hasattr(codec, "words") else list(text)
        return [w for w in words if codec.encode(w) == [codec.unk_id]]

    @staticmethod
    def _check(text: str) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("give a non-empty text")
        return text
