"""The continuous cache: streaming and whole-document scoring agree, probabilities stay normalised, a
word seen in a matching context gains, the warmup scales the share, and the task's cache metrics read
documents in segments without changing the result."""

import math

import pytest
import torch

from rnnkit.autocomplete import LMScorer
from rnnkit.data.streams import text_span
from rnnkit.data.text import CodecConfig, build_codec
from rnnkit.models.cache import CacheConfig, Memory, attend, batch_log_probs, document_log_probs, mix, stack_memories
from rnnkit.models.encoder import EncoderConfig
from rnnkit.models.language_model import LanguageModel, LMConfig
from rnnkit.tasks.lm import task as lm_task

pytestmark = pytest.mark.usefixtures("one_thread")


def model(cache: CacheConfig, vocab: int = 23, seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    cfg = LMConfig(embed_size=8, encoder=EncoderConfig(hidden_size=12), tie_weights=True, cache=cache)
    return LanguageModel(cfg, vocab).eval()


def test_config_is_checked():
    for bad in (dict(size=-1), dict(theta=0.0), dict(lam=1.0), dict(lam=-0.1), dict(warmup=-1)):
        with pytest.raises(ValueError, match="model.cache"):
            CacheConfig(**bad)


def test_share_ramps_up_over_the_warmup():
    cfg = CacheConfig(size=10, lam=0.2, warmup=4)
    got = cfg.share(torch.tensor([[0], [1], [2], [4], [9]]))
    assert got.flatten().tolist() == pytest.approx([0.0, 0.05, 0.1, 0.2, 0.2])
    no_warmup = CacheConfig(size=10, lam=0.2, warmup=0)
    assert no_warmup.share(torch.tensor([[0], [1]])).flatten().tolist() == pytest.approx([0.0, 0.2])


def test_mix_keeps_probabilities_normalised_and_an_empty_cache_changes_nothing():
    torch.manual_seed(1)
    logp = torch.log_softmax(torch.randn(3, 7), dim=-1)
    weights = torch.softmax(torch.randn(3, 5), dim=-1)
    weights[2] = 0.0  # nothing remembered
    values = torch.tensor([1, 1, 4, 6, 0])
    share = torch.tensor([[0.3], [0.1], [0.0]])
    out = mix(logp, weights, values, share)
    assert out.exp().sum(dim=1).tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert torch.allclose(out[2], logp[2])
    cache = torch.zeros(7).index_add_(0, values, weights[0])
    assert torch.allclose(out[0].exp(), 0.7 * logp[0].exp() + 0.3 * cache, atol=1e-6)


def test_attend_weighs_matching_keys_and_masks():
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    w = attend(torch.tensor([[5.0, 0.0]]), keys, theta=1.0)
    assert w[0, 0] == pytest.approx(w[0, 2]) and w[0, 0] > 0.45 and w[0, 1] < 0.01
    mask = torch.tensor([[False] * 3, [True, False, False]])
    w = attend(torch.tensor([[5.0, 0.0], [0.0, 1.0]]), keys, 1.0, mask=mask)
    assert w[0].tolist() == [0.0, 0.0, 0.0] and w[1].tolist() == [1.0, 0.0, 0.0]


def test_a_word_seen_in_a_matching_context_gains():
    cfg = CacheConfig(size=50, theta=1.0, lam=0.5, warmup=0)
    key = torch.tensor([3.0, 0.0])
    memory = Memory.empty(2).add(key, 5, cfg.size).add(torch.tensor([0.0, 3.0]), 2, cfg.size)
    logp = torch.log_softmax(torch.zeros(8), dim=-1)
    out = memory.log_probs(key, logp, cfg).exp()
    assert out[5] > out[2] > out[0]
    assert out.sum() == pytest.approx(1.0)


def test_memory_keeps_the_last_size_entries():
    m = Memory.empty(1)
    for i in range(6):
        m = m.add(torch.tensor([float(i)]), i, 4)
    assert m.values.tolist() == [2, 3, 4, 5] and m.keys.flatten().tolist() == [2.0, 3.0, 4.0, 5.0]
    assert len(Memory.empty(1).add(torch.ones(1), 1, 1).add(torch.ones(1), 2, 1)) == 1


@pytest.mark.parametrize("chunk", [1, 4, 512])
def test_streaming_equals_scoring_the_whole_document(chunk):
    cache = CacheConfig(size=5, theta=0.7, lam=0.3, warmup=3)
    lm = model(cache)
    ids = torch.randint(0, 23, (30,), generator=torch.Generator().manual_seed(2))
    scorer = LMScorer(lm)
    cursor, streamed = scorer.start(int(ids[0])), []
    for i in ids[1:]:
        streamed.append(torch.from_numpy(cursor.logp.copy()))
        cursor = scorer.advance([cursor], [int(i)])[0]
    streamed.append(torch.from_numpy(cursor.logp.copy()))
    with torch.no_grad():
        h, _ = lm.features(ids.unsqueeze(0))
        logp = torch.log_softmax(lm.head(h[0]), dim=-1)
        targets = torch.cat([ids[1:], torch.zeros(1, dtype=ids.dtype)])  # the last target is never read
        whole = torch.cat([lp for _, lp in document_log_probs(h[0], logp, targets, cache, chunk=chunk)])
    assert torch.allclose(torch.stack(streamed), whole, atol=1e-5)
    assert not torch.allclose(whole, logp, atol=1e-3)  # the cache did change something


def test_batched_advance_keeps_each_cursors_own_memory():
    lm = model(CacheConfig(size=6, theta=0.5, lam=0.3, warmup=0))
    scorer = LMScorer(lm)
    a = scorer.advance([scorer.start(1)], [4])[0]
    b = scorer.advance([scorer.start(2)], [7])[0]
    both = scorer.advance([a, b], [3, 3])
    alone = [scorer.advance([a], [3])[0], scorer.advance([b], [3])[0]]
    for x, y in zip(both, alone):
        assert x.memory.values.tolist() == y.memory.values.tolist()
        assert torch.allclose(torch.from_numpy(x.logp.copy()), torch.from_numpy(y.logp.copy()), atol=1e-5)
    assert both[0].memory.values.tolist() == [4, 3] and both[1].memory.values.tolist() == [7, 3]


def test_size_zero_turns_the_models_cache_off():
    lm = model(CacheConfig(size=5, lam=0.5, warmup=0))
    plain = LMScorer(lm, cache=CacheConfig(size=0))
    cursor = plain.advance([plain.start(1)], [2])[0]
    assert cursor.memory is None
    with torch.no_grad():
        logits, _ = lm.logits(torch.tensor([[1, 2]]))
    assert torch.allclose(torch.from_numpy(cursor.logp.copy()), torch.log_softmax(logits[0, -1], -1), atol=1e-5)


def test_cache_metrics_are_the_same_in_any_segment_length(monkeypatch):
    text = "the cat sat on the mat and the dog sat on the log. " * 6
    codec = build_codec(CodecConfig(type="word"), [text])
    cache = CacheConfig(size=7, theta=0.5, lam=0.3, warmup=2)
    lm = model(cache, vocab=codec.vocab_size)
    spans = [text_span("a", text), text_span("b", text[:100])]
    whole = lm_task.cache_metrics(lm, codec, spans, cache)
    monkeypatch.setattr(lm_task, "CACHE_SEGMENT", 5)
    pieces = lm_task.cache_metrics(lm, codec, spans, cache)
    assert pieces == pytest.approx(whole, rel=1e-5)
    assert whole["cache_perplexity"] == pytest.approx(math.exp(whole["cache_loss"]))
    off = lm_task.cache_metrics(lm, codec, spans, CacheConfig(size=7, lam=0.0))  # no share: the plain model
    ids = [codec.eos_id, *codec.encode(text), codec.eos_id]
    with torch.no_grad():
        logits, _ = lm.logits(torch.tensor([ids[:-1]]))
        want = torch.nn.functional.cross_entropy(logits[0], torch.tensor(ids[1:]), reduction="sum")
    ids_b = [codec.eos_id, *codec.encode(text[:100]), codec.eos_id]
    with torch.no_grad():
        logits, _ = lm.logits(torch.tensor([ids_b[:-1]]))
        want += torch.nn.functional.cross_entropy(logits[0], torch.tensor(ids_b[1:]), reduction="sum")
    assert off["cache_loss"] == pytest.approx(float(want) / (len(ids) + len(ids_b) - 2), rel=1e-5)


def test_mix_equals_the_formula_with_repeated_and_absent_ids():
    torch.manual_seed(0)
    logp = torch.log_softmax(torch.randn(3, 9), dim=-1)
    weights = torch.softmax(torch.randn(3, 5), dim=-1)
    weights[2] = 0.0  # a row that remembers nothing
    values = torch.tensor([[1, 4, 4, 0, 8], [2, 2, 2, 2, 2], [0, 1, 2, 3, 4]])
    share = torch.tensor([[0.3], [0.1], [0.0]])
    cache = torch.zeros(3, 9, dtype=torch.float64).scatter_add_(1, values, weights.double())
    want = torch.log((1 - share.double()) * logp.double().exp() + share.double() * cache)
    got = mix(logp, weights, values, share)
    assert torch.allclose(got.double(), want, rtol=1e-5, atol=1e-6)
    assert torch.equal(got[2], logp[2])  # no share: the model's own, unchanged
    assert torch.allclose(mix(logp[:1], weights[:1], values[0], share[:1]), got[:1])  # (M,) values broadcast


def test_batched_mixing_equals_each_rows_own_memory():
    torch.manual_seed(1)
    cfg = CacheConfig(size=10, theta=0.7, lam=0.3, warmup=3)
    memories = [Memory.empty(4)]
    for n in (1, 2, 6):
        memories.append(Memory(torch.randn(n, 4), torch.randint(0, 7, (n,))))
    queries, logp = torch.randn(4, 4), torch.log_softmax(torch.randn(4, 7), dim=-1)
    keys, values, counts = stack_memories(memories)
    assert keys.shape == (4, 6, 4) and values.shape == (4, 6) and counts.tolist() == [0, 1, 2, 6]
    got = batch_log_probs(keys, values, counts, queries, logp, cfg)
    for n, memory in enumerate(memories):
        assert torch.allclose(got[n], memory.log_probs(queries[n], logp[n], cfg), rtol=1e-5, atol=1e-6)
    assert torch.equal(got[0], logp[0])
    empty = stack_memories([Memory.empty(4), Memory.empty(4)])
    assert torch.equal(batch_log_probs(*empty, queries[:2], logp[:2], cfg), logp[:2])
