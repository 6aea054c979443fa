"""Next-word suggestions for a keyboard, from any language model and any codec, with a streaming session.

A ``Predictor`` pairs a model with its codec. A ``Cursor`` is the immutable state after some text: the model
has read the *committed* part once, and the rest (the word being typed, for word and BPE codecs) waits in
``tail``. Whole words come out in one of two ways, both written once against the small ``Scorer`` interface
(a document-start cursor; a batch of cursors plus one token each -> the next cursors), which an RNN language
model (``LMScorer``) and the Kneser-Ney baseline (``NGramScorer``) both implement:

- word codec: the next-token distribution over vocabulary words that start with the typed prefix, found
  by bisection in a sorted word list (``WordLookup``);
- char and BPE codecs: a small beam search over tokens that must first spell the typed prefix and stops
  when a word is followed by a non-word character (``TokenBeam``). BPE commits text only up to the
  whitespace before the current word, so the search can pick " mat" rather than " " + "mat" ("token
  healing", as in Microsoft's guidance library).

>>> predictor = Predictor(model, codec)
>>> cursor = predictor.feed(predictor.begin(), "the cat sat on the ")
>>> predictor.next_words(cursor, "m", k=3)      # [("mat", 0.97), ...]
>>> session = Session(predictor)
>>> session.type("the cat sat on the m")         # suggestions after each call; one model step per word
"""

from rnnkit.autocomplete.metrics import keystroke_savings, next_word_accuracy
from rnnkit.autocomplete.scorers import Cursor, LMScorer, MixtureScorer, NGramScorer, Scorer, fit_weight
from rnnkit.autocomplete.search import Suggestions as Suggestions
from rnnkit.autocomplete.search import TokenBeam as TokenBeam
from rnnkit.autocomplete.search import WordLookup as WordLookup
from rnnkit.autocomplete.session import Predictor, Session
from rnnkit.autocomplete.words import is_word_char

__all__ = [
    "Cursor",
    "LMScorer",
    "MixtureScorer",
    "NGramScorer",
    "Predictor",
    "Scorer",
    "Session",
    "fit_weight",
    "is_word_char",
    "keystroke_savings",
    "next_word_accuracy",
]
