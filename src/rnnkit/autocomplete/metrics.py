"""Offline measures of a ``Predictor`` on a text: keystroke savings and next-word top-k accuracy."""

from __future__ import annotations

from collections.abc import Sequence

from rnnkit.autocomplete.session import Predictor
from rnnkit.autocomplete.words import _pieces


def keystroke_savings(predictor: Predictor, text: str, *, k: int = 3, max_words: int | None = None) -> dict[str, float]:
    """Simulate typing ``text`` with a bar of ``k`` suggestions. Before each character of a word (its first
    included), if the word is among the suggestions the user accepts it with one keystroke; otherwise types
    the character. Only word characters count: spaces and punctuation are typed and not counted, so the
    space after an accepted word is neither saved nor spent. Returns ``{"keystroke_savings": 1 - keys /
    chars, "words": n}`` over the first ``max_words`` words. Deterministic."""
    keys = chars = words = 0
    cursor = predictor.begin()
    for piece, is_word in _pieces(text):
        if is_word:
            if max_words is not None and words >= max_words:
                break
            target, typed = predictor.normalize(piece), 0
            while typed < len(piece) and all(w != target for w, _ in predictor.next_words(cursor, k=k)):
                cursor, typed = predictor.feed(cursor, piece[typed]), typed + 1
            keys += min(typed + 1, len(piece))  # the accepting keystroke, unless the word was typed in full
            chars, words = chars + len(piece), words + 1
            piece = piece[typed:]
        cursor = predictor.feed(cursor, piece)
    return {"keystroke_savings": 1 - keys / chars if chars else 0.0, "words": words}


def next_word_accuracy(
    predictor: Predictor, text: str, *, k: Sequence[int] = (1, 3), max_words: int | None = None
) -> dict[str, float]:
    """How often each word of ``text`` is among the top-k suggestions at its start (nothing of it typed),
    for each k in ``k``: ``{"top1": ..., "top3": ..., "words": n}`` over the first ``max_words`` words."""
    hits = dict.fromkeys(k, 0)
    words, cursor = 0, predictor.begin()
    for piece, is_word in _pieces(text):
        if is_word:
            if max_words is not None and words >= max_words:
                break
            ranked = [w for w, _ in predictor.next_words(cursor, k=max(k))]
            target = predictor.normalize(piece)
            for j in k:
                hits[j] += target in ranked[:j]
            words += 1
        cursor = predictor.feed(cursor, piece)
    return {**{f"top{j}": hits[j] / words if words else 0.0 for j in k}, "words": words}
