"""The vendored English ChatterBot corpus gives the very pairs that the chatterbot-corpus package's YAML gave.

The facts below were recorded from the old reader (PyYAML over chatterbot-corpus 1.3.3, data/english/*.yml)
before the package was dropped: the count, the first and last pair, and a SHA-256 over every pair."""

import hashlib
import json

import pytest

from rnnkit.data.chatterbot import corpus, default_dialogue
from rnnkit.data.pairs import Pair

# SHA-256 of the pairs, each as json.dumps([source, target, where]) + "\n", by context_turns
DIGESTS = {
    1: "89f0722615f09551b20b55e14eebc1808f97dde707ba8b49575159500fc71ee4",
    2: "3f80770617e2662c306655d6585bc494f401b45ae7d7ea87038cf0eb8d3c5f07",
    3: "79c781665adeae25da9b32517dcc33daf11545d2de3f79aec6e50ece0d4e26e5",
}
FIRST = Pair(
    "What is AI?",
    "Artificial Intelligence is the branch of engineering and science devoted to constructing machines that think.",
    "ai.yml:conversation 1",
)
LAST = Pair("On every continent there is a city named what?", "Rome", "trivia.yml:conversation 261")


def digest(pairs: list[Pair]) -> str:
    lines = "".join(json.dumps([p.source, p.target, p.where]) + "\n" for p in pairs)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("context_turns", [1, 2, 3])
def test_the_pairs_are_the_old_readers(context_turns):
    pairs = default_dialogue(context_turns)
    assert len(pairs) == 2377
    assert (pairs[0], pairs[-1]) == (FIRST, LAST)
    assert digest(pairs) == DIGESTS[context_turns]


def test_the_context_is_the_earlier_turns_joined_by_newlines():
    pair = default_dialogue(context_turns=3)[310]  # the first pair with three turns of context
    assert pair.where == "computers.yml:conversation 1"
    first, second, third = pair.source.split("\n")
    assert (first, third) == ("What is a computer?", "The thing you're using to talk to me is a computer.")
    assert second.startswith("A computer is an electronic device")
    assert pair.target.startswith("An electronic device capable of performing calculations")


def test_the_corpus_keeps_file_and_conversation_order():
    files = corpus()
    assert list(files) == sorted(files) and len(files) == 21
    assert (list(files)[0], list(files)[-1]) == ("ai.yml", "trivia.yml")
    assert sum(len(talks) for talks in files.values()) == 2026
    assert all(isinstance(turn, str) for talks in files.values() for talk in talks for turn in talk)


def test_context_turns_below_one_is_refused():
    with pytest.raises(ValueError, match="context_turns"):
        default_dialogue(context_turns=0)
