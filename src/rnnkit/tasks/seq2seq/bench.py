"""``rnnkit bench quality seq2seq --data DIR --data.src de --data.tgt en --minutes M``: test-split BLEU of
the ``seq2seq`` defaults after M minutes of training, with greedy decoding and with a beam of five.

The data's own validation and test splits are used (Multi30k's ``val`` and ``test``), or a seeded split of
the pairs. Training length follows the measured speed so that the cosine schedule ends with the budget.
Figures: sacrebleu's standard BLEU (detokenised output, 13a tokenisation, cased) and its lowercased BLEU,
chrF, the validation cross-entropy, and the time an epoch took.
"""

from __future__ import annotations

import time
from collections.abc import Callable

TARGET_BLEU_LC = 34.0
OPTIONS: list = []
NEEDS_DATA = True


def samples(config) -> int:
    return 3


def results(config, advance: Callable[[str], None]) -> list[dict]:
    return [seq2seq_quality(config, advance)]


def seq2seq_config(config):
    """The ``seq2seq`` defaults with the user's overrides on top (``data.src`` and ``data.tgt`` among them)."""
    from rnnkit.config import apply_overrides
    from rnnkit.tasks.seq2seq import Seq2SeqRun

    cfg = Seq2SeqRun()
    cfg.train.eval_every = 10**9  # one evaluation, at the end
    cfg.train.progress = False
    if config.quick:
        cfg.model.embed_size, cfg.model.encoder.hidden_size, cfg.model.decoder.hidden_size = 16, 16, 32
        cfg.data.codec.max_vocab = 300
    return apply_overrides(cfg, list(config.overrides))


def seq2seq_quality(config, advance: Callable[[str], None]) -> dict:
    from rnnkit.models.language_model import count_parameters
    from rnnkit.tasks.run import train_run
    from rnnkit.tasks.seq2seq.task import load_splits, translate
    from rnnkit.train.translation import text_scores

    cfg = seq2seq_config(config)
    splits, _ = load_splits(cfg, config.data)
    trained = train_run("seq2seq", cfg, data=config.data, out=config.out, minutes=config.minutes)
    parts, trainer = trained.parts, trained.trainer
    advance("train")
    batches_per_epoch = sum(1 for _ in parts.train.order(0))
    epochs = trainer.epoch + trainer.position / batches_per_epoch
    valid = trainer.evaluate(parts.valid)
    sources, references = [p.source for p in splits["test"]], [p.target for p in splits["test"]]
    decoded = {}
    for beam in (1, 5):
        started = time.perf_counter()
        hypotheses = translate(parts.model, parts.preprocessor, sources, cfg.decode, beam=beam)
        scores = text_scores(hypotheses, references)
        decoded[f"beam{beam}"] = {**scores, "seconds": time.perf_counter() - started, "samples": hypotheses[:3]}
        advance(f"beam {beam}")
    return {
        "task": "seq2seq",
        "name": "rnnkit seq2seq",
        "config": {"model": _describe(cfg), "parameters": count_parameters(parts.model), "lr": cfg.train.lr,
                   "batch_size": cfg.data.batch_size, "codec": f"{cfg.data.codec.type} {cfg.data.codec.max_vocab}",
                   "steps": trainer.step, "schedule": cfg.train.schedule},
        "minutes": trained.seconds / 60,
        "epochs": epochs,
        "minutes_per_epoch": trained.seconds / 60 / max(epochs, 1e-9),
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


def render(data: dict) -> list:
    from rich.table import Table

    table = Table(title="rnnkit bench quality seq2seq: test BLEU after a fixed training budget", title_justify="left")
    for column in ("model", "minutes", "epochs", "min/epoch", "BLEU", "BLEU (lc)", "chrF", "target (lc)"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in data["results"]:
        render_rows(table, r)
    r = data["results"][0]
    return [table, r["config"]["model"], r["test"]["beam5"]["signatures"]["bleu"]]


def missed(result: dict) -> str | None:
    """A line naming the missed target (lowercased BLEU with a beam of five), or None when it is met."""
    bleu = result["test"]["beam5"]["bleu_lc"]
    if bleu >= result["target_bleu_lc"]:
        return None
    return f"{result['name']}: lowercased BLEU {bleu:.2f} (beam 5), under the target of {result['target_bleu_lc']:.0f}"


def render_rows(table, r: dict) -> None:
    """Rows of the bench table: greedy and beam-5 decoding of one result."""
    for name, d in r["test"].items():
        verdict = ""
        if name == "beam5":
            verdict = f">= {r['target_bleu_lc']:.0f} ({'pass' if d['bleu_lc'] >= r['target_bleu_lc'] else 'fail'})"
        table.add_row(f"{r['name']} ({name})", f"{r['minutes']:.1f}", f"{r['epochs']:.1f}",
                      f"{r['minutes_per_epoch']:.2f}", f"{d['bleu']:.2f}", f"{d['bleu_lc']:.2f}", f"{d['chrf']:.2f}",
                      verdict)
