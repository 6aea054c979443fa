"""How ``rnnkit predict`` shows a seq2seq model's answer: the output streamed as the search fixes it, and
with ``--attention`` a heat map of where the model looked."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from rnnkit.tasks.base import Option

OPTIONS = [
    Option("--beam", "beam size (default: the run's decode.beam; 1 is greedy)", int, "N"),
    Option("--attention", "also draw the attention heat map to this PNG file (never overwritten)", str, "PNG"),
]


def render(pipeline, text: str, options: dict[str, Any]) -> Iterator[str]:
    warn_unknown(pipeline, text)
    pieces = []
    for piece in pipeline.stream(text, beam=options.get("beam")):
        pieces.append(piece)
        yield piece
    yield "\n"
    if options.get("attention"):
        output = "".join(pieces).strip()
        yield f"attention: {pipeline.attention_figure(text, options['attention'], output=output)}\n"


def warn_unknown(pipeline, text: str) -> None:
    for word in pipeline.unknown(text):
        print(f"rnnkit: warning: {word!r} is unknown to the model and reads as <unk>", file=sys.stderr)
