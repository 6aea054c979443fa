"""The two searches for the next whole word: ``WordLookup`` (word codec, bisection in a sorted word list)
and ``TokenBeam`` (char and BPE codecs, a small beam search over tokens)."""

from __future__ import annotations

import bisect
import functools
import math
from typing import NamedTuple

import numpy as np

from rnnkit.autocomplete.scorers import Cursor, Scorer
from rnnkit.autocomplete.words import _word_suffix, is_word_char
from rnnkit.data.text import EOS, UNK, Codec

Suggestions = list[tuple[str, float]]
_LAST = "\U0010ffff"  # sorts after every character: [prefix, prefix + _LAST) holds the strings starting with prefix


class WordLookup:
    """Word codec: P(next token = w) over the vocabulary words w that start with the typed prefix. The
    probabilities are renormalised over those words (so they are P(w | context, the next word starts with
    prefix)); punctuation, ``<unk>`` and ``<eos>`` are never words."""

    def __init__(self, codec: Codec):
        words = sorted(
            (w, i)
            for i in range(codec.vocab_size)
            if (w := codec.token(i)) not in (UNK, EOS) and any(c.isalnum() for c in w)
        )
        self._words = [w for w, _ in words]
        self._ids = np.array([i for _, i in words], dtype=np.int64)

    def suggest(self, scorer: Scorer, cursor: Cursor, prefix: str, k: int) -> Suggestions:
        lo = bisect.bisect_left(self._words, prefix)
        hi = bisect.bisect_left(self._words, prefix + _LAST, lo)
        if lo == hi:
            return []
        p = np.exp(cursor.logp[self._ids[lo:hi]].astype(np.float64))  # (hi - lo,)
        top = np.argpartition(-p, k - 1)[:k] if hi - lo > k else np.arange(hi - lo)
        best = sorted(top.tolist(), key=lambda j: (-p[j], j))
        total = p.sum()
        return [(self._words[lo + j], float(p[j] / total)) for j in best if p[j] > 0]


@functools.lru_cache(maxsize=1 << 16)
def _classify(text: str, has_word: bool) -> tuple[str, str]:
    """What a token's ``text`` does to a hypothesis that has (or has not yet) a word character:
    ("extend", chars) adds word characters (or whitespace before the word); ("finish", chars) adds them and
    then reaches a non-word character; ("end", "") ends the word at once; ("dead", "") cannot start a word."""
    if not has_word:
        text = text.lstrip()  # whitespace before a word is allowed (BPE's " mat")
        if text and not is_word_char(text[0]):
            return "dead", ""
    n = next((i for i, c in enumerate(text) if not is_word_char(c)), len(text))
    if n == len(text):
        return "extend", text
    return ("finish", text[:n]) if n else ("end", "")


class _Hyp(NamedTuple):
    logp: float  # log-probability of the path
    cursor: Cursor
    word: str  # the word characters so far (once ``need`` is spelled)
    need: str  # typed text the path must still spell


class _Child(NamedTuple):
    logp: float
    parent: Cursor
    token: int
    word: str
    need: str


class TokenBeam:
    """Char and BPE codecs: beam search over tokens for the next whole word.

    Hypotheses first spell ``need`` (the text typed after the committed part), then grow word characters;
    a word finishes on the first non-word character after at least one word character, scoring the
    hypothesis probability times that of the ending token (the mass of all ending tokens at once, when the
    ending is a token of its own). Paths to the same word add up; the search keeps ``width`` hypotheses,
    takes at most ``max_steps`` steps and stops once no hypothesis can beat the ``width // 2``-th word found
    (the k-th if k is larger), so for k up to ``width // 2`` a smaller k gets a prefix of the same list. Returned
    probabilities are renormalised over the words the search finished (an approximation of
    P(word | context, prefix)). ``<unk>`` and tokens holding U+FFFD (part of a multi-byte character) are
    never used."""

    def __init__(self, codec: Codec, *, width: int | None = None, max_steps: int = 24):
        self.width, self.max_steps = width, max_steps
        texts: list[str | None] = [codec.token(i) for i in range(codec.vocab_size)]
        if codec.eos_id is not None:
            texts[codec.eos_id] = "\n"  # a document end ends a word, like a newline
        for i, t in enumerate(texts):
            if i == codec.unk_id or not t or "\ufffd" in t:
                texts[i] = None
        self._texts = texts
        by_text = sorted((t, i) for i, t in enumerate(texts) if t is not None)
        self._sorted = [t for t, _ in by_text]
        self._sorted_ids = np.array([i for _, i in by_text], dtype=np.int64)
        self._by_text: dict[str, list[int]] = {}
        for t, i in by_text:
            self._by_text.setdefault(t, []).append(i)
        kinds = {h: [_classify(t, h)[0] if t is not None else "dead" for t in texts] for h in (False, True)}
        # additive masks over (V,): 0 where a token can extend or finish a word, -inf elsewhere
        self._mask = {
            h: np.where(np.isin(kinds[h], ["extend", "finish"]), 0.0, -np.inf).astype(np.float32) for h in (False, True)
        }
        self._ends = np.flatnonzero(np.array(kinds[True]) == "end")

    def suggest(self, scorer: Scorer, cursor: Cursor, need: str, k: int) -> Suggestions:
        width = self.width or max(2 * k, 8)
        keep = max(k, width // 2)  # the search ignores k up to width / 2: a smaller k gets a prefix of the list
        hyps = [_Hyp(0.0, cursor, _word_suffix(cursor.word + need), need)]
        done: dict[str, float] = {}  # word -> probability summed over the paths that finished it
        for _ in range(self.max_steps):
            children: list[_Child] = []
            for hyp in hyps:
                self._expand(hyp, width=width, done=done, children=children)
            children = sorted(children, key=lambda c: -c.logp)[:width]
            if len(done) >= keep:  # a hypothesis less likely than the keep-th word cannot make a new word beat it
                floor = math.log(sorted(done.values())[-keep])
                children = [c for c in children if c.logp > floor]
            if not children:
                break
            cursors = scorer.advance([c.parent for c in children], [c.token for c in children])
            hyps = [_Hyp(c.logp, cur, c.word, c.need) for c, cur in zip(children, cursors)]
        total = sum(done.values())
        best = sorted(done.items(), key=lambda wp: (-wp[1], wp[0]))[:k]
        return [(w, p / total) for w, p in best if p > 0]  # p == 0: a path so unlikely that exp underflowed

    def _expand(self, hyp: _Hyp, *, width: int, done: dict[str, float], children: list[_Child]) -> None:
        """Add the words ``hyp`` finishes to ``done`` and its best one-token extensions to ``children``."""
        lp = hyp.cursor.logp
        if hyp.need:
            for t in self._consistent(hyp.need, lp, width):
                text, logp = self._texts[t], hyp.logp + float(lp[t])
                if len(text) <= len(hyp.need):  # still spelling the typed text
                    children.append(_Child(logp, hyp.cursor, t, hyp.word, hyp.need[len(text) :]))
                else:
                    self._follow(hyp, t, text[len(hyp.need) :], logp, done, children)
            return
        if hyp.word:  # every token that starts with a non-word character ends the word: add their mass at once
            end = float(np.exp(lp[self._ends].astype(np.float64)).sum())
            _add(done, hyp.word, hyp.logp + math.log(end or 1e-300))
        masked = lp + self._mask[bool(hyp.word)]
        top = np.argpartition(masked, -width)[-width:] if len(masked) > width else np.arange(len(masked))
        for t in top.tolist():
            if masked[t] > -np.inf:
                self._follow(hyp, t, self._texts[t], hyp.logp + float(lp[t]), done, children)

    @staticmethod
    def _follow(hyp: _Hyp, t: int, text: str, logp: float, done: dict[str, float], children: list[_Child]) -> None:
        kind, chars = _classify(text, bool(hyp.word))
        if kind == "extend":
            children.append(_Child(logp, hyp.cursor, t, hyp.word + chars, ""))
        elif kind != "dead":
            _add(done, hyp.word + chars, logp)

    def _consistent(self, need: str, lp: np.ndarray, width: int) -> list[int]:
        """Tokens that agree with ``need``: those starting with it (the likeliest 4 * width of them), and
        those that are a proper prefix of it."""
        lo = bisect.bisect_left(self._sorted, need)
        ids = self._sorted_ids[lo : bisect.bisect_left(self._sorted, need + _LAST, lo)]
        if len(ids) > 4 * width:
            ids = ids[np.argpartition(lp[ids], -4 * width)[-4 * width :]]
        return ids.tolist() + [i for n in range(1, len(need)) for i in self._by_text.get(need[:n], ())]


def _add(done: dict[str, float], word: str, logp: float) -> None:
    done[word] = done.get(word, 0.0) + math.exp(logp)
