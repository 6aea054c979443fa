"""``rnnkit bench quality TASK --data PATH --minutes M``: what a task's defaults reach in a fixed wall-clock
budget on this machine, beside a baseline fitted on the same split.

``lm``: a character-level language model; the last 10% of the text is the validation split; the figure is
the validation loss in nats per character after M minutes of training. The training length is set from
the speed measured during warmup, so the cosine schedule ends when the budget does. A Kneser-Ney n-gram
is fitted on the same split; ``--torch-baseline`` also trains a plain ``torch.nn.LSTM`` script (2x512,
Adam 2e-3, batch 32, 128-step truncated BPTT, dropout 0.2) for the same minutes.

``classify``: held-out test accuracy within M minutes, language-model pretraining included; see
``rnnkit.bench.quality_classify``. ``seq2seq``: test BLEU of greedy and beam decoding after M minutes; see
``rnnkit.bench.quality_seq2seq``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

TASKS = ("lm", "classify", "seq2seq")


@dataclass
class QualityConfig:
    task: str = "lm"
    data: str | None = None
    minutes: float = 10.0
    overrides: tuple[str, ...] = ()
    torch_baseline: bool = False
    out: str | None = None
    quick: bool = False
    pretrain: bool = True
    src: str | None = None
    tgt: str | None = None


def total_samples(config: QualityConfig) -> int:
    return {"classify": 2, "seq2seq": 3}.get(config.task, 3 + int(config.torch_baseline))


def run(config: QualityConfig, *, on_sample: Callable[[str], None] | None = None) -> dict:
    from rnnkit.bench.common import machine_info, report

    advance = on_sample or (lambda _: None)
    if config.task == "classify":
        from rnnkit.bench.quality_classify import classify_quality

        return report("quality", machine_info(), [classify_quality(config, advance)])
    if config.task == "seq2seq":
        from rnnkit.bench.quality_seq2seq import seq2seq_quality

        return report("quality", machine_info(), [seq2seq_quality(config, advance)])
    results = [lm_quality(config, advance)]
    if config.torch_baseline:
        results.append(torch_lm_baseline(config))
        advance("torch baseline")
    return report("quality", machine_info(), results)


def lm_config(config: QualityConfig):
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


def lm_quality(config: QualityConfig, advance: Callable[[str], None]) -> dict:
    from rnnkit.models.language_model import count_parameters
    from rnnkit.tasks.lm import LM
    from rnnkit.train.budget import fit_for
    from rnnkit.train.trainer import Trainer

    cfg = lm_config(config)
    torch.manual_seed(cfg.train.seed)
    parts = LM.build(cfg, config.data)
    trainer = Trainer(parts.model, cfg.train, train=parts.train)
    seconds = fit_for(trainer, config.minutes)
    advance("train")
    metrics = parts.metrics(trainer.evaluate(parts.valid))
    advance("evaluate")
    baseline = parts.baseline_metrics()
    advance("n-gram")
    tokens = trainer.step * cfg.data.batch_size * cfg.data.bptt
    if config.out:
        save_run(config.out, "lm", trainer, parts, cfg, metrics)
    return {
        "name": "rnnkit lm",
        "config": {"model": _describe(cfg), "parameters": count_parameters(parts.model), "lr": cfg.train.lr,
                   "batch_size": cfg.data.batch_size, "bptt": cfg.data.bptt, "steps": trainer.step,
                   "schedule": cfg.train.schedule},
        "minutes": seconds / 60,
        "tokens_per_s": tokens / seconds,
        "valid": metrics,
        "baseline_name": parts.baseline_name,
        "baseline": baseline,
        "target_nats_per_char": 1.50,
    }


def _describe(cfg) -> str:
    from rnnkit.tasks.lm import embed_size

    e = cfg.model.encoder
    return f"{e.num_layers}x{e.hidden_size} {e.cell}, embedding {embed_size(cfg)}"


def save_run(out: str, task: str, trainer, parts, cfg, metrics: dict, *, data: str | None = None) -> None:
    """The bench's trained model as a run directory ``out`` that ``rnnkit predict`` and ``serve`` load."""
    from rnnkit.config import to_dict
    from rnnkit.rundir import RunDir

    run = RunDir(out, task=task, config=to_dict(cfg), resume=False, overwrite=True)
    trainer.run = run
    trainer.meta = {"task": task, "config": to_dict(cfg), "codec": parts.codec, "data": data}
    trainer.save("best", metrics)


def torch_lm_baseline(config: QualityConfig) -> dict:
    """The plain-PyTorch character LSTM a practitioner would write, trained for the same minutes."""
    from rnnkit.bench.torch_lm import train_plain_lstm

    return train_plain_lstm(config.data, config.minutes, quick=config.quick)


# ---- command line -----------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("task", choices=TASKS, help="the task whose quality to measure")
    parser.add_argument("--data", required=True, metavar="PATH", help="the text to model, or the labelled examples")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget (default 10)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a default, e.g. --set model.encoder.hidden_size=256 (repeatable)")
    parser.add_argument("--torch-baseline", action="store_true", help="also train a plain torch.nn.LSTM script")
    parser.add_argument("--out", metavar="DIR", help="lm, seq2seq: save the trained model as a run directory")
    parser.add_argument("--src", help="seq2seq: the source side of line-aligned files (e.g. de)")
    parser.add_argument("--tgt", help="seq2seq: the target side of line-aligned files (e.g. en)")
    parser.add_argument("--no-pretrain", dest="pretrain", action="store_false",
                        help="classify: train from scratch, without the language-model pretraining")


def config_from_args(args) -> QualityConfig:
    if args.minutes <= 0:
        raise ValueError(f"--minutes must be positive, got {args.minutes}")
    return QualityConfig(task=args.task, data=args.data, minutes=args.minutes, overrides=tuple(args.set),
                         torch_baseline=args.torch_baseline, out=args.out, quick=args.quick, pretrain=args.pretrain,
                         src=args.src, tgt=args.tgt)


def render(data: dict) -> list:
    from rich.table import Table

    m = data["machine"]
    machine = f"{m['cpu']}, {m['cores']} cores, torch {m['torch']}, load {m['load_average_1min']}"
    if data["results"] and data["results"][0].get("task") == "classify":
        from rnnkit.bench.quality_classify import render_rows

        table = Table(title="rnnkit bench quality classify: held-out test accuracy", title_justify="left")
        for column in ("model", "minutes", "accuracy", "macro F1", "target"):
            table.add_column(column, justify="left" if column == "model" else "right")
        render_rows(table, data["results"][0])
        return [table, machine]
    if data["results"] and data["results"][0].get("task") == "seq2seq":
        from rnnkit.bench import quality_seq2seq

        r = data["results"][0]
        table = Table(title="rnnkit bench quality seq2seq: test BLEU after a fixed training budget",
                      title_justify="left")
        for column in ("model", "minutes", "epochs", "min/epoch", "BLEU", "BLEU (lc)", "chrF", "target (lc)"):
            table.add_column(column, justify="left" if column == "model" else "right")
        quality_seq2seq.render_rows(table, r)
        return [table, r["config"]["model"], r["test"]["beam5"]["signatures"]["bleu"], machine]
    table = Table(title="rnnkit bench quality lm: validation loss after a fixed training budget", title_justify="left")
    for column in ("model", "minutes", "tokens/s", "nats/char", "bits/char", "top-1", "target"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in data["results"]:
        v = r["valid"]
        target = r.get("target_nats_per_char")
        verdict = "" if target is None else f"<= {target:.2f} ({'pass' if _nats(r) <= target else 'fail'})"
        name = r["name"] + (f" ({r['config']['model']})" if "config" in r else "")
        bits = v.get("bits_per_char", _nats(r) / 0.6931471805599453)
        table.add_row(name, f"{r['minutes']:.1f}", f"{r['tokens_per_s']:,.0f}", f"{_nats(r):.4f}", f"{bits:.3f}",
                      f"{v['accuracy']:.3f}" if "accuracy" in v else "-", verdict)
        if r.get("baseline"):
            b = r["baseline"]
            table.add_row(r["baseline_name"], "-", "-", f"{b['loss'] / _cpt(r):.4f}", f"{b['bits_per_char']:.3f}",
                          f"{b['accuracy']:.3f}", "")
    return [table, machine]


def _cpt(r: dict) -> float:
    v = r["valid"]
    return v["loss"] / (v["bits_per_char"] * 0.6931471805599453) if "bits_per_char" in v else 1.0


def _nats(r: dict) -> float:
    return r["valid"]["loss"] / _cpt(r)
