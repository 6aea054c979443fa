"""The ``lm`` pipeline: next-word suggestions, typing sessions and text generation from a trained run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from rnnkit.autocomplete import NGramScorer, Predictor, Session
from rnnkit.batch import Batch
from rnnkit.decode import sample_sequence
from rnnkit.tasks.base import Pipeline
from rnnkit.tasks.lm.mixture import Mixture

# The one place the CLI, the HTTP API and the page take their defaults from: k suggestions; generation of
# ``length`` tokens at ``temperature`` (0.8: varied text that still keeps to the corpus's style). The scorer
# of suggestions is the run's mixture when it saved one, else the recurrent model ("rnn").
DEFAULTS = {"k": 3, "length": 200, "temperature": 0.8, "top_k": None, "top_p": None}
SCORERS = ("rnn", "ngram", "mixture")  # the recurrent model, the run's n-gram, and the two interpolated


class LanguageModelPipeline(Pipeline):
    """Next-word suggestions, streaming sessions and text generation from a trained ``lm`` run.

    ``predict(texts, k=3)`` -> for each text, the k most probable next words as (word, probability) pairs;
    ``stream(prime, length=200, temperature=0.8, ...)`` -> the generated text, piece by piece.

    Suggestions come from one of ``scorers``: "rnn" (the recurrent model), and, for a run that saved its
    n-gram and mixture weight (``rnnkit.tasks.lm.mixture``), "ngram" and "mixture" (the default there).
    Generation always samples the recurrent model."""

    task = "lm"
    streams = True

    def __init__(self, loaded):
        super().__init__(loaded)
        self.codec = self.preprocessor
        self.mixture = Mixture.load(loaded.run) if loaded.run is not None else None
        self._predictors: dict[str, Predictor] = {}
        self.predictor = self.predictor_for(None)

    @property
    def scorers(self) -> tuple[str, ...]:
        return SCORERS if self.mixture is not None else SCORERS[:1]

    @property
    def defaults(self) -> dict[str, Any]:
        return {**DEFAULTS, "scorer": self.scorers[-1]}

    def predictor_for(self, scorer: str | None) -> Predictor:
        """The predictor of ``scorer`` (None: the default). Raises ValueError for a scorer this run lacks."""
        scorer = scorer or self.scorers[-1]
        if scorer not in self.scorers:
            raise ValueError(f"scorer {scorer!r}: this model offers {', '.join(self.scorers)}"
                             + ("" if self.mixture else " (its run saved no n-gram: train it with data.mixture on)"))
        if scorer not in self._predictors:
            source = {"rnn": lambda: self.model, "ngram": lambda: NGramScorer(self.mixture.ngram),
                      "mixture": lambda: self.mixture.scorer(self.model)}[scorer]()
            self._predictors[scorer] = Predictor(source, self.codec)
        return self._predictors[scorer]

    @property
    def commands(self) -> frozenset[str]:
        return frozenset({"generate"})

    def describe(self) -> dict[str, Any]:
        mixture = {} if self.mixture is None else {"mixture_weight": self.mixture.weight}
        return {**super().describe(), "vocab_size": self.codec.vocab_size, "codec": self.codec.type,
                "scorers": list(self.scorers), **mixture}

    def predict(self, inputs: Sequence[str], *, k: int | None = None,
                scorer: str | None = None) -> list[list[tuple[str, float]]]:
        return [self.complete(text, k=k or DEFAULTS["k"], scorer=scorer) for text in inputs]

    def stream(self, input: str = "", **options: Any) -> Iterator[str]:
        return self.generate(input, **options)

    def complete(self, prefix: str, *, k: int = DEFAULTS["k"], scorer: str | None = None) -> list[tuple[str, float]]:
        """The k most probable next words after ``prefix``; a partly typed last word ("the m") is completed
        to whole words. Returns (word, probability) pairs, most probable first."""
        return self.session(k=k, scorer=scorer).type(prefix)

    def session(self, *, k: int = DEFAULTS["k"], scorer: str | None = None) -> Session:
        """A streaming session: type and backspace one character at a time at O(1) model cost."""
        return Session(self.predictor_for(scorer), k=k)

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
