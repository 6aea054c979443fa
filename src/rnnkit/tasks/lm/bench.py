"""``rnnkit bench quality lm --data TEXT --minutes M``: a character-level language model's validation loss
after M minutes, beside a Kneser-Ney 5-gram fitted on the same split.

The last 10% of the text is the validation split; the figure is the validation loss in nats per
character. The training length is set from the speed measured during warmup, so the cosine schedule ends
when the budget does. ``--torch-baseline`` also trains a plain ``torch.nn.LSTM`` script (2x512, Adam 2e-3,
batch 32, 128-step truncated BPTT, dropout 0.2) for the same minutes.
"""

from __future__ import annotations

from collections.abc import Callable

from rnnkit.tasks.base import Option

OPTIONS = [Option("--torch-baseline", "also train a plain torch.nn.LSTM script for the same minutes", bool)]
NEEDS_DATA = True
TARGET_NATS_PER_CHAR = 1.50
LN2 = 0.6931471805599453


def samples(config) -> int:
    return 3 + int(bool(config.options.get("torch_baseline")))


def lm_config(config):
    """The ``lm`` defaults for character-level modelling, with the user's overrides on top."""
    from rnnkit.config import apply_overrides
    from rnnkit.tasks.lm import LMRun

    cfg = LMRun()
    cfg.data.ngram_order = 5  # the fair n-gram for characters looks further back than a trigram
    cfg.data.keyboard_words = 0  # the figure is nats per character; suggestions are the demo's business
    cfg.train.eval_every = 10**9  # one evaluation, at the end
    cfg.train.progress = False
    if config.quick:
        cfg.model.encoder.hidden_size, cfg.model.encoder.num_layers = 32, 1
        cfg.data.batch_size, cfg.data.bptt = 8, 32
    return apply_overrides(cfg, list(config.overrides))


def results(config, advance: Callable[[str], None]) -> list[dict]:
    out = [lm_quality(config, advance)]
    if config.options.get("torch_baseline"):
        from rnnkit.tasks.lm.torch_baseline import train_plain_lstm

        out.append(train_plain_lstm(config.data, config.minutes, quick=config.quick))
        advance("torch baseline")
    return out


def lm_quality(config, advance: Callable[[str], None]) -> dict:
    from rnnkit.models.language_model import count_parameters
    from rnnkit.tasks.run import train_run

    cfg = lm_config(config)
    trained = train_run("lm", cfg, data=config.data, out=config.out, minutes=config.minutes,
                        validate=config.out is not None)
    parts, trainer = trained.parts, trained.trainer
    advance("train")
    metrics = parts.metrics(trainer.evaluate(parts.valid))
    advance("evaluate")
    baseline = parts.baseline_metrics()
    advance("n-gram")
    tokens = trainer.step * cfg.data.batch_size * cfg.data.bptt
    return {
        "name": "rnnkit lm",
        "task": "lm",
        "config": {"model": _describe(cfg), "parameters": count_parameters(parts.model), "lr": cfg.train.lr,
                   "batch_size": cfg.data.batch_size, "bptt": cfg.data.bptt, "steps": trainer.step,
                   "schedule": cfg.train.schedule},
        "minutes": trained.seconds / 60,
        "tokens_per_s": tokens / trained.seconds,
        "valid": metrics,
        "baseline_name": parts.baseline_name,
        "baseline": baseline,
        "target_nats_per_char": TARGET_NATS_PER_CHAR,
    }


def _describe(cfg) -> str:
    from rnnkit.tasks.lm import embed_size

    e = cfg.model.encoder
    return f"{e.num_layers}x{e.hidden_size} {e.cell}, embedding {embed_size(cfg)}"


def missed(result: dict) -> str | None:
    """A line naming the missed target, or None when the result meets it (or checks none)."""
    target = result.get("target_nats_per_char")
    if target is None or nats(result) <= target:
        return None
    return f"{result['name']}: {nats(result):.4f} nats/char, above the target of {target:.2f}"


def render(data: dict) -> list:
    from rich.table import Table

    table = Table(title="rnnkit bench quality lm: validation loss after a fixed training budget", title_justify="left")
    for column in ("model", "minutes", "tokens/s", "nats/char", "bits/char", "top-1", "target"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in data["results"]:
        v = r["valid"]
        target = r.get("target_nats_per_char")
        verdict = "" if target is None else f"<= {target:.2f} ({'fail' if missed(r) else 'pass'})"
        name = r["name"] + (f" ({r['config']['model']})" if "config" in r else "")
        bits = v.get("bits_per_char", nats(r) / LN2)
        table.add_row(name, f"{r['minutes']:.1f}", f"{r['tokens_per_s']:,.0f}", f"{nats(r):.4f}", f"{bits:.3f}",
                      f"{v['accuracy']:.3f}" if "accuracy" in v else "-", verdict)
        if r.get("baseline"):
            b = r["baseline"]
            table.add_row(r["baseline_name"], "-", "-", f"{b['loss'] / _cpt(r):.4f}", f"{b['bits_per_char']:.3f}",
                          f"{b['accuracy']:.3f}", "")
    return [table]


def _cpt(r: dict) -> float:
    """Characters per token of the result's codec (1 for characters)."""
    v = r["valid"]
    return v["loss"] / (v["bits_per_char"] * LN2) if "bits_per_char" in v else 1.0


def nats(r: dict) -> float:
    return r["valid"]["loss"] / _cpt(r)
