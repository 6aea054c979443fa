"""The adaptive softmax head: a proper distribution, its fast loss equal to the full one, and a language
model that trains, scores, suggests and exports with it."""

import math

import pytest
import torch

from rnnkit.batch import Batch
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.language_model import LanguageModel, LMConfig
from rnnkit.models.softmax import ADAPTIVE_FROM, AdaptiveHead, choose_output, default_cutoffs

V = 3000


def small():
    torch.manual_seed(0)
    cfg = LMConfig(embed_size=8, encoder=EncoderConfig(hidden_size=16, num_layers=1), output="adaptive",
                   cutoffs=(100, 1000))
    return LanguageModel(cfg, V)


def test_the_head_gives_a_distribution_and_its_fast_loss_is_the_full_nll():
    head = AdaptiveHead(16, V, (100, 1000))
    h, targets = torch.randn(50, 16), torch.randint(0, V, (50,))
    logp = head(h)
    assert logp.shape == (50, V)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(50), atol=1e-5, rtol=0)
    full = -logp.gather(1, targets.unsqueeze(1)).mean()
    torch.testing.assert_close(head.loss(h, targets), full, atol=1e-5, rtol=1e-5)
    assert head(torch.randn(2, 3, 16)).shape == (2, 3, V)


def test_the_language_model_trains_and_evaluates_with_either_head():
    batch = Batch(inputs=torch.randint(0, V, (4, 7)), targets=torch.randint(0, V, (4, 7)))
    model = small()
    model.train()
    out = model(batch)
    assert out.logits is None and math.isfinite(out.loss.item())  # the fast path: no (B, T, V) tensor
    out.loss.backward()
    model.eval()
    with torch.no_grad():
        evaluated = model(batch)
        logp, _ = model.logits(batch.inputs)
    want = -logp.reshape(-1, V).gather(1, batch.targets.reshape(-1, 1)).mean()
    torch.testing.assert_close(evaluated.loss, want, atol=1e-5, rtol=1e-5)
    assert set(evaluated.metrics) == {"correct", "top3"}
    step_logits, _ = model.step(batch.inputs[:, 0], None)
    torch.testing.assert_close(torch.log_softmax(step_logits, -1), step_logits, atol=1e-5, rtol=0)


def test_auto_picks_the_adaptive_softmax_for_large_vocabularies_only():
    assert choose_output("auto", ADAPTIVE_FROM, tied=False) == "adaptive"
    assert choose_output("auto", ADAPTIVE_FROM - 1, tied=False) == "softmax"
    assert choose_output("auto", 50_000, tied=True) == "softmax"  # a tied embedding needs the full matrix
    assert default_cutoffs(20_000) == (2_000, 10_000) and default_cutoffs(100) == ()
    with pytest.raises(ValueError, match="tie_weights"):
        choose_output("adaptive", 20_000, tied=True)
    with pytest.raises(ValueError, match="model.output=softmax"):
        choose_output("adaptive", 500, tied=False)
    with pytest.raises(ValueError, match="model.cutoffs"):
        AdaptiveHead(8, V, (1000, 100))
