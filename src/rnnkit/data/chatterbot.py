"""The English ChatterBot corpus (chatterbot-corpus 1.3.3, BSD-3-Clause), shipped inside rnnkit as
``builtin/chatterbot_english.json.gz``: the embedded default of the ``seq2seq`` task, as (context, reply) pairs.

>>> pairs = default_dialogue(context_turns=2)
>>> len(pairs), pairs[0].where
(2377, 'ai.yml:conversation 1')

Origin and licence: ``builtin/README.md``.
"""

from __future__ import annotations

import gzip
import json
from importlib.resources import files

from rnnkit.data.pairs import Pair, dialogue_pairs

RESOURCE = ("builtin", "chatterbot_english.json.gz")  # inside the package rnnkit.data


def default_dialogue(context_turns: int = 2) -> list[Pair]:
    """(context, reply) pairs of every conversation of the English ChatterBot corpus: its files in name order
    (``ai.yml`` to ``trivia.yml``), their conversations in order. Each turn is stripped and blank ones dropped;
    a conversation of n turns gives n - 1 pairs (``dialogue_pairs``: the context is up to ``context_turns``
    earlier turns joined by ``"\\n"``). ``where`` is ``"FILE:conversation K"``, K counted from 1. Raises
    ``ValueError`` when ``context_turns`` is below 1."""
    pairs: list[Pair] = []
    for name, conversations in corpus().items():
        for k, talk in enumerate(conversations, 1):
            turns = [t.strip() for t in talk if t.strip()]
            pairs += [Pair(s, t, f"{name}:conversation {k}") for s, t in dialogue_pairs([turns], context_turns, "\n")]
    return pairs


def corpus() -> dict[str, list[list[str]]]:
    """{file name: its conversations, each a list of turns as the YAML had them} in file order. The turns are
    not cleaned: one conversation of trivia.yml is a bare string in the YAML, kept as its characters, because
    the reader this replaces iterated it so; stripping drops the spaces."""
    data = files("rnnkit.data").joinpath(*RESOURCE).read_bytes()
    return json.loads(gzip.decompress(data).decode("utf-8"))["files"]
