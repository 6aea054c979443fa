"""Micro-batching: prefixes read together in lockstep give what ``pipeline.complete`` gives one by one, for a
word and a character model, and concurrent HTTP requests really share batches."""

import asyncio
import threading

import pytest
from fastapi.testclient import TestClient

from rnnkit.serve.batching import MicroBatcher, TorchThread
from rnnkit.tasks.lm.batching import BatchCompleter

pytestmark = pytest.mark.usefixtures("one_thread")

PREFIXES = ["the ca", "the cat sat on the ", "", "a", "the dog sat on the l", "The Cat ", "fish. the c", "zzz q"]


def check_equal(batched, expected):
    assert [w for w, _ in batched] == [w for w, _ in expected]
    assert [p for _, p in batched] == pytest.approx([p for _, p in expected], rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("which", ["lm_pipeline", "char_pipeline"])
def test_lockstep_reading_equals_one_by_one(which, request):
    pipeline = request.getfixturevalue(which)
    prefixes = PREFIXES if which == "lm_pipeline" else [p for p in PREFIXES if "T" not in p and "z" not in p]
    requests = [(p, 1 + i % 4) for i, p in enumerate(prefixes)]
    batched = BatchCompleter(pipeline.predictor).complete(requests)
    for (prefix, k), answer in zip(requests, batched):
        check_equal(answer, pipeline.complete(prefix, k=k))


def test_a_prefix_the_codec_cannot_read_fails_alone(char_pipeline):
    answers = BatchCompleter(char_pipeline.predictor).complete([("the ©at", 3), ("the c", 3)])
    assert isinstance(answers[0], ValueError) and "©" in str(answers[0])
    check_equal(answers[1], char_pipeline.complete("the c", k=3))


def test_concurrent_requests_share_batches(make_app, lm_pipeline, read):
    prefixes = [f"{p}{c}" for p in ("the ", "the cat sat on the ", "a cat ate the ") for c in ("", "c", "d", "m")]
    with TestClient(make_app(batch_wait_ms=100, max_batch=8)) as client:
        results: dict[str, list] = {}
        barrier = threading.Barrier(len(prefixes))

        def ask(prefix: str) -> None:
            barrier.wait()
            results[prefix] = client.post("/v1/lm/complete", json={"text": prefix, "k": 3}).json()["suggestions"]

        threads = [threading.Thread(target=ask, args=(p,)) for p in prefixes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for prefix in prefixes:
            check_equal([(s["word"], s["probability"]) for s in results[prefix]], lm_pipeline.complete(prefix, k=3))
        metrics = client.get("/metrics").text
    largest = read.metric(metrics, 'rnnkit_batch_size_max{model="words",work="complete:mixture"}')
    batches = read.metric(metrics, 'rnnkit_batch_size_count{model="words",work="complete:mixture"}')
    assert 1 < largest <= 8 and batches < len(prefixes)


def test_the_batcher_collects_caps_and_isolates_failures():
    sizes = []

    def process(items):
        return [ValueError(f"bad {x}") if x < 0 else 2 * x for x in items]

    async def main():
        batcher = MicroBatcher(process, thread=TorchThread(), wait_s=0.05, max_batch=3, on_batch=sizes.append)
        results = await asyncio.gather(*(batcher.submit(x) for x in (1, 2, -3, 4, 5)), return_exceptions=True)
        batcher.close()
        return results

    results = asyncio.run(main())
    assert results[:2] == [2, 4] and results[3:] == [8, 10]
    assert isinstance(results[2], ValueError) and str(results[2]) == "bad -3"
    assert sizes == [3, 2]
