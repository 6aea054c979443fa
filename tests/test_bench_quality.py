"""The classify quality verdict: the target accuracy and the bag of words of the same run must both be beaten."""

from rich.console import Console
from rich.table import Table

from rnnkit.tasks.classify.bench import meets_target, render_rows


def result(accuracy, baseline=None):
    r = {"name": "rnnkit classify", "config": {"model": "1x8 lstm"}, "minutes": 1.0, "target_accuracy": 0.78,
         "test": {"accuracy": accuracy, "macro_f1": accuracy}, "baseline_name": "bag of words"}
    if baseline is not None:
        r["baseline"] = {"accuracy": baseline, "macro_f1": baseline, "majority_accuracy": 0.5}
    return r


def test_the_target_needs_the_accuracy_and_a_win_over_the_bag_of_words():
    assert meets_target(result(0.80, 0.79))
    assert not meets_target(result(0.785, 0.795))  # above 0.78, below the bag of words
    assert not meets_target(result(0.77, 0.70))  # above the bag of words, below 0.78
    assert not meets_target(result(0.79, 0.79))  # a tie is not a win
    assert meets_target(result(0.79))  # no baseline fitted: the accuracy alone


def test_the_rendered_verdict_says_fail_below_the_bag_of_words():
    table = Table("model", "minutes", "accuracy", "macro F1", "target")
    render_rows(table, result(0.7833, 0.7946))
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    assert ">= 0.78 and > bag of words (fail)" in text and "0.7946" in text and "majority class" in text


def test_the_lm_verdicts_follow_the_codec():
    from rnnkit.tasks.lm.bench import missed

    chars = {"name": "rnnkit lm", "valid": {"loss": 1.45}, "target_nats_per_char": 1.5}
    assert missed(chars) is None and "above the target" in missed({**chars, "valid": {"loss": 1.6}})
    words = {"name": "rnnkit lm", "target_perplexity_ratio": 0.85, "valid": {"perplexity": 80.0, "top3": 0.40},
             "baseline": {"perplexity": 100.0, "top3": 0.38}}
    assert missed(words) is None
    assert "0.90x" in missed({**words, "valid": {"perplexity": 90.0, "top3": 0.40}})
    assert missed({**words, "valid": {"perplexity": 80.0, "top3": 0.37}}) is not None  # top-3 must be higher too
