import pytest
import torch

from rnnkit.batch import IGNORE, Batch
from rnnkit.data.buckets import PairedBatches
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.nn.attention import Attention

VARIANTS = [
    {},
    {"context_layer": True},
    {"input_feeding": True},
    {"input_feeding": True},
    {"attention": "additive", "attention_size": 8},
    {"attention": "dot", "decoder": EncoderConfig(hidden_size=16)},
    {"attention": "none"},
    {"bridge": False, "tie_embeddings": False},
    {"decoder": EncoderConfig(cell="gru", hidden_size=12, num_layers=2),
     "encoder": EncoderConfig(cell="gru", hidden_size=6, num_layers=2, bidirectional=True)},
]


def small(**kw) -> Seq2Seq:
    cfg = dict(embed_size=10, encoder=EncoderConfig(hidden_size=8, bidirectional=True),
               decoder=EncoderConfig(hidden_size=12), dropout=0.0)
    return Seq2Seq(Seq2SeqConfig(**{**cfg, **kw}), 20, 25, bos_id=1)


def data(seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(2, 20, (3, 7), generator=g)
    lengths = torch.tensor([7, 4, 2])
    target_in = torch.randint(2, 25, (3, 6), generator=g)
    return src, lengths, target_in


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: ",".join(kw) or "default")
def test_stepping_equals_teacher_forced_decoding(kw):
    torch.manual_seed(0)
    model = small(**kw).eval()
    src, lengths, target_in = data()
    whole, _ = model.decode(target_in, model.encode(src, lengths))
    state = model.start(Batch(src, lengths=lengths))
    steps = []
    for t in range(target_in.shape[1]):
        logits, state = model.step(target_in[:, t], state)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), whole, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kw", [{}, {"attention": "additive"}, {"input_feeding": True}])
def test_source_padding_changes_nothing(kw):
    torch.manual_seed(0)
    model = small(**kw).eval()
    src, lengths, target_in = data()
    padded = torch.cat([src, torch.full((3, 5), 7)], 1)  # more padding, with arbitrary ids in it
    a, wa = model.decode(target_in, model.encode(src, lengths))
    b, wb = model.decode(target_in, model.encode(padded, lengths))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    if wa is not None:
        assert torch.all(wb[..., 7:] == 0)
        torch.testing.assert_close(wb.sum(-1), torch.ones(3, 6))
        assert torch.all(wb[1, :, 4:] == 0) and torch.all(wb[2, :, 2:] == 0)  # no weight past each length
    one, _ = model.decode(target_in[1:2], model.encode(src[1:2, :4], lengths[1:2]))
    torch.testing.assert_close(one[0], a[1], atol=1e-5, rtol=1e-5)  # alone, unpadded: the same logits


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_loss_ignores_padding_and_counts_tokens(eps):
    torch.manual_seed(0)
    model = small(label_smoothing=eps).eval()
    src, lengths, target_in = data()
    targets = torch.randint(2, 25, (3, 6))
    targets[2, 3:] = IGNORE
    out = model(Batch(src, targets, lengths=lengths, extras={"target_in": target_in}))
    assert out.weight == 15
    logits, _ = model.decode(target_in, model.encode(src, lengths))
    flat, flat_targets = logits.reshape(-1, 25), targets.reshape(-1)
    expected = torch.nn.functional.cross_entropy(flat, flat_targets, ignore_index=IGNORE, label_smoothing=eps)
    assert float(out.loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    nll = torch.nn.functional.cross_entropy(flat, flat_targets, ignore_index=IGNORE, reduction="sum")
    assert out.metrics["nll"] == pytest.approx(float(nll), rel=1e-5)
    hits = ((flat.argmax(-1) == flat_targets) & (flat_targets != IGNORE)).sum()
    assert out.metrics["correct"] == float(hits)


def test_tiny_model_learns_to_reverse_sequences():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    sources = [torch.randint(2, 12, (int(n),), generator=g) for n in torch.randint(2, 6, (64,), generator=g)]
    targets = [s.flip(0) for s in sources]
    data = PairedBatches(sources, targets, start_id=1, end_id=1, batch_size=16, seed=0)
    model = Seq2Seq(Seq2SeqConfig(embed_size=32, encoder=EncoderConfig(hidden_size=32, bidirectional=True),
                                  decoder=EncoderConfig(hidden_size=64), dropout=0.0, label_smoothing=0.0),
                    12, 12, bos_id=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(60):
        for batch in data.batches(epoch):
            opt.zero_grad()
            out = model(batch)
            out.loss.backward()
            opt.step()
    model.eval()
    out = model(next(iter(PairedBatches(sources, targets, start_id=1, end_id=1, batch_size=64,
                                        shuffle=False).batches(0))))
    assert out.metrics["correct"] / out.weight > 0.95


def test_paired_batches_shift_targets():
    data = PairedBatches([torch.tensor([5, 6, 7]), torch.tensor([8])], [torch.tensor([2, 3]), torch.tensor([4, 5, 6])],
                         start_id=1, end_id=0, batch_size=2, shuffle=False)
    batch = next(iter(data.batches(0)))
    # sorted by source length: the one-token source first
    assert batch.inputs.tolist() == [[8, 0, 0], [5, 6, 7]]
    assert batch.lengths.tolist() == [1, 3]
    assert batch.extras["target_in"].tolist() == [[1, 4, 5, 6], [1, 2, 3, 0]]
    assert batch.targets.tolist() == [[4, 5, 6, 0], [2, 3, 0, IGNORE]]


def test_attention_weights_follow_scores():
    att = Attention("dot", 4, 4)
    memory = torch.eye(4).unsqueeze(0) * 10  # (1, 4, 4)
    query = torch.tensor([[[0.0, 0.0, 10.0, 0.0]]])
    context, weights = att(query, memory, att.keys(memory), torch.tensor([[True, True, True, False]]))
    assert weights[0, 0].argmax() == 2 and weights[0, 0, 3] == 0
    torch.testing.assert_close(context, memory[:, 2:3], atol=1e-3, rtol=0)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="equal widths"):
        Attention("dot", 4, 6)
    with pytest.raises(ValueError, match="unknown attention"):
        Attention("cosine", 4, 4)
    with pytest.raises(ValueError, match="left to right"):
        small(decoder=EncoderConfig(hidden_size=8, bidirectional=True))
    with pytest.raises(ValueError, match="one vocabulary"):
        small(share_embeddings=True)
    with pytest.raises(ValueError, match="needs model.attention"):
        small(attention="none", context_layer=True)


def test_scheduled_sampling_trains_stepwise():
    torch.manual_seed(0)
    model = small(scheduled_sampling=0.5).train()
    src, lengths, target_in = data()
    out = model(Batch(src, torch.randint(2, 25, (3, 6)), lengths=lengths, extras={"target_in": target_in}))
    out.loss.backward()
    assert model.src_embed.weight.grad is not None and torch.isfinite(out.loss)
