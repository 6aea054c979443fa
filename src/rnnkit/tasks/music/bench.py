"""``rnnkit bench quality music [--data chorales.json] --minutes M``: the negative log-likelihood per time step
on the test split (frame level, Boulanger-Lewandowski et al. 2012) of each output head after M minutes of
training, at its best validation checkpoint, beside every pitch at its training frequency.

Targets: the independent sigmoid head at most 8.5 nats a step, the joint (note-by-note) head at most 7.0,
on JSB Chorales at quarter-note steps. Each head trains for the whole budget, one after the other; with the
sigmoid head, a plain-PyTorch 2x256 LSTM (``torch_baseline``) trains for the same budget in the same command.
Its figure leaves out each piece's first frame, so rnnkit's is given that way too ("from frame 2").

Beyond likelihood, each head composes 8 pieces of 16 bars without a primer: the speed it samples at (time
steps a second) and the distance of their statistics to the test pieces' (``rnnkit.tasks.music.stats``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from rnnkit.tasks.base import Option

OPTIONS = [Option("--head", "music: which output head to train: sigmoid, joint or both (default both)", str, "HEAD")]
NEEDS_DATA = False  # without --data: the embedded JSB Chorales
TARGETS = {"sigmoid": 8.5, "joint": 7.0}  # nats a time step on the test split


def _heads(config) -> list[str]:
    head = config.options.get("head") or "both"
    if head not in ("sigmoid", "joint", "both"):
        raise ValueError(f"--head must be sigmoid, joint or both, got {head!r}")
    return ["sigmoid", "joint"] if head == "both" else [head]


def samples(config) -> int:
    heads = _heads(config)
    return len(heads) + ("sigmoid" in heads)


def music_config(config, head: str):
    """The ``music`` defaults with ``head`` and the user's overrides on top."""
    from rnnkit.config import apply_overrides
    from rnnkit.tasks.music import MusicRun

    cfg = MusicRun()
    cfg.model.head = head
    cfg.train.progress = False
    if config.quick:
        cfg.model.encoder.hidden_size, cfg.model.encoder.num_layers, cfg.model.nade_hidden = 32, 1, 16
    return apply_overrides(cfg, list(config.overrides))


def results(config, advance: Callable[[str], None]) -> list[dict]:
    out = []
    for head in _heads(config):
        out.append(head_quality(config, head))
        advance(head)
        if head == "sigmoid":
            out.append(torch_quality(config))
            advance("plain PyTorch")
    return out


def torch_quality(config) -> dict:
    """The plain-PyTorch 2x256 LSTM on the same pieces and piano roll, for the same budget."""
    from rnnkit.tasks.music.preprocess import PianoRoll
    from rnnkit.tasks.music.sources import grid, read_pieces
    from rnnkit.tasks.music.torch_baseline import train_plain_lstm

    cfg = music_config(config, "sigmoid")
    pieces = read_pieces(config.data, cfg)
    roll = PianoRoll.fit([p for split in pieces.values() for p in split], steps_per_beat=grid(config.data, cfg))
    size = {"hidden": 32, "layers": 1} if config.quick else {}
    plain = train_plain_lstm({name: [roll.encode(p) for p in split] for name, split in pieces.items()},
                             config.minutes, **size)
    return {"name": f"plain PyTorch {plain['layers']}x{plain['hidden']} LSTM", "task": "music", "head": "torch",
            "config": {"encoder": f"{plain['layers']}x{plain['hidden']} torch.nn.LSTM", "passes": plain["passes"],
                       "best_pass": plain["best_pass"]},
            "minutes": plain["minutes"], "valid": {"loss_from_2": plain["valid_loss"]},
            "test": {"loss_from_2": plain["test_loss"]}}


def head_quality(config, head: str) -> dict:
    from rnnkit import checkpoint as ckpt
    from rnnkit.models.language_model import count_parameters
    from rnnkit.tasks.music.samples import ROLL_TEMPO, check_samples
    from rnnkit.tasks.run import train_run

    cfg = music_config(config, head)
    with tempfile.TemporaryDirectory(prefix="rnnkit-bench-") as tmp:
        out = Path(config.out) / head if config.out else Path(tmp) / head
        trained = train_run("music", cfg, data=config.data, out=out, minutes=config.minutes)
        parts, trainer = trained.parts, trained.trainer
        best = ckpt.load(out / "best", with_trainer=False) if ckpt.exists(out / "best") else None
        if best is not None:
            parts.model.load_state_dict(best.model)
        test = trainer.evaluate(parts.test)
        test["loss_from_2"] = nll_from_second_frame(parts.model, parts.test)
        made, comparison = check_samples(parts.model, parts.preprocessor, parts.test.pieces, tempo=ROLL_TEMPO)
    return {
        "name": f"rnnkit music, {head} head",
        "task": "music",
        "head": head,
        "config": {"encoder": f"{cfg.model.encoder.num_layers}x{cfg.model.encoder.hidden_size} "
                              f"{cfg.model.encoder.cell}", "parameters": count_parameters(parts.model),
                   "updates": trainer.step, "best_step": best.run.step if best is not None else trainer.step},
        "minutes": trained.seconds / 60,
        "passes": trainer.step * cfg.data.batch_size / max(len(parts.train.pieces), 1),
        "valid": best.run.metrics if best is not None else {},
        "test": test,
        "baseline_name": parts.baseline_name,
        "baseline": parts.baseline_metrics(),
        "target_nll": TARGETS[head],
        "stopped": trainer.stopped,
        "samples": {"overall": comparison["overall"], "distance": comparison["distance"],
                    "steps_per_s": comparison["speed"]["events_per_s"], "pieces": len(made["pieces"])},
    }


@torch.no_grad()
def nll_from_second_frame(model, source) -> float:
    """NLL per time step over frames 2..T of each piece (the plain-PyTorch reference's measure)."""
    model.eval()
    total, steps = 0.0, 0.0
    for batch in source.batches(0):
        h, _ = model.features(batch.inputs, lengths=batch.lengths)
        mask = batch.mask[:, 1:]
        total += float((model.head.nll(h, batch.targets)[:, 1:] * mask).sum())
        steps += float(mask.sum())
    return total / max(steps, 1.0)


def missed(result: dict) -> str | None:
    if "target_nll" not in result:  # the plain-PyTorch reference has no target
        return None
    nll = result["test"]["loss"]
    if nll <= result["target_nll"]:
        return None
    return f"{result['name']}: {nll:.3f} nats a step on the test split, above the target of {result['target_nll']}"


def render(data: dict) -> list:
    from rich.table import Table

    table = Table(title="rnnkit bench quality music: test NLL per time step after a fixed budget",
                  title_justify="left")
    for column in ("model", "minutes", "updates", "best at", "valid NLL", "test NLL", "from frame 2", "target"):
        table.add_column(column, justify="left" if column == "model" else "right")
    samples = Table(title="samples: 16 bars without a primer against the test pieces (distance 0: the same, 1: "
                          "disjoint)", title_justify="left")
    for column in ("model", "steps a second", "overall", "pitch class", "polyphony", "interval", "note density"):
        samples.add_column(column, justify="left" if column == "model" else "right")
    for r in data["results"]:
        label = f"{r['name']} ({r['config']['encoder']})"
        if "target_nll" not in r:  # the plain-PyTorch reference: passes, and frames 2..T only
            c = r["config"]
            table.add_row(label, f"{r['minutes']:.1f}", f"{c['passes']} passes", f"pass {c['best_pass']}",
                          f"{r['valid']['loss_from_2']:.3f} (2..T)", "-", f"{r['test']['loss_from_2']:.3f}", "")
            continue
        verdict = f"<= {r['target_nll']} ({'fail' if missed(r) else 'pass'})"
        valid = r["valid"].get("loss")
        table.add_row(label, f"{r['minutes']:.1f}", f"{r['config']['updates']:,}", f"{r['config']['best_step']:,}",
                      "-" if valid is None else f"{valid:.3f}", f"{r['test']['loss']:.3f}",
                      f"{r['test']['loss_from_2']:.3f}", verdict)
        s, d = r["samples"], r["samples"]["distance"]
        samples.add_row(label, f"{s['steps_per_s']:,.0f}", f"{s['overall']:.3f}", f"{d['pitch_class']:.3f}",
                        f"{d['polyphony']:.3f}", f"{d['interval']:.3f}", f"{d['note_density']:.3f}")
    first = next((r for r in data["results"] if "baseline" in r), None)
    if first is not None:
        table.add_row(first["baseline_name"], "-", "-", "-", "-", f"{first['baseline']['loss']:.3f}", "-", "")
    return [table, samples]
