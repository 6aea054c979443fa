"""``rnnkit``: the command line, a few lines over the library per subcommand.

Each subcommand is one entry in ``COMMANDS``: a function that adds its options to a parser and a function
that runs it and returns the exit status. A new subcommand (train, eval, predict, generate, diagnose,
serve, export) is one more pair and one more line there. Errors the user can fix print one line on
stderr and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rnnkit import cli_use
from rnnkit.checkpoint import CheckpointError
from rnnkit.config import ConfigError
from rnnkit.train.trainer import TrainingDiverged


class UsageError(Exception):
    """A mistake on the command line or in what it points to; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so that ``main`` prints one line."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


# ---- demo --------------------------------------------------------------------------------------------
def demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=2.25, help="training time in minutes (default 2.25)")
    parser.add_argument("--out", metavar="DIR", help="run directory (default runs/demo, or the next free runs/demo-N)")


def demo(args: argparse.Namespace) -> int:
    from rnnkit.demo import run_demo

    if args.minutes <= 0:
        raise UsageError(f"rnnkit demo: --minutes must be positive, got {args.minutes}")
    out = Path(args.out) if args.out else _free_run_dir(Path("runs/demo"))
    if out.exists():
        raise UsageError(f"rnnkit demo: {out} already exists; choose another --out")
    result = run_demo(out, minutes=args.minutes)
    _print_metrics("validation", result.metrics, result.baseline, "Kneser-Ney 3-gram")
    print("suggestions (top 3 next words):")
    for prefix, words in result.suggestions.items():
        print(f"  {prefix!r:28} -> " + ", ".join(f"{w} ({p:.2f})" for w, p in words))
    lat = result.latency_ms
    print(f"latency per keystroke, batch 1: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms")
    print(f"report: {result.report}")
    print(f"model saved in {result.run}; try:")
    print(f'  rnnkit predict {result.run} "open the file and read the"')
    print(f'  rnnkit generate {result.run} --prime "the module" --length 40 --seed 1')
    print(f"  rnnkit serve {result.run}          # then open http://127.0.0.1:8000/ and type")
    return 0


def _free_run_dir(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``, ... (before any suffix): the first that does not exist, so
    nothing is overwritten."""
    n, path = 1, base
    while path.exists():
        n += 1
        path = base.with_name(f"{base.stem}-{n}{base.suffix}")
    return path


# ---- predict / generate ------------------------------------------------------------------------------
def predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run directory written by rnnkit train")
    parser.add_argument("text", nargs="+", metavar="INPUT", help="the text typed so far (several are joined by spaces)")
    parser.add_argument("-k", "--top-k", type=int, default=5, help="how many suggestions (default 5)")
    parser.add_argument("--beam", type=int, help="seq2seq: beam size (default: the run's decode.beam; 1 is greedy)")
    parser.add_argument("--attention", metavar="PNG", help="seq2seq: also draw the attention heat map to this file")
    parser.add_argument("--explain", action="store_true",
                        help="classifiers: shade the words that moved the decision, and write an HTML page")
    parser.add_argument("--html", metavar="FILE",
                        help="where --explain writes its page (default RUN/explanation.html, never overwritten)")


def predict(args: argparse.Namespace) -> int:
    from rnnkit.pipeline import from_checkpoint

    pipeline = from_checkpoint(args.run)
    text = " ".join(args.text)
    if pipeline.task == "classify":
        return _predict_label(pipeline, text, args)
    if pipeline.task == "seq2seq":
        from rnnkit.cli_use import stream_reply

        output = stream_reply(pipeline, text, beam=args.beam)
        if args.attention:
            print(f"attention: {pipeline.attention_figure(text, args.attention, output=output)}")
        return 0
    for word, probability in pipeline.complete(text, k=args.top_k):
        print(f"{probability:8.4f}  {word}")
    return 0


def _predict_label(pipeline, text: str, args: argparse.Namespace) -> int:
    if not args.explain:
        label, probabilities = pipeline.classify(text)
    else:
        from rich.console import Console

        from rnnkit.explain import to_terminal, write_explanation

        explanation = pipeline.explain(text)
        label, probabilities = explanation.label, explanation.probabilities
        Console(highlight=False).print(to_terminal(explanation))
        html = Path(args.html) if args.html else _free_run_dir(Path(args.run) / "explanation.html")
        if args.html and html.exists():
            raise UsageError(f"{html}: already exists; choose another --html")
        print(f"explanation ({explanation.method}): {write_explanation(explanation, html)}")
    print(f"label: {label}")
    for name, probability in list(probabilities.items())[: args.top_k]:
        print(f"{probability:8.4f}  {name}")
    return 0


def generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run directory written by rnnkit train")
    parser.add_argument("--prime", default="", help="the text to continue (default: a document start)")
    parser.add_argument("--length", type=int, default=200, help="tokens to generate (default 200)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 is greedy; higher is more varied (0.8)")
    parser.add_argument("--top-k", type=int, help="sample only from the k most probable tokens")
    parser.add_argument("--top-p", type=float, help="sample from the smallest set holding this probability")
    parser.add_argument("--seed", type=int, help="the same seed gives the same text")
    parser.add_argument("--out", metavar="FILE", help="also write the text to FILE")


def generate(args: argparse.Namespace) -> int:
    from rnnkit.pipeline import from_checkpoint

    pipeline = from_checkpoint(args.run)
    pieces = [args.prime]
    print(args.prime, end="", flush=True)
    for piece in pipeline.generate(args.prime, length=args.length, temperature=args.temperature,
                                   top_k=args.top_k, top_p=args.top_p, seed=args.seed):
        print(piece, end="", flush=True)
        pieces.append(piece)
    print()
    if args.out:
        Path(args.out).write_text("".join(pieces) + "\n", encoding="utf-8")
    return 0


# ---- bench -------------------------------------------------------------------------------------------
def bench_arguments(parser: argparse.ArgumentParser) -> None:
    from rnnkit import bench

    shared = _Parser(add_help=False)
    shared.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    shared.add_argument("--quick", action="store_true", help="tiny shapes, one repeat: a smoke test")
    names = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, (_, description) in bench.BENCHMARKS.items():
        sub = names.add_parser(name, parents=[shared], help=description, description=description)
        bench.load(name).add_arguments(sub)


def run_bench(args: argparse.Namespace) -> int:
    from rnnkit import bench
    from rnnkit.bench.common import check_writable, console, progress_bar, write_report

    module = bench.load(args.benchmark)
    config = module.config_from_args(args)
    if args.json:
        check_writable(args.json)  # fail now, not after the whole run
    with progress_bar(module.total_samples(config), f"bench {args.benchmark}") as advance:
        report = module.run(config, on_sample=advance)
    out = console()
    out.print(*module.render(report), sep="\n")
    if args.json:
        out.print(f"report written to {write_report(args.json, report)}")
    return 0


# ---- train / eval / diagnose -------------------------------------------------------------------------
def train_arguments(parser: argparse.ArgumentParser) -> None:
    from rnnkit.registry import TASKS

    parser.add_argument("task", choices=sorted(TASKS), metavar="TASK", help=f"one of {', '.join(sorted(TASKS))}")
    parser.add_argument("--data", metavar="PATH", help="training data (tasks with built-in data need none)")
    parser.add_argument("--config", metavar="FILE", help="a TOML run config; --section.key=value overrides it")
    parser.add_argument("--out", metavar="DIR", help="run directory (default: runs/TASK)")
    parser.add_argument("--init-from", metavar="RUN",
                        help="classify: start the embedding and encoder from this lm run (same as --init.from_run=RUN)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    again.add_argument("--overwrite", action="store_true", help="replace the run in --out")


def train(args: argparse.Namespace) -> int:
    from rnnkit.tasks import runner

    if args.data is not None:
        _check_data_path(args.data)
    overrides = [*args.overrides, *([f"init.from_run={args.init_from}"] if args.init_from else [])]
    cfg = runner.make_config(args.task, config_file=args.config, overrides=overrides)
    result = runner.train(args.task, cfg, out=args.out or f"runs/{args.task}", data=args.data,
                          resume=args.resume, overwrite=args.overwrite)
    if result.stopped:
        print(result.stopped)
    _print_metrics("test", result.test, result.baseline, result.baseline_name)
    print(f"run saved in {result.run} (loss curve: {result.run / 'loss.png'})")
    return 0


def eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run directory written by rnnkit train")
    parser.add_argument("--data", metavar="PATH", help="evaluate on this data instead of the run's own test split")


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.tasks import runner

    if args.data is not None:
        _check_data_path(args.data)
    result = runner.evaluate(args.run, data=args.data)
    _print_metrics("test", result.test, result.baseline, result.baseline_name)
    return 0


def diagnose_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", nargs="?", metavar="RUN", help="a run directory (or use --cell and --task)")
    parser.add_argument("--cell", help="diagnose a fresh model with this cell (rnn, lstm, gru, mingru, minlstm)")
    parser.add_argument("--task", default="adding", help="memory task for --cell (adding, copy, digits)")
    parser.add_argument("--length", type=int, default=100, help="sequence length T for --cell")
    parser.add_argument("--out", metavar="DIR", help="where to write gradient_flow.png and .json")


def diagnose(args: argparse.Namespace) -> int:
    from rnnkit.bench import memory
    from rnnkit.tasks import runner

    if (args.run is None) == (args.cell is None):
        raise UsageError("rnnkit diagnose: give either RUN or --cell (see rnnkit diagnose --help)")
    if args.run is not None:
        out = Path(args.out or args.run)
        report = runner.diagnose(args.run, out_dir=out)
    else:
        out = Path(args.out or f"diagnose-{args.cell}-{args.task}-{args.length}")
        report = memory.diagnose(args.cell, args.task, args.length, out)
    for layer in report["layers"]:
        print(f"{layer['name']}: {layer['verdict']}")
    print(f"wrote {out / 'gradient_flow.png'} and {out / 'gradient_flow.json'}")
    return 0


def _check_data_path(path: str) -> None:
    p = Path(path)
    if not p.exists() and not any(p.parent.glob(glob.escape(p.name) + ".*")):  # a stem of files STEM.LABEL
        raise UsageError(f"{path}: no such file or directory")
    if p.is_file() and p.stat().st_size == 0:
        raise UsageError(f"{path}: the file is empty")


def _print_metrics(title: str, metrics: dict[str, float], baseline: dict[str, float] | None, name: str) -> None:
    from rich.table import Table

    from rnnkit.bench.common import console

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("model", justify="right")
    if baseline:
        table.add_column(name, justify="right")
    for name, value in metrics.items():
        row = [name, f"{value:.4f}"]
        if baseline:
            row.append(f"{baseline[name]:.4f}" if name in baseline else "-")
        table.add_row(*row)
    for name, value in (baseline or {}).items():
        if name not in metrics:  # figures only the baseline side has (the majority-class accuracy)
            table.add_row(name, "-", f"{value:.4f}")
    console().print(table)


# name -> (add its options, run it, one-line help)
Command = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]
COMMANDS: dict[str, Command] = {
    "demo": (demo_arguments, demo, "train the next-word predictor on the embedded default and show it"),
    "train": (train_arguments, train, "train a task into a run directory (--section.key=value overrides)"),
    "eval": (eval_arguments, evaluate, "test metrics of a trained run beside the task's baseline"),
    "predict": (predict_arguments, predict, "next words for typed text, or a label (--explain: which words decided)"),
    "generate": (generate_arguments, generate, "sample text from a language model (temperature, top-k, top-p)"),
    "chat": (cli_use.chat_arguments, cli_use.chat, "talk with a dialogue model in the terminal"),
    "serve": (cli_use.serve_arguments, cli_use.serve, "serve runs over HTTP with a web page (127.0.0.1 unless --host)"),
    "export": (cli_use.export_arguments, cli_use.export, "write a run as ONNX (the step function, state explicit)"),
    "diagnose": (diagnose_arguments, diagnose, "gradient flow over time and gate saturation: PNG and JSON"),
    "bench": (bench_arguments, run_bench, "benchmarks, each against a baseline measured in the same run"),
}
OVERRIDABLE = {"train"}  # commands that take --section.key=value config overrides


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnnkit", description="Recurrent neural networks on PyTorch.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add_arguments, run, help) in COMMANDS.items():
        sub = commands.add_parser(name, help=help, description=help)
        add_arguments(sub)
        sub.set_defaults(handler=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``rnnkit`` with ``argv`` (default: the process's arguments); returns the exit status."""
    try:
        args, extra = build_parser().parse_known_args(argv)
        args.overrides = _overrides(args.command, extra)
        return args.handler(args)
    except UsageError as e:
        return _fail(str(e), 2)
    except (ConfigError, CheckpointError, TrainingDiverged) as e:
        return _fail(f"rnnkit: error: {e}", 1)
    except (ValueError, OSError) as e:
        return _fail(f"rnnkit: error: {e}", 1)
    except KeyboardInterrupt:
        return _fail("rnnkit: interrupted", 130)


def _overrides(command: str, extra: list[str]) -> list[str]:
    """``--section.key=value`` items left over by argparse: config overrides, for commands that take them."""
    if extra and (command not in OVERRIDABLE or not all(e.startswith("--") and "=" in e for e in extra)):
        raise UsageError(f"rnnkit {command}: unrecognized arguments: {' '.join(extra)}")
    return [e[2:] for e in extra]


def _fail(message: str, status: int) -> int:
    print(message, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
