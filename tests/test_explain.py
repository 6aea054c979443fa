"""Rendering of word-level explanations: shading by sign and size, escaping, and degenerate scores."""

import re

import pytest
from rich.text import Text

from rnnkit.explain import GREEN, RED, Explanation, to_html, to_terminal, top_tokens, write_explanation

SPAN = re.compile(r'<span style="background-color: rgba\((\d+), (\d+), (\d+), ([\d.]+)\)[^"]*" title="([^"]*)">'
                  r"(.*?)</span>")


def example(tokens=("a", "truly", "great", "but", "slow", "film"), scores=(0.1, 0.8, 2.5, -0.4, -1.5, 0.0)):
    return Explanation(list(tokens), list(scores), "pos", {"neg": 0.2, "pos": 0.8}, "gradient x input")


def spans(fragment: str) -> dict[str, tuple[tuple[int, int, int], float, str]]:
    """token -> (rgb, alpha, title) of each shaded span."""
    return {m[5]: ((int(m[0]), int(m[1]), int(m[2])), float(m[3]), m[4]) for m in SPAN.findall(fragment)}


def test_html_shades_by_sign_and_share_of_the_largest_score():
    shaded = spans(to_html(example()))
    assert list(shaded) == ["a", "truly", "great", "but", "slow", "film"]
    greens = {t: alpha for t, (rgb, alpha, _) in shaded.items() if rgb == GREEN and alpha > 0}
    reds = {t: alpha for t, (rgb, alpha, _) in shaded.items() if rgb == RED and alpha > 0}
    assert sorted(greens, key=greens.get, reverse=True) == ["great", "truly", "a"]  # the strongest green first
    assert greens["great"] == 1.0 and greens["truly"] == pytest.approx(0.8 / 2.5, abs=1e-3)
    assert sorted(reds, key=reds.get, reverse=True) == ["slow", "but"]
    assert reds["slow"] == pytest.approx(1.5 / 2.5, abs=1e-3)
    assert shaded["film"][1] == 0.0
    assert shaded["great"][2] == "2.500" and shaded["but"][2] == "-0.400"


def test_html_lists_the_probabilities_best_first():
    fragment = to_html(Explanation(["x"], [1.0], "b", {"a": 0.1, "b": 0.7, "c": 0.2}, "attention weight"))
    assert re.findall(r"<tr><td>(\w)</td>", fragment) == ["b", "c", "a"]
    assert ">0.7<" in fragment and "attention weight" in fragment


def test_everything_user_given_is_escaped():
    e = Explanation(["<script>alert(1)</script>", 'say "hi" & go'], [1.0, -1.0], "<b>bold</b>",
                    {"<b>bold</b>": 0.6, "<i>": 0.4}, "<method>")
    fragment = to_html(e)
    assert "<script" not in fragment and "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment
    assert "&quot;hi&quot; &amp; go" in fragment
    assert "<b>" not in fragment and "<i>" not in fragment and "<method>" not in fragment
    assert "&lt;b&gt;bold&lt;/b&gt;" in fragment


@pytest.mark.parametrize("scores", [[0.0, 0.0, 0.0], [0.0, float("nan"), 0.0]])
def test_zero_scores_shade_nothing(scores):
    e = example(("it", "is", "ok"), scores)
    assert [alpha for _, alpha, _ in spans(to_html(e)).values()] == [0.0, 0.0, 0.0]
    assert to_terminal(e).plain == "it is ok" and not to_terminal(e).spans  # no style: nothing to shade
    assert [t for t, _ in top_tokens(e)] == ["it", "is", "ok"]  # ties keep the token order


@pytest.mark.parametrize("score", [0.0, -3.0])
def test_one_token(score):
    e = example(("fine",), (score,))
    ((rgb, alpha, _),) = spans(to_html(e)).values()
    assert alpha == abs(score) / 3.0 and (score == 0 or rgb == RED)
    assert to_terminal(e).plain == "fine"


def test_top_tokens_largest_magnitude_first_with_sign_kept():
    e = example()
    assert top_tokens(e, 3) == [("great", 2.5), ("slow", -1.5), ("truly", 0.8)]
    assert len(top_tokens(e, 100)) == 6 and top_tokens(e, 0) == []


def test_terminal_text_holds_every_token_shaded_by_sign():
    e = example()
    text = to_terminal(e)
    assert isinstance(text, Text) and text.plain == "a truly great but slow film"
    styles = {text.plain[s.start:s.end]: s.style for s in text.spans}
    assert set(styles) == {"a", "truly", "great", "but", "slow"}  # "film" scored 0: unshaded
    great, slow, a = (styles[t].bgcolor.triplet for t in ("great", "slow", "a"))
    assert tuple(great) == GREEN and tuple(slow) != RED  # full colour only for the largest |score|
    assert slow.red > slow.green and a.green > a.red and a.red > great.red  # "a" is paler than "great"


def test_scores_must_match_tokens():
    with pytest.raises(ValueError, match="2 tokens but 1 scores"):
        Explanation(["a", "b"], [1.0], "pos", {"pos": 1.0}, "attention weight")


def test_write_explanation_makes_a_page_with_the_shaded_words(tmp_path):
    e = example(("<b>", "great"), (-0.5, 1.0))
    path = write_explanation(e, tmp_path / "explanation.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and to_html(e) in page
    assert "<b>" not in page and "&lt;b&gt;" in page
    assert [p.name for p in tmp_path.iterdir()] == ["explanation.html"]
