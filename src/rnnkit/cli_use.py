"""The commands that put a trained run to use: ``predict``, ``generate``, ``chat``, ``serve`` and ``export``.
Each is a pair of functions, registered in ``rnnkit.cli.COMMANDS``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class UsageError(Exception):
    """A mistake on the command line or in what it points to; printed as one line, exit status 2."""


def predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run directory written by rnnkit train")
    parser.add_argument("text", nargs="+", metavar="INPUT",
                        help="the input (several words are joined by spaces); - reads inputs from standard input, "
                             "one per line")
    _add_task_options(parser, "OPTIONS")


def _add_task_options(parser: argparse.ArgumentParser, which: str) -> None:
    for option, owners in task_options(which).items():
        kind = {"action": "store_true"} if option.kind is bool else {"type": option.kind, "metavar": option.metavar}
        names = [option.short, option.flag] if option.short else [option.flag]
        parser.add_argument(*names, dest=option.dest, help=f"{', '.join(owners)}: {option.help}", **kind)


def task_options(which: str = "OPTIONS") -> dict:
    """Every task's options of ``rnnkit predict`` (its cli module's ``OPTIONS``) or ``rnnkit generate``
    (``GENERATE_OPTIONS``), each with the tasks that take it. A flag two tasks declare must mean the same in
    both."""
    from rnnkit import registry

    found: dict = {}
    for task in registry.tasks():
        for option in getattr(task.part("cli"), which, []):
            same = [o for o in found if o.flag == option.flag]
            if same and same[0] != option:
                raise RuntimeError(f"tasks declare {option.flag} with different meanings")
            found.setdefault(same[0] if same else option, []).append(task.name)
    return found


def predict(args: argparse.Namespace) -> int:
    from rnnkit import registry
    from rnnkit.pipeline import from_checkpoint

    pipeline = from_checkpoint(args.run)
    shows = registry.task(pipeline.task).part("cli")
    options = _own_options(args, pipeline, "OPTIONS")
    if not hasattr(shows, "render"):
        raise UsageError(f"rnnkit predict: {args.run} is a {pipeline.task} run, which makes no predictions")
    inputs = _inputs(args.text)
    for text in inputs:
        if len(inputs) > 1:
            print(f"== {text}")  # several inputs: each answer under its input
        for piece in shows.render(pipeline, text, options):
            print(piece, end="", flush=True)
    return 0


def _inputs(words: list[str]) -> list[str]:
    """The inputs of ``rnnkit predict``: the words joined, or with ``-`` the non-empty lines of stdin."""
    if words != ["-"]:
        return [" ".join(words)]
    lines = [line.rstrip("\r\n") for line in sys.stdin]
    inputs = [line for line in lines if line.strip()]
    if not inputs:
        raise UsageError("rnnkit predict: standard input held no input (one per line)")
    return inputs


def generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run directory of a task that generates (lm, music)")
    parser.add_argument("--prime", default="", help="the text to continue (lm), or a MIDI file whose notes the "
                        "music continues (default: none)")
    parser.add_argument("--length", type=int, help="tokens (lm) to generate, or music in --unit (default: the "
                        "task's, 200 tokens for lm, 16 bars for music)")
    parser.add_argument("--temperature", type=float,
                        help="0 is greedy; higher is more varied (default: the task's, 0.8 for lm)")
    parser.add_argument("--top-k", type=int, help="sample only from the k most probable tokens")
    parser.add_argument("--top-p", type=float, help="sample from the smallest set holding this probability")
    parser.add_argument("--seed", type=int, help="the same seed gives the same text")
    parser.add_argument("--out", metavar="FILE", help="also write the text to FILE; music: the MIDI file to write, "
                        "with its piano roll and sound beside it as FILE.png and FILE.wav (never overwritten "
                        "without --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace FILE of --out if it exists")
    _add_task_options(parser, "GENERATE_OPTIONS")


def _own_options(args: argparse.Namespace, pipeline, which: str) -> dict:
    """The task options given on the command line that ``pipeline``'s task takes; UsageError for one given that
    it does not."""
    from rnnkit import registry

    own = {o.dest for o in getattr(registry.task(pipeline.task).part("cli"), which, [])}
    command = "predict" if which == "OPTIONS" else "generate"
    options = {}
    for option in task_options(which):
        value = getattr(args, option.dest)
        if option.dest not in own and value not in (None, False):
            raise UsageError(f"rnnkit {command}: {option.flag} does not apply to {args.run}, a {pipeline.task} run")
        if option.dest in own and value is not None:
            options[option.dest] = value
    return options


def generate(args: argparse.Namespace) -> int:
    from rnnkit.files import write_atomic
    from rnnkit.pipeline import from_checkpoint

    if args.out and Path(args.out).exists() and not args.overwrite:
        raise UsageError(f"{args.out}: already exists; choose another --out or pass --overwrite")
    pipeline = from_checkpoint(args.run)
    if "generate" not in pipeline.commands:
        raise UsageError(f"rnnkit generate: {args.run} is a {pipeline.task} run, which does not generate text")
    d = pipeline.defaults
    length = d["length"] if args.length is None else args.length
    temperature = d["temperature"] if args.temperature is None else args.temperature
    options = _own_options(args, pipeline, "GENERATE_OPTIONS")
    if pipeline.output == "file":
        return _generate_files(args, pipeline, length, temperature, options)
    pieces = [args.prime]
    print(args.prime, end="", flush=True)
    for piece in pipeline.generate(args.prime, length=length, temperature=temperature, top_k=args.top_k,
                                   top_p=args.top_p, seed=args.seed):
        print(piece, end="", flush=True)
        pieces.append(piece)
    print()
    if args.out:
        written = write_atomic(args.out, "".join(pieces) + "\n", overwrite=args.overwrite)
        print(f"wrote {written}", file=sys.stderr)  # stdout holds the text alone
    return 0


def _generate_files(args: argparse.Namespace, pipeline, length: float, temperature: float, options: dict) -> int:
    """``rnnkit generate`` for a pipeline whose output is a file (music: a MIDI file and its piano roll)."""
    if not args.out:
        raise UsageError(f"rnnkit generate: a {pipeline.task} run writes a file: give --out FILE")
    for flag, value in (("--top-k", args.top_k), ("--top-p", args.top_p)):
        if value is not None:
            raise UsageError(f"rnnkit generate: {flag} does not apply to a {pipeline.task} run")
    for path in pipeline.generate_files(Path(args.out), prime=args.prime, length=length, temperature=temperature,
                                        seed=args.seed, overwrite=args.overwrite, **options):
        print(f"wrote {path}")
    return 0


# ---- chat / export / serve ------------------------------------------------------------------------
def chat_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run of a dialogue model (seq2seq trained on dialogue)")
    parser.add_argument("--beam", type=int, help="beam size (default: the run's decode.beam; 1 is greedy)")
    parser.add_argument("--turns", type=int, default=6, help="exchanges kept as context (default 6)")


def chat(args: argparse.Namespace) -> int:
    """Read a line, stream the reply, keep the last exchanges as context; an empty line or EOF ends."""
    from rnnkit.pipeline import from_checkpoint

    pipeline = from_checkpoint(args.run)
    if "chat" not in pipeline.commands:
        raise ValueError(f"{args.run}: chat needs a dialogue model, not a {pipeline.task} ({pipeline.kind or 'plain'}) "
                         "run")
    if args.turns < 1:
        raise ValueError(f"--turns must be at least 1, got {args.turns}")
    history: list[str] = []
    interactive = sys.stdin.isatty()
    if interactive:
        print("Type a message and press Enter; an empty line or Ctrl-D ends the chat.")
    while True:
        try:
            message = input("you: " if interactive else "")
        except EOFError:
            break
        if not message.strip():
            break
        reply = _stream(pipeline, message, history, beam=args.beam)
        history = [*history, message, reply][-2 * args.turns:]
    return 0


def _stream(pipeline, message: str, history: list[str], *, beam: int | None) -> str:
    """Print the reply to ``message`` as it is decoded, after warnings for words the model cannot read;
    returns the whole reply."""
    for word in pipeline.unknown(message):
        print(f"rnnkit: warning: {word!r} is unknown to the model and reads as <unk>", file=sys.stderr)
    print("bot: ", end="", flush=True)
    pieces = []
    for piece in pipeline.reply_stream(message, history, beam=beam):
        print(piece, end="", flush=True)
        pieces.append(piece)
    print()
    return "".join(pieces).strip()


def export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run directory of a task with an export (lm, classify)")
    parser.add_argument("--format", choices=("onnx",), default="onnx", help="the export format (onnx)")
    parser.add_argument("--out", metavar="DIR", help="where to write model.onnx and export.json (default RUN/export)")
    parser.add_argument("--opset", type=int, help="the ONNX opset (default 17)")
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="skip comparing onnxruntime's outputs with PyTorch's")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier export")


def export(args: argparse.Namespace) -> int:
    from rnnkit.export import export_onnx

    path = export_onnx(args.run, args.out, opset=args.opset, check=args.check, overwrite=args.overwrite)
    print(f"wrote {path} and {path.with_name('export.json')}")
    return 0


def serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--token", help="require 'Authorization: Bearer TOKEN' on /v1 and /metrics")
    parser.add_argument("--allow", action="append", default=[], metavar="DIR",
                        help="also serve runs under DIR (default: the current directory only)")


def serve(args: argparse.Namespace) -> int:
    from rnnkit.serve import Settings
    from rnnkit.serve.app import run

    allowed = (Path.cwd(), *(Path(d) for d in args.allow))
    run(args.runs, Settings(host=args.host, port=args.port, token=args.token, allowed_dirs=allowed))
    return 0
