"""The commands that put a trained run to use beyond one prediction: ``chat``, ``serve`` and ``export``. Each
is a pair of functions, registered in ``rnnkit.cli.COMMANDS``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
