"""The demo end to end on a tiny configuration: a run directory, metrics beside the n-gram, suggestions,
latency and an HTML report."""

from rnnkit.demo import PREFIXES, demo_config, run_demo
from rnnkit.pipeline import from_checkpoint


def test_demo_trains_scores_and_reports(tmp_path):
    cfg = demo_config()
    cfg.model.encoder.hidden_size, cfg.model.embed_size = 32, 16
    cfg.data.codec.max_vocab = 500
    cfg.data.batch_size, cfg.data.bptt = 8, 16
    cfg.train.steps, cfg.train.eval_every = 20, 10
    lines = []
    result = run_demo(tmp_path / "demo", cfg=cfg, eval_words=150, say=lines.append)
    assert result.stopped == "" and result.history[-1]["step"] == 20  # a budget of updates, not of time
    assert result.verdict().startswith("verdict: the LSTM") and "against" in result.verdict()
    assert any("documents" in line for line in lines)
    for scores in (result.metrics, result.baseline):
        for name in ("loss", "perplexity", "next_word_top1", "next_word_top3", "keystroke_savings"):
            assert name in scores
        assert 0.0 <= scores["next_word_top1"] <= scores["next_word_top3"] <= 1.0
    assert result.baseline["next_word_top3"] > 0.05  # the trigram has learned something real
    assert set(result.suggestions) == set(PREFIXES)
    assert all(len(s) == 3 for s in result.suggestions.values())
    assert 0 < result.latency_ms["p50"] <= result.latency_ms["p99"]
    mixed = result.latency_ms["mixture"]  # the run's default scorer: the LSTM interpolated with the trigram
    assert 0 < mixed["p50"] <= mixed["p99"] and 0 <= result.metrics["mixture_weight"] <= 1
    html = result.report.read_text()
    assert "Kneser-Ney" in html and "data:image/png;base64," in html
    pipeline = from_checkpoint(result.run)  # the saved run loads without the corpus
    assert len(pipeline.complete("the default ", k=2)) == 2


def test_the_verdict_needs_both_perplexity_and_top3():
    from dataclasses import replace

    from rnnkit.demo import DemoResult

    base = DemoResult(None, {"perplexity": 90.0, "next_word_top3": 0.35}, {"perplexity": 100.0,
                      "next_word_top3": 0.30}, {}, {}, None)
    assert base.wins and "beats" in base.verdict()
    worse = replace(base, metrics={"perplexity": 110.0, "next_word_top3": 0.35})
    assert not worse.wins and "does NOT beat" in worse.verdict()
    assert not replace(base, metrics={"perplexity": 90.0, "next_word_top3": 0.29}).wins
