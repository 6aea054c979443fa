"""How ``rnnkit predict`` shows a language model's answer: the next words with their probabilities."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rnnkit.tasks.base import K, Option

SCORER = Option("--scorer", "lm: what suggests the next words: rnn, ngram or mixture (default: mixture when the run "
                "saved one, else rnn)", str, "NAME")
OPTIONS = [K, SCORER]


def render(pipeline, text: str, options: dict[str, Any]) -> Iterator[str]:
    (suggestions,) = pipeline.predict([text], k=options.get("k"), scorer=options.get("scorer"))
    for word, probability in suggestions:
        yield f"{probability:8.4f}  {word}\n"
