"""Classification metrics against hand-worked values, and the confusion-matrix PNG."""

import json
import warnings

import pytest

from rnnkit.train.classification import classification_metrics, plot_confusion

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = ["a", "b", "c"]


def test_three_classes_by_hand():
    # true a a a a b b c c
    # pred a a b b b b c a
    # confusion (rows true, columns predicted): a [2, 2, 0]; b [0, 2, 0]; c [1, 0, 1]; column sums 3, 4, 1
    m = classification_metrics([0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 1, 1, 2, 0], CLASSES)
    assert m["confusion"] == [[2, 2, 0], [0, 2, 0], [1, 0, 1]]
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert [m[f"precision/{c}"] for c in CLASSES] == pytest.approx([2 / 3, 2 / 4, 1 / 1])
    assert [m[f"recall/{c}"] for c in CLASSES] == pytest.approx([2 / 4, 2 / 2, 1 / 2])
    # F1 = 2PR / (P + R): a 2(1/3)/(7/6) = 4/7; b 2(1/2)/(3/2) = 2/3; c 2(1/2)/(3/2) = 2/3
    assert [m[f"f1/{c}"] for c in CLASSES] == pytest.approx([4 / 7, 2 / 3, 2 / 3])
    assert m["macro_f1"] == pytest.approx((4 / 7 + 2 / 3 + 2 / 3) / 3)
    assert [m[f"support/{c}"] for c in CLASSES] == [4, 2, 2]
    assert all(type(m[f"support/{c}"]) is int for c in CLASSES)
    assert json.loads(json.dumps(m)) == m  # plain Python numbers only


def test_a_class_never_predicted_scores_zero_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's UndefinedMetricWarning would fail the test
        m = classification_metrics([0, 1, 2, 2], [0, 1, 1, 1], CLASSES)
    assert m["precision/c"] == 0.0 and m["recall/c"] == 0.0 and m["f1/c"] == 0.0
    assert m["support/c"] == 2
    assert [row[2] for row in m["confusion"]] == [0, 0, 0]
    # a 1; b: P 1/3, R 1, F1 1/2; c 0
    assert m["macro_f1"] == pytest.approx((1 + 1 / 2 + 0) / 3)


def test_a_class_absent_from_both_keeps_its_row_and_column_but_not_the_macro_mean():
    m = classification_metrics([0, 1, 2, 2], [0, 1, 1, 1], CLASSES + ["d"])
    assert m["confusion"] == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0]]
    assert m["support/d"] == 0 and m["precision/d"] == 0.0
    assert m["macro_f1"] == pytest.approx(0.5)  # the mean over a, b and c, as above


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="y_true has 3 labels but y_pred has 2"):
        classification_metrics([0, 1, 2], [0, 1], CLASSES)
    with pytest.raises(ValueError, match="label id 3, outside"):
        classification_metrics([0, 1, 2], [0, 1, 3], CLASSES)
    with pytest.raises(ValueError, match="label id -1, outside"):
        classification_metrics([-1, 1, 2], [0, 1, 2], CLASSES)
    with pytest.raises(ValueError, match="no examples"):
        classification_metrics([], [], CLASSES)


def test_confusion_png_is_written_atomically_over_an_old_one(tmp_path):
    path = tmp_path / "plots" / "confusion.png"
    out = plot_confusion([[50, 3, 0], [4, 20, 9], [0, 0, 0]], ["negative", "neutral", "positive"], path)
    assert out == path
    first = path.read_bytes()
    assert first.startswith(PNG) and len(first) > 5_000
    plot_confusion([[1, 0], [0, 1]], ["x", "y"], path, title="second")
    assert path.read_bytes().startswith(PNG) and path.read_bytes() != first
    assert [p.name for p in path.parent.iterdir()] == ["confusion.png"]  # no temporary file left


def test_confusion_png_with_thirty_classes(tmp_path):
    n = 30
    confusion = [[100 if i == j else (i + j) % 4 for j in range(n)] for i in range(n)]
    path = plot_confusion(confusion, [f"class-{i}" for i in range(n)], tmp_path / "c.png")
    assert path.read_bytes().startswith(PNG) and path.stat().st_size > 20_000


def test_confusion_of_the_wrong_shape_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"expected \(3, 3\)"):
        plot_confusion([[1, 0], [0, 1]], CLASSES, tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []
