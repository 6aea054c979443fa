"""The classifier: padding never changes a row's logits under any pooling, attention weights live on real
steps only, the loss options match torch, and a tiny model learns a tiny set."""

import pytest
import torch

from rnnkit.batch import Batch, pad
from rnnkit.models.classifier import Classifier, ClassifierConfig
from rnnkit.models.encoder import EncoderConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def make(pooling="max", *, cell="lstm", bidirectional=True, layers=1, input="tokens", **kw) -> Classifier:
    torch.manual_seed(0)
    enc = EncoderConfig(cell=cell, hidden_size=6, num_layers=layers, bidirectional=bidirectional)
    cfg = ClassifierConfig(input=input, embed_size=5, encoder=enc, pooling=pooling, dropout=0.0, **kw)
    return Classifier(cfg, 3, input_size=11 if input == "tokens" else 4).eval()


def batch_of(seqs, targets=None, value=0):
    inputs, lengths = pad(seqs, value=value)
    return Batch(inputs, torch.tensor(targets or [0] * len(seqs)), lengths=lengths)


SEQS = [torch.tensor([1, 2, 3, 4, 5, 6]), torch.tensor([7, 8]), torch.tensor([9, 3, 2, 1])]


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell,bidirectional,layers", [("lstm", True, 2), ("gru", False, 1), ("rnn", True, 1)])
def test_padding_never_changes_a_rows_logits(pooling, cell, bidirectional, layers):
    model = make(pooling, cell=cell, bidirectional=bidirectional, layers=layers)
    with torch.no_grad():
        together = model(batch_of(SEQS, value=10)).logits  # pad with a real token id: it must be masked, not zero
        alone = torch.cat([model(batch_of([s])).logits for s in SEQS])
    assert torch.allclose(together, alone, atol=1e-5)


def test_numeric_features_padded_equal_unpadded():
    model = make("mean", input="features")
    seqs = [torch.randn(5, 4), torch.randn(2, 4)]
    with torch.no_grad():
        together = model(batch_of(seqs, value=100.0)).logits
        alone = torch.cat([model(batch_of([s])).logits for s in seqs])
    assert torch.allclose(together, alone, atol=1e-5)


def test_attention_weights_sum_to_one_over_real_steps():
    model = make("attention")
    batch = batch_of(SEQS)
    _, weights = model.classify(model.embed_inputs(batch), batch)
    assert weights.shape == (3, 6)
    assert torch.allclose(weights.sum(1), torch.ones(3))
    assert (weights[1, 2:] == 0).all() and (weights[2, 4:] == 0).all()
    assert model.classify(model.embed_inputs(batch), batch)[1] is not None
    assert make("max").classify(model.embed_inputs(batch), batch)[1] is None


def test_loss_matches_torch_with_class_weights_and_label_smoothing():
    model = make("mean", label_smoothing=0.1)
    model.class_weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
    batch = batch_of(SEQS, targets=[0, 1, 2])
    out = model(batch)
    want = torch.nn.functional.cross_entropy(out.logits, batch.targets, weight=torch.tensor([1.0, 2.0, 0.5]),
                                             label_smoothing=0.1)
    assert out.loss.item() == pytest.approx(want.item(), rel=1e-6)
    assert out.weight == 3 and out.metrics["correct"] == float((out.logits.argmax(1) == batch.targets).sum())


def test_word_dropout_writes_the_unknown_id_only_while_training():
    model = make("max", word_dropout=0.5)
    batch = batch_of([torch.arange(1, 11)] * 20)
    model.train()
    seen = []
    model.embed.register_forward_hook(lambda m, args, out: seen.append(args[0].clone()))
    model.embed_inputs(batch)
    model.eval()
    model.embed_inputs(batch)
    assert 0.3 < (seen[0] == 0).float().mean() < 0.7
    assert (seen[1] != 0).all()


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_an_ensemble_averages_its_readers_and_trains_each_on_its_own_loss(pooling):
    model = make(pooling, ensemble=3)
    assert len(model.readers) == 3 and model.encoder is model.readers[0].encoder
    batch = batch_of(SEQS, targets=[0, 1, 2])
    with torch.no_grad():
        out = model(batch)
        embedded = model.embed_inputs(batch)
        each = [reader(embedded, batch) for reader in model.readers]
    probs = torch.stack([torch.softmax(logits, -1) for logits, _ in each]).mean(0)
    assert torch.allclose(out.logits.exp(), probs, atol=1e-6)
    losses = [torch.nn.functional.cross_entropy(logits, batch.targets) for logits, _ in each]
    assert out.loss.item() == pytest.approx(float(sum(losses) / 3), rel=1e-6)
    with torch.no_grad():
        alone = torch.cat([model(batch_of([s])).logits for s in SEQS])
    assert torch.allclose(out.logits, alone, atol=1e-5)  # padding still changes nothing
    if pooling == "attention":
        weights = model.classify(embedded, batch)[1]
        assert torch.allclose(weights.sum(1), torch.ones(3))


@pytest.mark.parametrize("ensemble", [1, 2])
def test_adversarial_training_adds_the_loss_of_the_worst_nearby_input(ensemble):
    model = make("mean", adversarial=0.5, ensemble=ensemble, word_dropout=0.0).train()
    batch = batch_of(SEQS, targets=[0, 1, 2])
    plain = make("mean", ensemble=ensemble, word_dropout=0.0, adversarial=0.0).train()
    out, base = model(batch), plain(batch)  # the same weights (same seed), no dropout
    assert torch.allclose(out.logits, base.logits)
    extra = out.loss.item() - base.loss.item()
    # the move follows the gradient, so the moved inputs score worse than the inputs themselves
    assert extra > base.loss.item()
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad and p is not model.embed.weight)
    model.eval()
    with torch.no_grad():
        assert model(batch).loss.item() == pytest.approx(plain.eval()(batch).loss.item(), rel=1e-6)


def test_config_and_classes_are_checked():
    with pytest.raises(ValueError, match="dropout"):
        ClassifierConfig(dropout=1.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        ClassifierConfig(label_smoothing=-0.1)
    with pytest.raises(ValueError, match="ensemble"):
        ClassifierConfig(ensemble=0)
    with pytest.raises(ValueError, match="adversarial"):
        ClassifierConfig(adversarial=-1.0)
    with pytest.raises(ValueError, match="two classes"):
        Classifier(ClassifierConfig(), 1, input_size=5)


def test_a_tiny_model_learns_which_token_decides():
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(0)
    seqs, labels = [], []
    for i in range(64):
        noise = torch.randint(3, 11, (int(torch.randint(2, 9, (1,), generator=g)),), generator=g)
        label = i % 2
        at = int(torch.randint(0, len(noise), (1,), generator=g))
        seqs.append(torch.cat([noise[:at], torch.tensor([1 + label]), noise[at:]]))
        labels.append(label)
    torch.manual_seed(0)
    enc = EncoderConfig(hidden_size=6, bidirectional=True)
    model = Classifier(ClassifierConfig(embed_size=5, encoder=enc, pooling="max", dropout=0.0, word_dropout=0.0), 2,
                       input_size=11)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    batch = batch_of(seqs, labels)
    for _ in range(150):
        loss = model(batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert model(batch).metrics["correct"] == 64
