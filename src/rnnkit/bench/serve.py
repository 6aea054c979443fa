"""``rnnkit bench serve [--run RUN]``: throughput and latency of the HTTP server under concurrent load, on
loopback, with the load generator on the same machine.

Two servers of the same run start as separate processes: ``batched`` (the default settings: concurrent
completions share model steps, up to ``max_batch=64``) and the baseline ``unbatched`` (``max_batch=1``: one
completion per model call). Levels alternate between the two, so a burst of load from elsewhere hits both.

The run's task must serve completions and typing sessions at ``/v1/TASK/...`` (``DRIVEN``; ``lm`` does):

- ``complete``: N clients each send ``POST /v1/TASK/complete`` with prefixes cut from a fixed list of
  sentences at seeded points (often inside a word), at every ``--concurrency`` level.
- ``session``: N clients each open a typing session and send one keystroke per
  ``POST /v1/TASK/sessions/{id}/keys``, a backspace now and then, at 1 and 32 clients.

Each level stops after ``--requests`` requests or ``--seconds`` seconds. Every answer is checked (status,
JSON, suggestions; a session's text must be the text typed); anything else counts as an error. The target:
at 32 clients, at least 500 completions per second with p99 at most 50 ms, and no errors anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from rnnkit.bench.loadgen import Client, Connection, InvalidResponse, Request, Response, run_level

DEMO_RUN = "runs/demo"
SERVERS = {"batched": 64, "unbatched": 1}  # server name -> max_batch
TARGET = {"concurrency": 32, "throughput": 500.0, "p99_ms": 50.0}
SESSION_CHARS = 1000  # a typing session is ended and a new one opened once its text is this long
START_TIMEOUT_S = 120.0
SENTENCES = (
    "the function returns a list of the values in the order they were found",
    "if the file does not exist a new one is created",
    "this module provides a way to read and write data",
    "the default value is none which means that no limit is applied",
    "raise an exception if the argument is not a string",
    "the object is returned as a new reference to the caller",
    "see the documentation of the module for more details",
    "this method is called when the instance is about to be destroyed",
    "the first argument is the name of the file to open",
    "return true if the object is an instance of the class",
    "a new thread is started for each request that the server handles",
    "the result of the expression is assigned to the variable",
    "it is an error to call this function more than once",
    "the size of the buffer can be changed with the optional argument",
    "each line of the input is read and passed to the callback",
    "when the loop is finished the else clause is executed",
)


class ServeBenchError(ValueError):
    """A run that cannot be benchmarked, or a server that did not start; one line."""


@dataclass
class ServeConfig:
    run: str = DEMO_RUN
    seconds: float = 10.0
    requests: int = 20000
    concurrency: tuple[int, ...] = (1, 8, 32, 64)
    session_concurrency: tuple[int, ...] = (1, 32)
    quick: bool = False


# ---- what the clients type ----------------------------------------------------------------------------
def prefixes(n: int, *, seed: int = 0) -> list[str]:
    """``n`` typed prefixes: each a sentence of ``SENTENCES`` cut at a seeded point past its first few
    characters, so most end inside a word (a partly typed word) and some just after a space."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        sentence = rng.choice(SENTENCES)
        out.append(sentence[: rng.randint(6, len(sentence))])
    return out


class CompleteClient:
    """Asks for the next words after prefix ``start``, ``start + step``, ... of ``bodies`` (JSON, encoded)."""

    def __init__(self, bodies: list[bytes], *, start: int, step: int, base: str):
        self.bodies, self.i, self.step, self.base = bodies, start, step, base

    async def prepare(self, conn: Connection) -> None:
        pass

    def next(self) -> Request:
        body = self.bodies[self.i % len(self.bodies)]
        self.i += self.step
        return Request("POST", f"{self.base}/complete", body)

    def check(self, response: Response) -> None:
        _check_suggestions(response, f"POST {self.base}/complete")


class SessionClient:
    """Types the sentences one key at a time into a session, starting at sentence ``index``; after a key,
    with probability ``backspace`` (seeded by ``index``), a backspace and the same key again. Opens a new
    session (and ends the old one) once the text reaches ``SESSION_CHARS``."""

    def __init__(self, index: int, *, base: str, backspace: float = 0.05):
        self.rng, self.backspace, self.base = random.Random(index), backspace, base
        self.sentence = index
        self.keys: list[str] = []
        self.sid: str | None = None
        self.text = ""  # what the server's session text must be once the last key sent is typed

    async def prepare(self, conn: Connection) -> None:
        if self.sid is None or len(self.text) >= SESSION_CHARS:
            if self.sid is not None:
                await conn.request(Request("DELETE", f"{self.base}/sessions/{self.sid}"))
            answer = await conn.request(Request.post(f"{self.base}/sessions", {"k": 3}))
            data = answer.json() if answer.status == 201 else None
            if not isinstance(data, dict) or not isinstance(data.get("session_id"), str):
                raise InvalidResponse(f"POST {self.base}/sessions: status {answer.status}: {answer.body[:80]!r}")
            self.sid, self.text = data["session_id"], ""
        if not self.keys:
            self.keys = self._type(SENTENCES[self.sentence % len(SENTENCES)] + " ")
            self.sentence += 1

    def _type(self, sentence: str) -> list[str]:
        keys = []
        for ch in sentence:
            keys.append(ch)
            if self.rng.random() < self.backspace:
                keys += ["\b", ch]
        return keys[::-1]  # popped from the end

    def next(self) -> Request:
        key = self.keys.pop()
        self.text = self.text[:-1] if key == "\b" else self.text + key
        return Request.post(f"{self.base}/sessions/{self.sid}/keys", {"text": key})

    def check(self, response: Response) -> None:
        data = _check_suggestions(response, f"POST {self.base}/sessions/{{id}}/keys")
        if data.get("text") != self.text:
            self.sid = None  # out of step with the server: start again in a new session
            raise InvalidResponse(f"a session's text is {data.get('text')!r}, typed {self.text!r}")


def _check_suggestions(response: Response, what: str) -> dict:
    """The JSON object of a 200 answer whose ``suggestions`` is a list of {word, probability}; else
    InvalidResponse."""
    if response.status != 200:
        raise InvalidResponse(f"{what}: status {response.status}: {response.body[:80]!r}")
    data = response.json()
    suggestions = data.get("suggestions") if isinstance(data, dict) else None
    if not isinstance(suggestions, list) or not all(isinstance(s, dict) and "word" in s for s in suggestions):
        raise InvalidResponse(f"{what}: no list of suggestions in {response.body[:80]!r}")
    return data


def make_clients(mode: str, n: int, bodies: list[bytes], base: str) -> list[Client]:
    """``n`` clients of ``mode`` ("complete" or "session") for the endpoints under ``base`` (``/v1/TASK``)."""
    if mode == "complete":
        return [CompleteClient(bodies, start=i, step=n, base=base) for i in range(n)]
    return [SessionClient(i, base=base) for i in range(n)]


# ---- the servers ----------------------------------------------------------------------------------------
# the endpoints the load generator drives, which the run's task must declare on its router
DRIVEN = {("POST", "complete"), ("POST", "sessions"), ("POST", "sessions/{session_id}/keys"),
          ("DELETE", "sessions/{session_id}")}


def check_run(run: str) -> tuple[Path, str]:
    """``run`` as a Path, and the base of its task's routes (``/v1/TASK``), if it is a run directory (its
    ``run.json`` names the task) whose task serves completions and typing sessions (``DRIVEN``);
    ServeBenchError (one line) otherwise. Whether its checkpoint loads, the server tells when it starts."""
    from rnnkit import registry

    path = Path(run)
    if not path.is_dir():
        hint = "run `rnnkit demo` first or pass --run" if run == DEMO_RUN else "give a run directory"
        raise ServeBenchError(f"{run}: no such run; {hint}")
    try:
        task = json.loads((path / "run.json").read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        raise ServeBenchError(f"{run}: not a run directory (no readable run.json)") from None
    router = registry.task(task).part("router") if task in registry.TASKS else None
    if router is None or not {(e.method, e.path) for e in router.endpoints} >= DRIVEN:
        raise ServeBenchError(f"{run}: a {task!r} run, whose task serves no completions and typing sessions; "
                              "bench serve needs one that does (a language model, lm)")
    return path, f"/v1/{task}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(run: Path, servers: dict[str, int], *, logs: Path) -> Iterator[dict[str, int]]:
    """Servers of ``run``, one per ``name -> max_batch`` of ``servers``, each a child process on a free
    loopback port; yields ``name -> port`` once every ``/healthz`` answers. Each writes its output to
    ``logs/NAME.log``. All are stopped with SIGINT (uvicorn's clean shutdown), then killed if they linger,
    whatever happens in between."""
    procs: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for name, max_batch in servers.items():  # all start at once: loading the model is the slow part
            port = free_port()
            command = [sys.executable, "-m", "rnnkit.bench.serve", str(run), "--port", str(port),
                       "--max-batch", str(max_batch)]
            with open(logs / f"{name}.log", "wb") as out:
                proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            procs[name] = proc, port
        for name, (proc, port) in procs.items():
            _wait_healthy(proc, port, logs / f"{name}.log")
        yield {name: port for name, (_, port) in procs.items()}
    finally:
        for proc, _ in procs.values():
            proc.send_signal(signal.SIGINT)
        for proc, _ in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServeBenchError(f"the server exited with status {proc.returncode}: {_last_line(log)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise ServeBenchError(f"the server did not answer /healthz within {START_TIMEOUT_S:g} s: {_last_line(log)}")


def _last_line(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


# ---- the benchmark ---------------------------------------------------------------------------------------
def total_samples(config: ServeConfig) -> int:
    return len(SERVERS) * (len(config.concurrency) + len(config.session_concurrency))


def run(config: ServeConfig, *, on_sample: Callable[[str], None] | None = None) -> dict:
    from rnnkit.bench.common import machine_info, report

    path, base = check_run(config.run)
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="rnnkit-bench-serve-") as tmp, \
            served(path, SERVERS, logs=Path(tmp)) as ports:
        results = asyncio.run(_measure(config, ports, base, on_sample or (lambda _: None)))
    return report("serve", machine, _compare(results))


async def _measure(config: ServeConfig, ports: dict[str, int], base: str,
                   advance: Callable[[str], None]) -> list[dict]:
    """Every (mode, level), each measured on both servers in turn, after a short untimed warm-up of each."""
    bodies = [json.dumps({"text": p, "k": 3}).encode() for p in prefixes(512)]
    for port in ports.values():
        await run_level("127.0.0.1", port, make_clients("complete", 8, bodies, base), seconds=0.5, requests=200)
        await run_level("127.0.0.1", port, make_clients("session", 1, bodies, base), seconds=0.3, requests=50)
    gc.collect()
    gc.freeze()  # the generator's own long-lived objects: a full collection need not walk them mid-level
    results = []
    levels = [("complete", c) for c in config.concurrency] + [("session", c) for c in config.session_concurrency]
    for mode, n in levels:
        for name, port in ports.items():
            stats = await run_level("127.0.0.1", port, make_clients(mode, n, bodies, base), seconds=config.seconds,
                                    requests=config.requests)
            results.append({"mode": mode, "server": name, "max_batch": SERVERS[name], "concurrency": n,
                            **stats.summary()})
            advance(f"{mode} x{n} {name}")
    return results


def _compare(results: list[dict]) -> list[dict]:
    """Each batched result gains its unbatched twin's throughput and the ratio; the one at the target's
    concurrency gains the verdict (which also needs zero errors in every result)."""
    baseline = {(r["mode"], r["concurrency"]): r for r in results if r["server"] == "unbatched"}
    errors = sum(r["errors"] for r in results)
    for r in results:
        twin = baseline.get((r["mode"], r["concurrency"]))
        if r["server"] != "batched" or twin is None:
            continue
        r["baseline_throughput"] = twin["throughput"]
        r["ratio"] = round(r["throughput"] / twin["throughput"], 3) if twin["throughput"] else None
        if r["mode"] == "complete" and r["concurrency"] == TARGET["concurrency"]:
            met = (r["throughput"] >= TARGET["throughput"] and r["p99_ms"] is not None
                   and r["p99_ms"] <= TARGET["p99_ms"] and errors == 0)
            r["target"] = {**TARGET, "errors": 0, "errors_all_levels": errors, "met": met}
    return results


# ---- command line ----------------------------------------------------------------------------------------
def positive_ints(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated positive integers, e.g. ``1,8,32,64``."""
    try:
        values = tuple(int(p) for p in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def add_arguments(parser) -> None:
    from rnnkit.bench.common import positive_int

    parser.add_argument("--run", default=DEMO_RUN, metavar="RUN", help=f"the lm run to serve (default {DEMO_RUN})")
    parser.add_argument("--seconds", type=float, help="at most this long per level (default 10; --quick 1)")
    parser.add_argument("--requests", type=positive_int, default=20000, help="at most this many per level (20000)")
    parser.add_argument("--concurrency", type=positive_ints, metavar="N,N,...",
                        help="clients at once, per completion level (default 1,8,32,64; --quick 1,8)")


def config_from_args(args) -> ServeConfig:
    seconds = args.seconds if args.seconds is not None else (1.0 if args.quick else 10.0)
    if seconds <= 0:
        raise ValueError(f"--seconds must be positive, got {seconds}")
    check_run(args.run)
    concurrency = args.concurrency or ((1, 8) if args.quick else (1, 8, 32, 64))
    return ServeConfig(run=args.run, seconds=seconds, requests=args.requests, concurrency=concurrency,
                       session_concurrency=(1, 8) if args.quick else (1, 32), quick=args.quick)


def render(data: dict) -> list:
    from rich.table import Table

    table = Table(title="rnnkit bench serve: requests on loopback, the load generator on the same machine",
                  title_justify="left")
    for column in ("mode", "server", "clients", "requests", "per s", "p50 ms", "p99 ms", "max ms", "errors",
                   "x unbatched"):
        table.add_column(column, justify="left" if column in ("mode", "server") else "right")
    notes = []
    for r in data["results"]:
        table.add_row(r["mode"], f"{r['server']} (max_batch {r['max_batch']})", str(r["concurrency"]),
                      str(r["requests"]), f"{r['throughput']:,.0f}", _ms(r["p50_ms"]), _ms(r["p99_ms"]),
                      _ms(r["max_ms"]), str(r["errors"]), f"{r['ratio']:.2f}" if r.get("ratio") else "")
        if r.get("target"):
            t = r["target"]
            notes.append(f"target at {t['concurrency']} clients: >= {t['throughput']:.0f} completions/s with p99 <= "
                         f"{t['p99_ms']:.0f} ms and no errors: {'met' if t['met'] else 'missed'} "
                         f"({r['throughput']:,.0f}/s, p99 {_ms(r['p99_ms'])} ms, {t['errors_all_levels']} errors)")
        if r["first_error"]:
            notes.append(f"{r['mode']} x{r['concurrency']} {r['server']}: first error: {r['first_error']}")
    m = data["machine"]
    notes.append(f"{m['cpu']}, {m['cores']} cores, torch {m['torch']}, load {m['load_average_1min']}")
    return [table, *notes]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _serve_main(argv: list[str]) -> None:
    """The child process: ``python -m rnnkit.bench.serve RUN --port P --max-batch N`` serves RUN."""
    from rnnkit.serve import Settings
    from rnnkit.serve.app import run as serve

    parser = argparse.ArgumentParser(prog="python -m rnnkit.bench.serve")
    parser.add_argument("run")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch", type=int, required=True)
    args = parser.parse_args(argv)
    run_dir = Path(args.run).resolve()
    serve([str(run_dir)], Settings(port=args.port, max_batch=args.max_batch, allowed_dirs=(run_dir.parent,)))


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        _serve_main(sys.argv[1:])


def missed(data: dict) -> list[str]:
    """The throughput and latency target at its concurrency, when the run missed it."""
    out = []
    for r in data["results"]:
        t = r.get("target")
        if t and not t["met"]:
            out.append(f"{r['mode']} at {t['concurrency']} clients: {r['throughput']:.0f}/s, p99 "
                       f"{r['p99_ms']:.1f} ms, {t['errors_all_levels']} errors; the target is >= "
                       f"{t['throughput']:.0f}/s with p99 <= {t['p99_ms']:.0f} ms and no errors")
    return out
