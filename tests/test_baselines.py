"""The baselines a classifier is reported beside: majority class, bag-of-words and summary-feature regression."""

from pathlib import Path

import numpy as np
import pytest

from rnnkit.baselines import bow_baseline, majority_baseline, summary_baseline, summary_features

SENTIMENT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sentiment"  # ../shared beside the repo


def test_majority_scores_the_majority_share_of_the_test_labels():
    train, test = [0, 2, 2, 1, 2], [2, 0, 2, 1, 2, 2]  # 2 is the most common label in both
    scores = majority_baseline(train, test, 3)
    assert scores["accuracy"] == pytest.approx(4 / 6)
    # only class 2 is predicted: P 4/6, R 1, F1 0.8; classes 0 and 1 score 0
    assert scores["macro_f1"] == pytest.approx(0.8 / 3)
    assert majority_baseline([0, 1, 1, 0], [1, 1, 0], 2)["accuracy"] == pytest.approx(1 / 3)  # tie -> id 0


def good_or_bad(n: int, rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """Sentences of filler words with "good" (label 1) or "bad" (label 0) somewhere among them."""
    filler = ["the", "a", "film", "movie", "plot", "was", "is", "it", "and", "of", "acting", "story", "quite", "very"]
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(filler, size=int(rng.integers(3, 10))))
        words.insert(int(rng.integers(len(words) + 1)), "Good" if label else "bad")  # lowercased by the baseline
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def test_bow_learns_the_deciding_word():
    rng = np.random.default_rng(0)
    (train_x, train_y), (test_x, test_y) = good_or_bad(300, rng), good_or_bad(200, rng)
    scores = bow_baseline(train_x, train_y, test_x, test_y)
    assert scores["accuracy"] >= 0.95 and scores["macro_f1"] >= 0.95
    assert scores["C"] in (0.25, 1.0, 4.0, 16.0)
    assert bow_baseline(train_x, train_y, test_x, test_y) == scores  # deterministic for a seed


def test_bow_counts_one_letter_words_and_punctuation():
    # the label is decided only by "!" versus "?": the default sklearn token pattern would see no difference
    texts = [f"what a day {mark}" for mark in "!?" * 20]
    labels = [1, 0] * 20
    assert bow_baseline(texts, labels, ["so it goes !", "so it goes ?"], [1, 0])["accuracy"] == 1.0


def test_bow_handles_three_classes_and_rare_labels():
    texts = ["red"] * 10 + ["green"] * 10 + ["blue"] * 3  # blue allows only 3 folds
    labels = [0] * 10 + [1] * 10 + [2] * 3
    scores = bow_baseline(texts, labels, ["blue", "green", "red"], [2, 1, 0])
    assert scores["accuracy"] == 1.0


@pytest.mark.skipif(not SENTIMENT.is_dir(), reason=f"the sentiment data set is not at {SENTIMENT}")
def test_bow_on_rt_polarity_sentences():
    from sklearn.model_selection import train_test_split

    pos = (SENTIMENT / "rt-polarity.pos").read_text(encoding="utf-8").splitlines()
    neg = (SENTIMENT / "rt-polarity.neg").read_text(encoding="utf-8").splitlines()
    texts, labels = pos + neg, [1] * len(pos) + [0] * len(neg)
    train_x, test_x, train_y, test_y = train_test_split(texts, labels, test_size=0.1, stratify=labels,
                                                        random_state=0)
    scores = bow_baseline(train_x, train_y, test_x, test_y, seed=0)
    print(f"rt-polarity bag-of-words: {scores}")
    assert scores["accuracy"] > 0.74  # about 0.77 is the usual figure for this kind of model


def sequences(n: int, mean: float, rng: np.random.Generator) -> list[np.ndarray]:
    """n sequences of 3 features and varying length around ``mean``, with a few missing values."""
    xs = []
    for _ in range(n):
        x = rng.normal(mean, 1.0, size=(int(rng.integers(5, 30)), 3))
        x[rng.random(x.shape) < 0.05] = np.nan
        xs.append(x)
    return xs


def test_summary_baseline_separates_two_means():
    rng = np.random.default_rng(0)
    train = sequences(60, 0.0, rng) + sequences(60, 1.0, rng)
    test = sequences(40, 0.0, rng) + sequences(40, 1.0, rng)
    scores = summary_baseline(train, [0] * 60 + [1] * 60, test, [0] * 40 + [1] * 40)
    assert scores["accuracy"] >= 0.9 and set(scores) == {"accuracy", "macro_f1"}


def test_summary_baseline_copes_with_empty_and_all_nan_sequences():
    rng = np.random.default_rng(1)
    train = sequences(20, -1.0, rng) + sequences(20, 1.0, rng) + [np.zeros((0, 3)), np.full((4, 3), np.nan)]
    test = [np.full((6, 3), 1.0), np.full((3, 3), -1.0)]
    scores = summary_baseline(train, [0] * 20 + [1] * 20 + [0, 1], test, [1, 0])
    assert scores["accuracy"] == 1.0


def test_summary_features_ignore_nans():
    x = np.array([[np.nan, 1.0], [2.0, np.nan], [4.0, 3.0], [np.nan, np.nan]])  # (T=4, F=2)
    features = summary_features([x, np.zeros((0, 2))])
    # per feature: valid values (2, 4) and (1, 3); blocks mean, std, min, max, first, last
    np.testing.assert_allclose(features[0], [3, 2, 1, 1, 2, 1, 4, 3, 2, 1, 4, 3])
    assert features.shape == (2, 12) and np.isnan(features[1]).all()  # an empty sequence has no statistics
