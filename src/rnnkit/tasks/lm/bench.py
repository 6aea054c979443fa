"""``rnnkit bench quality lm --data TEXT --minutes M``: a character-level language model's validation loss
after M minutes, beside a Kneser-Ney 5-gram fitted on the same split; with ``--data.codec.type word`` a
word model's validation perplexity and top-3, beside a Kneser-Ney trigram.

The last 10% of the text is the validation split (whole documents for a folder of ten or more); the figure
is the validation loss in nats per character (target: at most 1.47), or for words the perplexity (target:
at most 0.85 times the trigram's, with a higher top-3). The training length is set from the speed
measured during warmup, so the cosine schedule ends when the budget does. ``--torch-baseline`` also
trains a plain ``torch.nn.LSTM`` script (2x512, Adam 2e-3, batch 32, 128-step truncated BPTT, dropout
0.2) for the same minutes.
"""

from __future__ import annotations

from collections.abc import Callable

from rnnkit.tasks.base import Option

OPTIONS = [Option("--torch-baseline", "also train a plain torch.nn.LSTM script for the same minutes", bool)]
NEEDS_DATA = False  # without --data: the embedded corpus, Python's documentation
TARGET_NATS_PER_CHAR = 1.47
TARGET_PERPLEXITY_RATIO = 0.85  # words: at most this share of the Kneser-Ney trigram's perplexity
LN2 = 0.6931471805599453


def samples(config) -> int:
    return 3 + int(bool(config.options.get("torch_baseline")))


def lm_config(config):
    """The ``lm`` defaults for character-level modelling, with the user's overrides on top."""
    from rnnkit.config import apply_overrides
    from rnnkit.tasks.lm import LMRun
    from rnnkit.tasks.lm.config import resolve

    cfg = LMRun()
    cfg.data.keyboard_words = 0  # the figures are the loss and top-3; suggestions are the demo's business
    cfg.train.eval_every = 10**9  # one evaluation, at the end
    cfg.train.progress = False
    if config.quick:
        cfg.model.encoder.hidden_size, cfg.model.encoder.num_layers = 32, 1
        cfg.data.batch_size, cfg.data.bptt = 8, 32
    cfg = apply_overrides(cfg, list(config.overrides))
    if not any(o.lstrip("-").startswith("data.ngram_order") for o in config.overrides):
        # the fair n-gram for characters looks further back than a trigram; for words a trigram is the classic
        cfg.data.ngram_order = 5 if cfg.data.codec.type == "char" else 3
    return resolve(cfg)  # a word codec gets the word model unless the overrides set one


def results(config, advance: Callable[[str], None]) -> list[dict]:
    if config.options.get("torch_baseline") and config.data is None:
        raise ValueError("--torch-baseline reads a text file: give --data")
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
    parts, trainer, cfg = trained.parts, trained.trainer, trained.config  # the config as the task completed it
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
        "budget_minutes": config.minutes,
        "tokens_per_s": tokens / trained.seconds,
        "valid": metrics,
        "baseline_name": parts.baseline_name,
        "baseline": baseline,
        "codec": cfg.data.codec.type,
        "stopped": trainer.stopped,
        **({"target_nats_per_char": TARGET_NATS_PER_CHAR} if cfg.data.codec.type == "char"
           else {"target_perplexity_ratio": TARGET_PERPLEXITY_RATIO}),
    }


def _describe(cfg) -> str:
    from rnnkit.tasks.lm import embed_size

    e = cfg.model.encoder
    return f"{e.num_layers}x{e.hidden_size} {e.cell}, embedding {embed_size(cfg)}"


def missed(result: dict) -> str | None:
    """A line naming the missed target, or None when the result meets it (or checks none)."""
    if "target_perplexity_ratio" in result:
        v, b, ratio = result["valid"], result["baseline"], result["target_perplexity_ratio"]
        if v["perplexity"] <= ratio * b["perplexity"] and v["top3"] > b["top3"]:
            return None
        return (f"{result['name']}: perplexity {v['perplexity']:.1f} ({v['perplexity'] / b['perplexity']:.2f}x the "
                f"trigram's {b['perplexity']:.1f}; target at most {ratio}x) and top-3 {v['top3']:.3f} (trigram "
                f"{b['top3']:.3f}; target higher)")
    target = result.get("target_nats_per_char")
    if target is None or nats(result) <= target:
        return None
    return f"{result['name']}: {nats(result):.4f} nats/char, above the target of {target:.2f}"


def render(data: dict) -> list:
    from rich.table import Table

    table = Table(title="rnnkit bench quality lm: validation loss after a fixed training budget", title_justify="left")
    for column in ("model", "minutes", "tokens/s", "nats/char", "bits/char", "perplexity", "top-1", "top-3",
                   "target"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in data["results"]:
        v = r["valid"]
        verdict = _target(r)
        name = r["name"] + (f" ({r['config']['model']})" if "config" in r else "")
        bits = v.get("bits_per_char", nats(r) / LN2)
        table.add_row(name, f"{r['minutes']:.1f}", f"{r['tokens_per_s']:,.0f}", f"{nats(r):.4f}", f"{bits:.3f}",
                      *_scores(v), verdict)
        if "mixture_loss" in v:  # the model interpolated with the n-gram, the weight fitted on this split
            mixed = {k: v[f"mixture_{k}"] for k in ("perplexity", "accuracy", "top3")}
            table.add_row(f"  mixed with the n-gram, weight {v['mixture_weight']:.2f}", "-", "-",
                          f"{v['mixture_loss'] / _cpt(r):.4f}", f"{v['mixture_loss'] / _cpt(r) / LN2:.3f}",
                          *_scores(mixed), "")
        if r.get("baseline"):
            b = r["baseline"]
            table.add_row(r["baseline_name"], "-", "-", f"{b['loss'] / _cpt(r):.4f}", f"{b['bits_per_char']:.3f}",
                          *_scores(b), "")
    notes = [f"{r['name']}: {r['stopped']}, {r['minutes']:.1f} of the {r['budget_minutes']:g} minutes"
             for r in data["results"] if r.get("stopped")]
    return [table, *notes]


def _scores(v: dict) -> list[str]:
    return [f"{v[k]:{f}}" if k in v else "-" for k, f in (("perplexity", ",.1f"), ("accuracy", ".3f"), ("top3", ".3f"))]


def _target(r: dict) -> str:
    if "target_perplexity_ratio" in r:
        return f"<= {r['target_perplexity_ratio']}x trigram ({'fail' if missed(r) else 'pass'})"
    target = r.get("target_nats_per_char")
    return "" if target is None else f"<= {target:.2f} ({'fail' if missed(r) else 'pass'})"


def _cpt(r: dict) -> float:
    """Characters per token of the result's codec (1 for characters)."""
    v = r["valid"]
    return v["loss"] / (v["bits_per_char"] * LN2) if "bits_per_char" in v else 1.0


def nats(r: dict) -> float:
    return r["valid"]["loss"] / _cpt(r)
