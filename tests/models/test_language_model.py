"""The language model: stepping equals the whole-sequence pass, tying shares one matrix, chunks carry."""

import pytest
import torch

from rnnkit.batch import Batch
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.language_model import LanguageModel, LMConfig, count_parameters


def _model(**kw):
    torch.manual_seed(0)
    enc = EncoderConfig(hidden_size=kw.pop("hidden", 24), num_layers=kw.pop("layers", 2), cell=kw.pop("cell", "lstm"))
    return LanguageModel(LMConfig(encoder=enc, **kw), 30).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru"])
def test_step_by_step_equals_the_sequence_pass(cell):
    model = _model(cell=cell, embed_size=12)
    ids = torch.randint(0, 30, (3, 9))
    full, _ = model.logits(ids)
    state = model.start(Batch(inputs=ids[:, :1]))
    for t in range(ids.shape[1]):
        logits, state = model.step(ids[:, t], state)
        torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-4)


def test_start_reads_all_but_the_last_token():
    model = _model()
    ids = torch.randint(0, 30, (2, 7))
    full, _ = model.logits(ids)
    logits, _ = model.step(ids[:, -1], model.start(Batch(inputs=ids)))
    torch.testing.assert_close(logits, full[:, -1], atol=1e-5, rtol=1e-4)


def test_carrying_the_state_equals_one_long_pass():
    model = _model()
    ids = torch.randint(0, 30, (2, 12))
    full, _ = model.logits(ids)
    first, state = model.logits(ids[:, :5])
    second, _ = model.logits(ids[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padded_rows_with_lengths_end_in_the_state_of_their_own_last_id(cell):
    model = _model(cell=cell, embed_size=12)
    ids = torch.randint(1, 30, (3, 8))
    lengths = torch.tensor([8, 3, 5])
    h, state = model.features(ids, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        want_h, want_state = model.features(ids[b : b + 1, :n])
        torch.testing.assert_close(h[b, :n], want_h[0], atol=1e-5, rtol=1e-4)
        for got, want in zip(torch.utils._pytree.tree_leaves(state), torch.utils._pytree.tree_leaves(want_state)):
            torch.testing.assert_close(got[b], want[0], atol=1e-5, rtol=1e-4)


def test_tied_weights_share_one_matrix_and_project_when_widths_differ():
    model = _model(tie_weights=True, embed_size=10)
    assert model.head.weight is model.embed.weight and model.proj is not None
    untied = _model(embed_size=10)
    assert count_parameters(model) < count_parameters(untied)


def test_loss_and_hit_counts():
    model = _model()
    ids = torch.randint(0, 30, (2, 6))
    out = model(Batch(inputs=ids, targets=ids))
    assert out.weight == 12 and 0 <= out.metrics["correct"] <= out.metrics["top3"] <= 12
    assert out.loss.item() == pytest.approx(torch.log(torch.tensor(30.0)).item(), rel=0.2)  # near uniform at init


def test_dropouts_only_in_training():
    model = _model(embed_dropout=0.3, input_dropout=0.3, output_dropout=0.3, weight_drop=0.3)
    ids = torch.randint(0, 30, (2, 6))
    a, _ = model.logits(ids)
    b, _ = model.logits(ids)
    assert torch.equal(a, b)
    model.train()
    c, _ = model.logits(ids)
    assert not torch.allclose(a, c)


def test_bidirectional_is_refused():
    with pytest.raises(ValueError, match="left to right"):
        LanguageModel(LMConfig(encoder=EncoderConfig(bidirectional=True)), 10)


def test_never_suggested_ids_are_not_hits():
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(encoder=EncoderConfig(hidden_size=8, num_layers=1)), 5, never_suggest=(0,)).eval()
    with torch.no_grad():
        model.head.bias.fill_(0.0)
        model.head.bias[0] = 100.0  # id 0 dominates every prediction
    ids = torch.tensor([[1, 2, 3, 4]])
    out = model(Batch(inputs=ids, targets=torch.zeros_like(ids)))
    assert out.metrics["correct"] == 0 and out.metrics["top3"] == 0  # id 0 is never offered
