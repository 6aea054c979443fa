"""How ``rnnkit predict`` shows a language model's answer: the next words with their probabilities."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rnnkit.tasks.base import K

OPTIONS = [K]


def render(pipeline, text: str, options: dict[str, Any]) -> Iterator[str]:
    (suggestions,) = pipeline.predict([text], k=options.get("k"))
    for word, probability in suggestions:
        yield f"{probability:8.4f}  {word}\n"
