"""Word characters: what counts as part of a word, and the word being typed at the end of a text."""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterator


def is_word_char(c: str) -> bool:
    """Letters, digits, combining marks (Hindi vowel signs are marks), and the joiners ' ’ and -."""
    return c.isalnum() or c in "'’-" or unicodedata.category(c)[0] == "M"


def _word_suffix(text: str) -> str:
    """The trailing run of word characters: the word being typed at the end of ``text`` ("" after a space)."""
    i = len(text)
    while i and is_word_char(text[i - 1]):
        i -= 1
    return text[i:]


def _pieces(text: str) -> Iterator[tuple[str, bool]]:
    """``text`` cut into maximal runs of word characters (True) and of everything else (False)."""
    for is_word, run in itertools.groupby(text, key=is_word_char):
        yield "".join(run), is_word
