"""Showing which words moved a classifier's decision: per-token scores shaded in a terminal or a web page.

Rendering only: the scores come from elsewhere (``ClassifierPipeline.explain``: integrated gradients, gradient
x input or attention weights). A token is shaded green when it pushed toward the predicted label and red
when it pushed away; the intensity is its |score| as a share of the largest |score| in the example, so any
scale of score reads the same way and the strongest token always gets the full colour. The HTML needs no
CSS or script of its own.

>>> e = Explanation(["a", "dull", "film"], [0.1, 2.0, -0.3], "neg", {"neg": 0.9, "pos": 0.1}, "gradient x input")
>>> Console().print(to_terminal(e))
>>> top_tokens(e, 2)
[('dull', 2.0), ('film', -0.3)]
>>> write_explanation(e, "runs/sst/explanation.html")
PosixPath('runs/sst/explanation.html')
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

from rich.style import Style
from rich.text import Text

from rnnkit.report import Section, Table, format_number, write_report

__all__ = ["Explanation", "to_html", "to_terminal", "top_tokens", "write_explanation"]

GREEN = (22, 163, 74)  # toward the label
RED = (220, 38, 38)  # away from it


@dataclass
class Explanation:
    """Why a classifier chose ``label`` for one input.

    ``tokens`` are the units the model read, as shown to the user, in order; ``scores`` holds one number per
    token: positive where the token pushed toward ``label``, negative where it pushed away, on any scale.
    ``probabilities`` maps every class to its probability; ``method`` names how the scores were computed
    (e.g. "gradient x input", "attention weight"). Raises ValueError when tokens and scores differ in number.
    """

    tokens: list[str]
    scores: list[float]
    label: str
    probabilities: dict[str, float]
    method: str

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.scores):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.scores)} scores: need one score per token")


def shares(scores: list[float]) -> list[float]:
    """Each score as a share of the largest finite |score|, in [-1, 1]; all 0 when that is 0 (all scores zero).

    NaN counts as 0 and an infinite score as -1 or 1, so a broken score never breaks the page.
    """
    top = max((abs(s) for s in scores if math.isfinite(s)), default=0.0)
    out = []
    for s in scores:
        if math.isnan(s) or (top == 0.0 and math.isfinite(s)):
            out.append(0.0)
        else:
            out.append(max(-1.0, min(1.0, s / top)) if math.isfinite(s) else math.copysign(1.0, s))
    return out


def to_terminal(e: Explanation) -> Text:
    """The tokens joined by spaces as a rich ``Text``, each on a background from white (no push) to full green
    (the strongest push toward the label) or red (away). Prints nothing; ``Console().print`` it."""
    text = Text()
    for i, (token, share) in enumerate(zip(e.tokens, shares(e.scores))):
        if i:
            text.append(" ")
        text.append(token, style=_terminal_style(share))
    return text


def _terminal_style(share: float) -> Style | str:
    if share == 0.0:
        return ""  # no push: the terminal's own colours
    colour = GREEN if share > 0 else RED
    r, g, b = (round(255 + (c - 255) * abs(share)) for c in colour)  # blend from white by |share|
    # an explicit foreground, so a shaded word reads on light and dark terminals alike
    return Style(bgcolor=f"rgb({r},{g},{b})", color="white" if abs(share) > 0.6 else "black")


def to_html(e: Explanation) -> str:
    """A self-contained HTML fragment: a ``<p>`` of one ``<span>`` per token, then a table of the class
    probabilities, best first.

    Each span's background is ``rgba(GREEN or RED, alpha)`` with alpha = |score| / max |score| (3 decimals),
    and its ``title`` (the hover text) is the raw score with 3 decimals. Tokens, labels and the method are
    HTML-escaped, so the fragment is safe to insert as ``rnnkit.report.Section(html=...)``.
    """
    spans = []
    for token, score, share in zip(e.tokens, e.scores, shares(e.scores)):
        r, g, b = GREEN if share >= 0 else RED
        style = f"background-color: rgba({r}, {g}, {b}, {abs(share):.3f}); padding: 0 2px; border-radius: 3px"
        spans.append(f'<span style="{style}" title="{_esc(f"{score:.3f}")}">{_esc(token)}</span>')
    ranked = sorted(e.probabilities.items(), key=lambda kv: kv[1], reverse=True)
    rows = "".join(
        f'<tr><td>{_esc(str(name))}</td><td class="num">{_esc(format_number(p))}</td></tr>' for name, p in ranked
    )
    return (
        f'<p class="explanation">{" ".join(spans)}</p>\n'
        f"<table>\n<caption>predicted: {_esc(e.label)} (scores: {_esc(e.method)})</caption>\n"
        f"<thead><tr><th>label</th><th>probability</th></tr></thead>\n<tbody>{rows}</tbody>\n</table>"
    )


def top_tokens(e: Explanation, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` (token, score) pairs with the largest |score|, largest first; ties keep the token order."""
    magnitude = [0.0 if math.isnan(s) else abs(s) for s in e.scores]  # NaN ranks with the zeros
    order = sorted(range(len(e.tokens)), key=lambda i: -magnitude[i])
    return [(e.tokens[i], e.scores[i]) for i in order[: max(k, 0)]]


def write_explanation(e: Explanation, path: str | Path) -> Path:
    """A full report page at ``path`` (atomically, via ``rnnkit.report.write_report``): the shaded words, the
    class probabilities and the five strongest tokens, in one section. Returns the path."""
    probability = e.probabilities.get(e.label, float("nan"))
    text = (
        f"Predicted label: {e.label} (probability {format_number(probability)}). Scores by {e.method}: green "
        "words pushed toward the label, red words away; the stronger the colour, the larger the push. "
        "Hover over a word to see its score."
    )
    strongest = Table(["token", "score"], [[t, s] for t, s in top_tokens(e)], caption="largest |score| first")
    section = Section("Words that moved the decision", text=text, html=to_html(e), table=strongest)
    return write_report(path, title=f"Explanation: {e.label}", sections=[section])


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
