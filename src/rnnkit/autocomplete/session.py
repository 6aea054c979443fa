"""The ``Predictor`` (a model and its codec, ready to suggest words), the commit rules that decide what the
model may read now, and the typing ``Session``."""

from __future__ import annotations

import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rnnkit.autocomplete.scorers import Cursor, LMScorer, Scorer
from rnnkit.autocomplete.search import Suggestions, TokenBeam, WordLookup
from rnnkit.autocomplete.words import _word_suffix
from rnnkit.data.text import Codec


# ---- commit rules: what the model may read now without changing how the whole text would encode ---------
def _commit_all(text: str) -> tuple[str, str]:
    return text, ""  # char: every character is a token of its own


def _commit_words(text: str) -> tuple[str, str]:
    word = _word_suffix(text)  # word: a codec word never spans a non-word character
    return text[: len(text) - len(word)], word


def _commit_spaces(text: str) -> tuple[str, str]:
    # bpe: GPT-2's pre-tokeniser never joins a non-space to the whitespace after it, so the text up to the
    # whitespace before the current word encodes the same alone; holding that whitespace back lets " mat" win.
    i = len(text)
    while i and not text[i - 1].isspace():
        i -= 1
    while i and text[i - 1].isspace():
        i -= 1
    return text[:i], text[i:]


_COMMIT: dict[str, Callable[[str], tuple[str, str]]] = {
    "char": _commit_all,
    "word": _commit_words,
    "bpe": _commit_spaces,
}


# ---- the predictor ------------------------------------------------------------------------------------------
class Predictor:
    """A language model and its codec, ready to suggest words: ``Predictor(model, codec)``.

    ``model``: a ``Scorer`` (e.g. ``NGramScorer(kn)``) or a generator such as ``LanguageModel``, wrapped
    in ``LMScorer``. Its vocabulary must be the codec's. ``beam_width`` (default ``max(2 k, 8)``) and
    ``max_steps`` set the beam search of char and BPE codecs.

    Raises ValueError if the vocabulary sizes differ."""

    def __init__(self, model: Any, codec: Codec, *, beam_width: int | None = None, max_steps: int = 24):
        self.codec = codec
        self.scorer: Scorer = model if isinstance(model, Scorer) else LMScorer(model)
        if self.scorer.vocab_size != codec.vocab_size:
            raise ValueError(f"the model predicts {self.scorer.vocab_size} ids but the codec has {codec.vocab_size}")
        self._commit = _COMMIT[codec.type]
        self._search = (
            WordLookup(codec) if codec.type == "word" else TokenBeam(codec, width=beam_width, max_steps=max_steps)
        )
        self._lower = bool(getattr(codec, "lowercase", False))
        self._nfc = codec.type == "word"  # the word codec NFC-normalises; BPE and char read code points as typed

    @property
    def start_id(self) -> int:
        """The token a document starts after: ``<eos>`` (word, BPE), or "\\n" or else " " (char).
        Raises ValueError for a char codec with neither."""
        first = self.codec.eos_id
        if first is None:
            tokens = [self.codec.token(i) for i in range(self.codec.vocab_size)]
            first = next((tokens.index(c) for c in "\n " if c in tokens), None)
            if first is None:
                raise ValueError("this char codec has neither '\\n' nor ' ' to start a document with")
        return first

    def begin(self) -> Cursor:
        """The cursor at a document start (after ``start_id``)."""
        return self.scorer.start(self.start_id)

    def feed(self, cursor: Cursor, text: str) -> Cursor:
        """The cursor after ``text`` more: the model reads each token once (O(tokens of text)); the current
        word waits in ``tail`` where the codec needs it. A char codec without ``<unk>`` raises its
        ``UnknownSymbolError`` (a ValueError) for an unseen character, leaving nothing read."""
        commit, tail = self._commit(cursor.tail + text)
        if not commit:
            return replace(cursor, tail=tail)
        read = cursor
        for i in self.codec.encode(commit):
            read = self.scorer.advance([read], [i])[0]
        return replace(read, tail=tail, word=_word_suffix(cursor.word + commit))

    def next_words(self, cursor: Cursor, partial: str = "", *, k: int = 3) -> Suggestions:
        """The ``k`` most probable whole next words after the text of ``cursor`` plus ``partial`` (a partly
        typed word, or ""), as ``(word, probability)`` best first (ties by word). The word is the one being
        typed: after "the ca" it completes "ca"; after "the " it is the next word. Words are written as
        ``normalize`` writes them; see ``WordLookup`` and ``TokenBeam`` for what the probabilities mean."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        cursor = self.feed(cursor, partial)
        return self._search.suggest(self.scorer, cursor, self.normalize(cursor.tail), k)

    def normalize(self, text: str) -> str:
        """``text`` as this predictor writes words: lowercased if the codec lowercases, NFC for words."""
        text = text.lower() if self._lower else text
        return unicodedata.normalize("NFC", text) if self._nfc else text


# ---- a typing session ---------------------------------------------------------------------------------------
class Session:
    """Types text one character at a time at O(1) model cost per keystroke: text before the current word is
    fed once (committed) and never re-read; backspace restores a saved cursor from a short history.

    The history keeps the cursor after each of the last ``history`` keystrokes that stepped the model (each
    commit), with the text length it belongs to. Backspacing restores the latest one at or before the new
    end and re-feeds the text after it, which that keystroke had left uncommitted (no model step); only when
    backspacing past the whole history is the text re-read from the start. ``k`` suggestions are shown."""

    def __init__(self, predictor: Predictor, *, k: int = 3, history: int = 64):
        self.predictor, self.k = predictor, k
        self._start = self._cursor = predictor.begin()
        self._chars: list[str] = []
        self._saved: deque[tuple[int, Cursor]] = deque(maxlen=history)

    @property
    def text(self) -> str:
        return "".join(self._chars)

    def type(self, chars: str) -> Suggestions:
        """Append ``chars`` (one keystroke each) and return the suggestions."""
        for c in chars:
            cursor = self.predictor.feed(self._cursor, c)
            self._chars.append(c)
            if cursor.state is not self._cursor.state:
                self._saved.append((len(self._chars), cursor))
            self._cursor = cursor
        return self.suggestions()

    def backspace(self, n: int = 1) -> Suggestions:
        """Delete the last ``n`` characters and return the suggestions."""
        if not 0 <= n <= len(self._chars):
            raise ValueError(f"cannot delete {n} of {len(self._chars)} characters")
        end = len(self._chars) - n
        del self._chars[end:]
        while self._saved and self._saved[-1][0] > end:
            self._saved.pop()
        at, cursor = self._saved[-1] if self._saved else (0, self._start)
        self._cursor = self.predictor.feed(cursor, "".join(self._chars[at:]))
        return self.suggestions()

    def suggestions(self, k: int | None = None) -> Suggestions:
        """The ``k`` (default: the session's) best words for the word at the end of the text."""
        return self.predictor.next_words(self._cursor, k=k or self.k)

    def accept(self, word: str) -> Suggestions:
        """Complete the current word as ``word`` and type a space (Tab on a suggestion). The typed part is
        kept when ``word`` extends it (up to normalisation), else replaced."""
        typed = _word_suffix(self.text)
        norm = self.predictor.normalize
        if not norm(word).startswith(norm(typed)) or len(word) < len(typed):
            self.backspace(len(typed))
            typed = ""
        return self.type(word[len(typed) :] + " ")
