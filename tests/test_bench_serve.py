"""``rnnkit bench serve``: the lean HTTP client against a real server of a tiny run (answers parsed, errors
counted, bounds kept), a stub server for broken answers, and the command end to end."""

import asyncio
import json

import pytest
import torch

from rnnkit.bench import serve
from rnnkit.bench.loadgen import Connection, LevelStats, ProtocolError, Request, Response, percentile, run_level
from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.tasks import run as runner

TEXT = "the cat sat on the mat. the dog sat on the log. a cat ate the fish. the car is red.\n" * 50
BASE = "/v1/lm"  # the routes of the lm task, which serves completions and sessions
LM = ["data.codec.type=word", "model.embed_size=8", "model.encoder.hidden_size=16", "model.encoder.num_layers=1",
      "train.steps=5", "train.eval_every=5", "train.warmup_steps=0", "train.progress=false",
      "data.batch_size=4", "data.bptt=8", "data.keyboard_words=0"]
HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A word language model trained for five steps: a run directory the server loads in a blink."""
    root = tmp_path_factory.mktemp("bench_serve")
    (root / "corpus.txt").write_text(TEXT, encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    runner.train("lm", apply_overrides(runner.make_config("lm"), LM), out=root / "words", data=str(root / "corpus.txt"))
    torch.set_num_threads(threads)
    return root / "words"


@pytest.fixture(scope="module")
def port(tiny_run, tmp_path_factory):
    """The port of a real server (uvicorn in a child process) of the tiny run, micro-batching on."""
    with serve.served(tiny_run, {"batched": 64}, logs=tmp_path_factory.mktemp("logs")) as ports:
        yield ports["batched"]


def level(port: int, clients, *, seconds: float = 5.0, requests: int = 10**6) -> LevelStats:
    return asyncio.run(run_level(HOST, port, clients, seconds=seconds, requests=requests))


def bodies(texts) -> list[bytes]:
    return [json.dumps({"text": t, "k": 3}).encode() for t in texts]


def test_the_client_reads_answers_on_one_kept_alive_connection(port):
    async def talk():
        conn = await Connection.open(HOST, port)
        writer = conn.writer
        health = await conn.request(Request("GET", "/healthz"))
        answers = [await conn.request(Request.post("/v1/lm/complete", {"text": t, "k": 2})) for t in ("the c", "a ")]
        missing = await conn.request(Request("GET", "/no/such/page"))
        same = conn.writer is writer and not conn.closed
        await conn.close()
        return health, answers, missing, same

    health, answers, missing, same = asyncio.run(talk())
    assert health.status == 200 and health.json() == {"status": "ok", "models": 1}
    for answer in answers:
        assert answer.status == 200
        suggestions = answer.json()["suggestions"]
        assert 1 <= len(suggestions) <= 2 and all(0 <= s["probability"] <= 1 for s in suggestions)
    assert answers[0].json()["suggestions"][0]["word"].startswith("c")  # the partly typed word is completed
    assert missing.status == 404 and "error" in missing.json()
    assert same  # every request went over the first connection


def test_a_level_stops_at_the_request_bound_and_checks_every_answer(port):
    stats = level(port, serve.make_clients("complete", 4, bodies(serve.prefixes(16)), BASE), requests=37)
    summary = stats.summary()
    assert summary["requests"] == 37 and len(stats.latencies) == 37 and summary["errors"] == 0
    assert 0 < summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert summary["throughput"] == pytest.approx(37 / stats.seconds, rel=0.01)


def test_a_level_stops_at_the_time_bound(port):
    stats = level(port, serve.make_clients("complete", 2, bodies(["the "]), BASE), seconds=0.4)
    assert 0 < stats.requests < 10**6 and stats.errors == 0
    assert 0.4 <= stats.seconds < 1.5  # the last requests in flight end soon after the deadline


def test_refused_requests_count_as_errors(port):
    broken = [b'{"text": "the", "k": ', json.dumps({"text": "the", "k": 0}).encode(), bodies(["the "])[0]]
    stats = level(port, [serve.CompleteClient(broken, start=0, step=1, base=BASE)], requests=9)
    assert stats.requests == 9 and stats.errors == 6 and len(stats.latencies) == 3
    assert "status 400" in stats.first_error and "/v1/lm/complete" in stats.first_error


def test_typing_sessions_keep_the_text_typed_with_backspaces(port, monkeypatch):
    monkeypatch.setattr(serve, "SESSION_CHARS", 30)  # several sessions per client
    clients = [serve.SessionClient(i, base=BASE, backspace=0.3) for i in range(3)]
    stats = level(port, clients, requests=150)
    assert stats.requests == 150 and stats.errors == 0, stats.first_error
    assert all(c.sid is not None and 0 < len(c.text) <= 31 for c in clients)


def test_a_session_out_of_step_is_an_error():
    client = serve.SessionClient(0, base=BASE)
    client.sid, client.text = "abc", "the c"
    body = json.dumps({"text": "the ca", "suggestions": []}).encode()
    with pytest.raises(ValueError, match="text is 'the ca', typed 'the c'"):
        client.check(Response(200, body))
    assert client.sid is None  # the next request opens a new session


def test_broken_connections_count_as_errors_and_are_reopened():
    """A stub server that answers one request well, then closes the connection halfway through the next."""

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")  # the requests' bodies are empty
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n{"suggestions":[]}')
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{")
        await writer.drain()
        writer.close()

    async def go():
        server = await asyncio.start_server(handle, HOST, 0)
        async with server:
            client = serve.CompleteClient([b""], start=0, step=1, base=BASE)
            return await run_level(HOST, server.sockets[0].getsockname()[1], [client], seconds=5, requests=6)

    stats = asyncio.run(go())
    assert stats.requests == 6 and stats.errors == 3 and len(stats.latencies) == 3
    assert "IncompleteReadError" in stats.first_error


def test_the_client_refuses_what_it_cannot_read():
    async def answer(raw: bytes):
        async def handle(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(raw)
            await writer.drain()

        server = await asyncio.start_server(handle, HOST, 0)
        async with server:
            conn = await Connection.open(HOST, server.sockets[0].getsockname()[1])
            try:
                return await conn.request(Request("GET", "/"))
            finally:
                await conn.close()

    with pytest.raises(ProtocolError, match="chunked"):
        asyncio.run(answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"))
    with pytest.raises(ProtocolError, match="not an HTTP status line"):
        asyncio.run(answer(b"SSH-2.0-OpenSSH\r\n\r\n"))


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7 and percentile([], 50) is None
    assert LevelStats(requests=3, seconds=1.0, errors=3).summary()["p99_ms"] is None  # JSON null, never NaN


def test_prefixes_are_seeded_and_often_end_inside_a_word():
    cut = serve.prefixes(200)
    assert cut == serve.prefixes(200) and cut != serve.prefixes(200, seed=1)
    assert all(any(s.startswith(p) for s in serve.SENTENCES) for p in cut)
    inside = sum(not p.endswith(" ") for p in cut)
    assert 100 < inside < 200


def test_bench_serve_end_to_end(tiny_run, tmp_path, capsys):
    out = tmp_path / "serve.json"
    assert main(["bench", "serve", "--quick", "--run", str(tiny_run), "--seconds", "0.4", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["benchmark"] == "serve" and data["machine"]["cores"] >= 1
    levels = [(r["mode"], r["server"], r["concurrency"]) for r in data["results"]]
    assert levels == [(m, s, n) for m in ("complete", "session") for n in (1, 8) for s in ("batched", "unbatched")]
    for r in data["results"]:
        assert r["errors"] == 0 and r["requests"] > 0 and r["throughput"] > 0, r
        assert r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
        if r["server"] == "batched":
            assert r["ratio"] == pytest.approx(r["throughput"] / r["baseline_throughput"], rel=0.01)
    assert "complete" in capsys.readouterr().out


def test_the_target_verdict_needs_throughput_latency_and_no_errors():
    def result(server, throughput, p99, errors=0):
        return {"mode": "complete", "server": server, "concurrency": 32, "throughput": throughput, "p99_ms": p99,
                "errors": errors}

    verdict = serve._compare([result("batched", 600.0, 40.0), result("unbatched", 200.0, 90.0)])[0]
    assert verdict["ratio"] == 3.0 and verdict["target"]["met"]
    assert not serve._compare([result("batched", 600.0, 60.0), result("unbatched", 200.0, 90.0)])[0]["target"]["met"]
    assert not serve._compare([result("batched", 600.0, 40.0), result("unbatched", 200, 90, 1)])[0]["target"]["met"]


def test_a_missing_run_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "serve"]) == 1
    assert capsys.readouterr().err == "rnnkit: error: runs/demo: no such run; run `rnnkit demo` first or pass --run\n"
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "run.json").write_text('{"task": "classify"}')
    assert main(["bench", "serve", "--run", "cls"]) == 1
    assert "'classify' run, whose task serves no completions and typing sessions" in capsys.readouterr().err


def test_a_server_that_cannot_start_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "run.json").write_text('{"task": "lm"}')  # but no checkpoint to load
    served = serve.served(tmp_path / "empty", {"batched": 64}, logs=tmp_path)
    with pytest.raises(serve.ServeBenchError, match="the server exited with status 1: ") as error, served:
        pass
    assert "\n" not in str(error.value)
