"""``rnnkit bench quality seq2seq --data DIR --src de --tgt en --minutes M``: test-split BLEU of the ``seq2seq``
defaults after M minutes of training, with greedy decoding and with a beam of five.

The data's own validation and test splits are used (Multi30k's ``val`` and ``test``), or a seeded split of
the pairs. Training length follows the measured speed so that the cosine schedule ends with the budget.
Figures: sacrebleu's standard BLEU (detokenised output, 13a tokenisation, cased) and its lowercased BLEU,
chrF, the validation cross-entropy, and the time an epoch took.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

TARGET_BLEU_LC = 34.0


def seq2seq_config(config):
    """The ``seq2seq`` defaults with the bench's sides and the user's overrides on top."""
    from rnnkit.config import apply_overrides
    from rnnkit.tasks.seq2seq import Seq2SeqRun

    cfg = Seq2SeqRun()
    cfg.data.src, cfg.data.tgt = config.src or "", config.tgt or ""
    cfg.train.eval_every = 10**9  # one evaluation, at the end
    cfg.train.progress = False
    if config.quick:
        cfg.model.embed_size, cfg.model.encoder.hidden_size, cfg.model.decoder.hidden_size = 16, 16, 32
        cfg.data.codec.max_vocab = 300
    return apply_overrides(cfg, list(config.overrides))


def seq2seq_quality(config, advance: Callable[[str], None]) -> dict:
    from rnnkit.models.language_model import count_parameters
    from rnnkit.tasks.seq2seq import SEQ2SEQ, PairEncoding, load_splits, translate
    from rnnkit.train.budget import fit_for
    from rnnkit.train.trainer import Trainer
    from rnnkit.train.translation import text_scores

    cfg = seq2seq_config(config)
    torch.manual_seed(cfg.train.seed)
    splits, _ = load_splits(cfg, config.data)
    parts = SEQ2SEQ.build(cfg, config.data)
    enc = PairEncoding.from_dict(parts.codec)
    trainer = Trainer(parts.model, cfg.train, train=parts.train, valid=parts.valid)
    seconds = fit_for(trainer, config.minutes)
    advance("train")
    batches_per_epoch = sum(1 for _ in parts.train.order(0))
    epochs = trainer.epoch + trainer.position / batches_per_epoch
    valid = trainer.evaluate(parts.valid)
    sources, references = [p.source for p in splits["test"]], [p.target for p in splits["test"]]
    decoded = {}
    for beam in (1, 5):
        started = time.perf_counter()
        hypotheses = translate(parts.model, enc, sources, cfg.decode, beam=beam)
        scores = text_scores(hypotheses, references)
        decoded[f"beam{beam}"] = {**scores, "seconds": time.perf_counter() - started, "samples": hypotheses[:3]}
        advance(f"beam {beam}")
    if config.out:
        from rnnkit.bench.quality import save_run

        save_run(config.out, "seq2seq", trainer, parts, cfg, valid, data=config.data)
    return {
        "task": "seq2seq",
        "name": "rnnkit seq2seq",
        "config": {"model": _describe(cfg), "parameters": count_parameters(parts.model), "lr": cfg.train.lr,
                   "batch_size": cfg.data.batch_size, "codec": f"{cfg.data.codec.type} {cfg.data.codec.max_vocab}",
                   "steps": trainer.step, "schedule": cfg.train.schedule},
        "minutes": seconds / 60,
        "epochs": epochs,
        "minutes_per_epoch": seconds / 60 / max(epochs, 1e-9),
        "valid": {"nll": valid["nll"], "accuracy": valid.get("accuracy")},
        "test": decoded,
        "references": references[:3],
        "target_bleu_lc": TARGET_BLEU_LC,
    }


def _describe(cfg) -> str:
    m, e = cfg.model, cfg.model.encoder
    encoder = f"{'bi-' if e.bidirectional else ''}{e.cell} {e.num_layers}x{e.hidden_size}"
    extras = ", input feeding" * m.input_feeding + ", context layer" * m.context_layer
    return (f"embedding {m.embed_size}, {encoder} encoder, {m.decoder.cell} {m.decoder.num_layers}x"
            f"{m.decoder.hidden_size} decoder, {m.attention} attention{extras}")


def render_rows(table, r: dict) -> None:
    """Rows of the bench table: greedy and beam-5 decoding of one result."""
    for name, d in r["test"].items():
        verdict = ""
        if name == "beam5":
            verdict = f">= {r['target_bleu_lc']:.0f} ({'pass' if d['bleu_lc'] >= r['target_bleu_lc'] else 'fail'})"
        table.add_row(f"{r['name']} ({name})", f"{r['minutes']:.1f}", f"{r['epochs']:.1f}",
                      f"{r['minutes_per_epoch']:.2f}", f"{d['bleu']:.2f}", f"{d['bleu_lc']:.2f}", f"{d['chrf']:.2f}",
                      verdict)
