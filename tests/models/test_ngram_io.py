"""KneserNey files and log_probs: a save/load round trip changes nothing, a file that is not a model is a
ValueError naming it, and log_probs equals looping over distribution."""

import re

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from rnnkit.models.ngram import KneserNey

VOCAB = 12


@pytest.fixture
def saved(tmp_path, markov_docs):
    """The path of a saved trigram model."""
    return KneserNey(VOCAB, order=3).fit(markov_docs(0)).save(tmp_path / "kn.safetensors")


@pytest.mark.parametrize("order", [1, 3, 5])
@pytest.mark.parametrize("discount", [None, 0.6])
def test_round_trip_changes_nothing(tmp_path, order, discount, markov_docs):
    train, held_out = markov_docs(order), markov_docs(order + 100, n=5)
    lm = KneserNey(VOCAB, order=order, discount=discount).fit(train)
    path = tmp_path / "sub" / "kn.safetensors"
    assert lm.save(path) == path
    back = KneserNey.load(str(path))
    assert (back.vocab_size, back.order, back.discount) == (VOCAB, order, discount)
    assert back.discounts == lm.discounts
    for context in [[], [3], [3, 5], *(d[:t] for d in held_out for t in range(6))]:
        np.testing.assert_array_equal(back.distribution(context), lm.distribution(context))
    assert back.evaluate(held_out) == lm.evaluate(held_out)
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary file left beside it


def test_save_needs_a_fitted_model(tmp_path):
    with pytest.raises(RuntimeError, match="fit"):
        KneserNey(VOCAB).save(tmp_path / "kn.safetensors")
    assert not (tmp_path / "kn.safetensors").exists()


def test_a_text_file_is_not_a_model(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("hello, this is not a model\n")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        KneserNey.load(path)


def test_a_truncated_file_is_not_a_model(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(str(saved))):
        KneserNey.load(saved)


def test_other_safetensors_files_are_not_models(saved, tmp_path):
    other = tmp_path / "weights.safetensors"
    save_file({"weight": np.zeros(3, dtype=np.float32)}, str(other))  # no metadata at all
    with pytest.raises(ValueError, match=re.escape(str(other)) + ".*format None version None"):
        KneserNey.load(other)
    arrays = load_file(str(saved))
    with safe_open(str(saved), framework="numpy") as f:
        meta = f.metadata()
    del arrays["level3.scale"]
    save_file(arrays, str(other), metadata=meta)
    with pytest.raises(ValueError, match=re.escape(str(other)) + ".*level3.scale"):
        KneserNey.load(other)
    arrays = load_file(str(saved))
    arrays["level2.scale"] = arrays["level2.scale"][:-1]
    save_file(arrays, str(other), metadata=meta)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        KneserNey.load(other)
    save_file(load_file(str(saved)), str(other), metadata={**meta, "format_version": "2"})
    with pytest.raises(ValueError, match="version '2'; expected 'rnnkit-kneser-ney' version '1'"):
        KneserNey.load(other)


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        KneserNey.load(tmp_path / "nothing.safetensors")


@pytest.mark.parametrize("order", [1, 2, 4])
def test_log_probs_equals_the_distribution_loop(order, markov_docs):
    lm = KneserNey(VOCAB, order=order).fit(markov_docs(order))
    ids = markov_docs(7, n=1)[0] + [0, 0, 11]  # held out, with contexts the model never saw
    lp = lm.log_probs(ids)
    assert lp.shape == (len(ids), VOCAB) and lp.dtype == np.float32
    for t in range(len(ids)):
        np.testing.assert_allclose(lp[t], np.log(lm.distribution(ids[:t])), rtol=1e-6)
    np.testing.assert_allclose(np.exp(lp.astype(np.float64)).sum(axis=1), 1.0, atol=1e-5)
    loss = -lp[np.arange(len(ids)), ids].astype(np.float64).mean()
    assert loss == pytest.approx(lm.evaluate([ids])["loss"], rel=1e-6)
    assert lm.log_probs([]).shape == (0, VOCAB)
