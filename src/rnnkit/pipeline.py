"""From a run directory to predictions on raw input: what the CLI and the server share.

``from_checkpoint(run)`` loads the model, its codec and its settings from a run directory and returns
the task's pipeline; the caller hands it text and gets text back, so preprocessing lives in one place
and training and serving cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from rnnkit.autocomplete import Predictor, Session
from rnnkit.batch import Batch
from rnnkit.data.text import codec_from_dict
from rnnkit.decode import sample_sequence
from rnnkit.tasks.runner import Loaded, load


class LanguageModelPipeline:
    """Next-word suggestions, streaming sessions and text generation from a trained ``lm`` run."""

    task = "lm"

    def __init__(self, loaded: Loaded):
        self.loaded = loaded
        self.model = loaded.model
        self.codec = codec_from_dict(loaded.codec)
        self.predictor = Predictor(self.model, self.codec)

    def complete(self, prefix: str, *, k: int = 3) -> list[tuple[str, float]]:
        """The k most probable next words after ``prefix``; a partly typed last word ("the m") is completed
        to whole words. Returns (word, probability) pairs, most probable first."""
        return self.session(k=k).type(prefix)

    def session(self, *, k: int = 3) -> Session:
        """A streaming session: type and backspace one character at a time at O(1) model cost."""
        return Session(self.predictor, k=k)

    @torch.inference_mode()
    def generate(
        self,
        prime: str = "",
        *,
        length: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> Iterator[str]:
        """Sample ``length`` tokens after ``prime``, yielding the new text piece by piece as it is decoded.
        The same seed gives the same text."""
        if length < 0:
            raise ValueError(f"length must be at least 0, got {length}")
        ids = self.codec.encode(prime) if prime else []
        ids = [self.predictor.start_id, *ids]
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


PIPELINES = {"lm": LanguageModelPipeline}


def from_checkpoint(run: str | Path) -> LanguageModelPipeline:
    """The pipeline of a trained run directory (its ``best`` checkpoint, else ``last``)."""
    loaded = load(run)
    if loaded.task not in PIPELINES:
        raise ValueError(f"{run}: task {loaded.task!r} has no prediction pipeline; known: {', '.join(PIPELINES)}")
    return PIPELINES[loaded.task](loaded)
