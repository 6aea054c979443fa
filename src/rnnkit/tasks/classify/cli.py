"""How ``rnnkit predict`` shows a classifier's answer: the label and the probabilities, and with
``--explain`` the words shaded by how much they moved the decision, plus an HTML page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnnkit.tasks.base import K, Option
from rnnkit.tasks.classify.pipeline import DEFAULTS

OPTIONS = [
    K,
    Option("--explain", "shade the words that moved the decision, and write an HTML page", bool),
    Option("--html", "where --explain writes its page (default RUN/explanation.html, never overwritten)", str, "FILE"),
]


def render(pipeline, text: str, options: dict[str, Any]) -> Iterator[str]:
    if options.get("html") and not options.get("explain"):
        raise ValueError("--html needs --explain")
    if options.get("explain"):
        label, probabilities = yield from _explain(pipeline, text, options.get("html"))
    else:
        ((label, probabilities),) = pipeline.predict([text])
    yield f"label: {label}\n"
    for name, probability in list(probabilities.items())[: options.get("k") or DEFAULTS["k"]]:
        yield f"{probability:8.4f}  {name}\n"


def _explain(pipeline, text: str, html: str | None):
    from rich.console import Console

    from rnnkit.explain import to_terminal, write_explanation
    from rnnkit.files import free_path

    explanation = pipeline.explain(text)
    Console(highlight=False).print(to_terminal(explanation))
    if html and Path(html).exists():
        raise ValueError(f"{html}: already exists; choose another --html")
    page = Path(html) if html else free_path(Path(pipeline.loaded.run) / "explanation.html")
    yield f"explanation ({explanation.method}): {write_explanation(explanation, page)}\n"
    return explanation.label, explanation.probabilities
