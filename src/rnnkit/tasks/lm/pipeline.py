"""The ``lm`` pipeline: next-word suggestions, typing sessions and text generation from a trained run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from rnnkit.autocomplete import Predictor, Session
from rnnkit.batch import Batch
from rnnkit.decode import sample_sequence
from rnnkit.tasks.base import Pipeline

# The one place the CLI, the HTTP API and the page take their defaults from: k suggestions; generation of
# ``length`` tokens at ``temperature`` (0.8: varied text that still keeps to the corpus's style)
DEFAULTS = {"k": 3, "length": 200, "temperature": 0.8, "top_k": None, "top_p": None}


class LanguageModelPipeline(Pipeline):
    """Next-word suggestions, streaming sessions and text generation from a trained ``lm`` run.

    ``predict(texts, k=3)`` -> for each text, the k most probable next words as (word, probability) pairs;
    ``stream(prime, length=200, temperature=0.8, ...)`` -> the generated text, piece by piece."""

    task = "lm"
    streams = True

    def __init__(self, loaded):
        super().__init__(loaded)
        self.codec = self.preprocessor
        self.predictor = Predictor(self.model, self.codec)

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(DEFAULTS)

    @property
    def commands(self) -> frozenset[str]:
        return frozenset({"generate"})

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "vocab_size": self.codec.vocab_size, "codec": self.codec.type}

    def predict(self, inputs: Sequence[str], *, k: int | None = None) -> list[list[tuple[str, float]]]:
        return [self.complete(text, k=k or DEFAULTS["k"]) for text in inputs]

    def stream(self, input: str = "", **options: Any) -> Iterator[str]:
        return self.generate(input, **options)

    def complete(self, prefix: str, *, k: int = DEFAULTS["k"]) -> list[tuple[str, float]]:
        """The k most probable next words after ``prefix``; a partly typed last word ("the m") is completed
        to whole words. Returns (word, probability) pairs, most probable first."""
        return self.session(k=k).type(prefix)

    def session(self, *, k: int = DEFAULTS["k"]) -> Session:
        """A streaming session: type and backspace one character at a time at O(1) model cost."""
        return Session(self.predictor, k=k)

    @torch.inference_mode()
    def generate(
        self,
        prime: str = "",
        *,
        length: int = DEFAULTS["length"],
        temperature: float = DEFAULTS["temperature"],
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> Iterator[str]:
        """Sample ``length`` tokens after ``prime``, yielding the new text piece by piece as it is decoded.
        The same seed gives the same text."""
        if length < 0:
            raise ValueError(f"length must be at least 0, got {length}")
        ids = [self.predictor.start_id, *(self.codec.encode(prime) if prime else [])]
        prime_ids = torch.tensor([ids])
        state = self.model.start(Batch(inputs=prime_ids))
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        out: list[int] = ids[1:]
        shown = self.codec.decode(out)  # the prime as the model reads it (a word codec may lowercase it)
        stream = sample_sequence(self.model.step, prime_ids[:, -1], state, steps=length, temperature=temperature,
                                 top_k=top_k, top_p=top_p, generator=generator)
        for token in stream:
            out.append(int(token[0]))
            text = self.codec.decode(out)
            if text.endswith("\ufffd"):
                continue  # a character split across byte-level tokens: wait for its other bytes
            yield text[len(shown):]
            shown = text
