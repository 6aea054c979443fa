"""Checkpoints: exact round trips, resuming bit for bit, every refusal, and saves killed at any moment."""

import contextlib
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit import checkpoint as ck
from rnnkit.checkpoint import (
    CheckpointError,
    load,
    pack,
    pack_optimizer,
    rng_state,
    save,
    set_rng_state,
    unpack,
    unpack_optimizer,
)
from rnnkit.rundir import RunDir

META = {"task": "lm", "config": {"model": {"cell": "lstm", "hidden_size": 8}}, "step": 7, "metrics": {"loss": 1.5}}


def save_version(path, n, *, size=(64, 64)):
    """A checkpoint whose every tensor and JSON counter holds ``n``: any mix of two saves would show."""
    value = torch.full(size, float(n))
    return save(path, model_state={f"w{i}": value.clone() for i in range(4)}, meta={**META, "step": n},
                trainer_tensors={"m": value.clone()}, trainer={"step": n})


def assert_consistent(ckpt):
    n = ckpt.meta["step"]
    assert ckpt.trainer == {"step": n}
    assert sorted(ckpt.model) == ["w0", "w1", "w2", "w3"] and list(ckpt.trainer_tensors) == ["m"]
    for t in [*ckpt.model.values(), *ckpt.trainer_tensors.values()]:
        assert torch.all(t == n)
    return n


# ------------------------------------------------------------------------------------------ round trips


def test_round_trip_gives_identical_tensors_and_meta(tmp_path):
    weight = torch.randn(5, 3)
    model = {
        "w": weight, "tied": weight,  # shared storage, refused by safetensors unless cloned
        "t": torch.randn(3, 4).t(),  # non-contiguous
        "half": torch.randn(2, 2).to(torch.bfloat16), "i": torch.arange(6), "b": torch.tensor([True, False]),
        "scalar": torch.tensor(3.5, dtype=torch.float64), "empty": torch.zeros(0, 4),
        "grad": torch.randn(2, requires_grad=True),
    }
    trainer_tensors = {"carry.0": torch.randn(2, 8)}
    trainer = {"epoch": 3, "nested": {"a": [1, 2, None]}}
    assert save(tmp_path / "c", model_state=model, meta=META, trainer_tensors=trainer_tensors,
                trainer=trainer) == tmp_path / "c"
    ckpt = load(tmp_path / "c")
    assert sorted(ckpt.model) == sorted(model)
    for name, tensor in model.items():
        assert ckpt.model[name].dtype == tensor.dtype and torch.equal(ckpt.model[name], tensor.detach())
    assert torch.equal(ckpt.trainer_tensors["carry.0"], trainer_tensors["carry.0"]) and ckpt.trainer == trainer
    assert {k: ckpt.meta[k] for k in META} == META
    assert ckpt.meta["format"] == "rnnkit-checkpoint" and ckpt.meta["format_version"] == 2
    assert ckpt.meta["signature"].startswith("sha256:") and ckpt.meta["preprocessor"] is None
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "meta.json", "model.safetensors", "trainer.json", "trainer.safetensors"]
    only_model = load(tmp_path / "c", with_trainer=False)
    assert only_model.trainer == {} and only_model.trainer_tensors == {}


def test_model_only_checkpoint_and_resaving_a_loaded_meta(tmp_path):
    save(tmp_path / "a", model_state={"w": torch.ones(2)}, meta=META)
    first = load(tmp_path / "a")
    assert not (tmp_path / "a" / "trainer.json").exists() and first.trainer == {}
    save(tmp_path / "b", model_state=first.model, meta=first.meta)  # header keys are replaced, not refused
    assert {k: load(tmp_path / "b").meta[k] for k in META} == META


def test_lstm_and_adam_resume_bit_identically(tmp_path):
    x, y = torch.randn(4, 6, 3, generator=torch.Generator().manual_seed(0)), torch.randn(4, 6, 5)

    def fresh():
        torch.manual_seed(1)
        model = nn.LSTM(3, 5, num_layers=2, batch_first=True)
        return model, torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            ((model(x)[0] - y) ** 2).mean().backward()
            opt.step()

    model, opt = fresh()
    train(model, opt, 3)
    tensors, data = pack_optimizer(opt.state_dict())
    save(tmp_path / "c", model_state=model.state_dict(), meta=META, trainer_tensors=tensors,
         trainer={"optimizer": data})
    train(model, opt, 4)  # never saved

    ckpt = load(tmp_path / "c")
    resumed, resumed_opt = fresh()
    resumed.load_state_dict(ckpt.model)
    resumed_opt.load_state_dict(unpack_optimizer(ckpt.trainer_tensors, ckpt.trainer["optimizer"]))
    train(resumed, resumed_opt, 4)
    for a, b in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_pack_rebuilds_nested_structures_exactly():
    h, c = torch.randn(2, 3), torch.randn(2, 3)
    obj = {"carry": ((h, c), (h.clone(), None)), "ids": {0: "a", 1: [1.5, True]}, "__tuple__": "odd key"}
    tensors, data = pack(obj, prefix="s")
    data = json.loads(json.dumps(data))  # through JSON, as in trainer.json
    out = unpack(tensors, data)
    assert isinstance(out["carry"], tuple) and isinstance(out["carry"][0], tuple)
    assert out["carry"][0][0] is h and out["carry"][1][1] is None
    assert out["ids"] == {0: "a", 1: [1.5, True]} and out["__tuple__"] == "odd key"
    with pytest.raises(TypeError):
        pack({"x": object()}, prefix="s")


def test_rng_round_trip_through_a_checkpoint(tmp_path):
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    tensors, data = rng_state()
    save(tmp_path / "c", model_state={}, meta=META, trainer_tensors=tensors, trainer={"rng": data})

    def draw():
        return torch.rand(5), torch.randn(3), random.random(), random.gauss(0, 1), np.random.rand(4), np.random.randn()

    first = draw()
    ckpt = load(tmp_path / "c")
    set_rng_state(ckpt.trainer_tensors, ckpt.trainer["rng"])
    second = draw()
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert first[2:4] == second[2:4]
    assert np.array_equal(first[4], second[4]) and first[5] == second[5]


# ------------------------------------------------------------------------------------------ refusals


def rewrite_meta(path, **changes):
    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**meta, **changes}))


def truncate_model(path):
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])


def alter_model(path):
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (path / "model.safetensors").write_bytes(bytes(data))


def resign(path):
    meta = json.loads((path / "meta.json").read_text())
    meta["signature"] = ck._signature((path / "model.safetensors").read_bytes(), meta)
    (path / "meta.json").write_text(json.dumps(meta))


def garbage_model(path):
    (path / "model.safetensors").write_bytes(b"x" * 64)
    resign(path)  # a valid signature over bytes that are not safetensors


def torch_pickle(path):
    torch.save({"w": torch.ones(3)}, path / "model.safetensors")
    resign(path)  # even with a valid signature it must not be unpickled


def alter_trainer(path):
    (path / "trainer.json").write_text('{"epoch": 99}')


CORRUPTIONS = {
    "missing path": (shutil.rmtree, "no such checkpoint"),
    "no meta.json": (lambda p: (p / "meta.json").unlink(), "not an rnnkit checkpoint"),
    "invalid JSON": (lambda p: (p / "meta.json").write_text("{not json"), "not valid JSON"),
    "foreign format": (lambda p: rewrite_meta(p, format="other-tool"), "not an rnnkit checkpoint"),
    "newer version": (lambda p: rewrite_meta(p, format_version=99), "newer"),
    "edited meta": (lambda p: rewrite_meta(p, step=8), "signature mismatch"),
    "truncated model": (truncate_model, "signature mismatch"),
    "altered model": (alter_model, "signature mismatch"),
    "re-signed garbage": (garbage_model, "not a valid safetensors"),
    "torch.save pickle": (torch_pickle, "pickle"),
    "altered trainer file": (alter_trainer, "trainer.json does not match"),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_refusals_are_one_line_errors_naming_the_path(tmp_path, name):
    corrupt, problem = CORRUPTIONS[name]
    path = save_version(tmp_path / "ckpt", 1)
    corrupt(path)
    with pytest.raises(CheckpointError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and problem in message, message


def test_a_malicious_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = save_version(tmp_path / "ckpt", 1)
    for protocol in (2, 4, 5):
        (path / "model.safetensors").write_bytes(pickle.dumps(Evil(), protocol=protocol))
        resign(path)
        with pytest.raises(CheckpointError, match="pickle"):
            load(path)
    assert not marker.exists()


def test_save_refuses_bad_input_and_foreign_directories(tmp_path):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"meow")
    for kwargs in (
        {"path": foreign, "model_state": {}, "meta": META},
        {"path": tmp_path / "c", "model_state": {}, "meta": {"config": {}}},  # no task
        {"path": tmp_path / "c", "model_state": {}, "meta": {**META, "codec": object()}},
        {"path": tmp_path / "c", "model_state": {"w": [1.0]}, "meta": META},
    ):
        with pytest.raises(CheckpointError) as info:
            save(**kwargs)
        assert "\n" not in str(info.value) and str(kwargs["path"]) in str(info.value)
    assert (foreign / "cat.jpg").read_bytes() == b"meow" and not (tmp_path / "c").exists()


# ------------------------------------------------------------------------------- interrupted saves


class Killed(Exception):
    pass


def crash_at_rename(monkeypatch, stop_at, fn, *args):
    """Run ``fn`` as if the process died just before its rename number ``stop_at`` (counting from 0)."""
    real_rename, calls = os.rename, []

    def rename(src, dst):
        if len(calls) == stop_at:
            raise Killed
        calls.append(dst)
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    try:
        fn(*args)
    except Killed:
        pass
    finally:
        monkeypatch.setattr(os, "rename", real_rename)


@pytest.mark.parametrize("start", ["clean", "between renames", "stale aside copy"])
@pytest.mark.parametrize("stop_at", range(4))
def test_a_crash_at_any_rename_leaves_a_complete_checkpoint(tmp_path, monkeypatch, start, stop_at):
    """Deterministic: a save stopped before each of its renames, from each state an earlier crash leaves."""
    path = save_version(tmp_path / "ckpt", 0)
    if start != "clean":  # killed between the swap's two renames, or before removing the aside copy
        crash_at_rename(monkeypatch, 1 if start == "between renames" else 2, save_version, path, 1)
    before = assert_consistent(load(path))
    assert before == (1 if start == "stale aside copy" else 0) and ck.exists(path)
    crash_at_rename(monkeypatch, stop_at, save_version, path, 2)
    assert assert_consistent(load(path)) in (before, 2)
    save_version(path, 3)  # a clean save removes every leftover
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"] and assert_consistent(load(path)) == 3


def test_leftover_temporary_directories_are_never_loaded(tmp_path):
    path = save_version(tmp_path / "ckpt", 1)
    os.rename(path, tmp_path / ".ckpt.tmp-0123456789ab")  # complete, but only a temporary
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load(path)
    assert not ck.exists(path)


WRITER = r"""
import os, sys
import torch
from rnnkit.checkpoint import save

def write_forever(path, counter):
    while True:
        counter += 1
        value = torch.full((512, 512), float(counter))  # 1 MB per tensor, 5 MB per checkpoint
        save(path, model_state={f"w{i}": value.clone() for i in range(4)},
             meta={"task": "lm", "config": {"model": {"cell": "lstm", "hidden_size": 8}}, "step": counter},
             trainer_tensors={"m": value.clone()}, trainer={"step": counter})
        print("saved", flush=True)

# Import torch once, then fork one writer per round for the test to SIGKILL (a fresh interpreter per
# round would spend seconds importing torch each time). One timed save before forking does the lazy
# imports of saving here, once; its tensors are tiny, so no thread pool starts before the fork.
value = torch.zeros(2)
save(sys.argv[1] + ".warm", model_state={"w": value}, meta={"task": "lm", "config": {}, "step": 0},
     trainer_tensors={"m": value}, trainer={"step": 0})
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        try:
            write_forever(sys.argv[1], int(line))
        finally:
            os._exit(1)
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("dead", flush=True)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_sigkill_during_repeated_saves_leaves_one_complete_version(tmp_path):
    path = save_version(tmp_path / "ckpt", 0, size=(512, 512))
    rng, seen, progressed, pid = random.Random(0), 0, 0, None
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(8):
            writer.stdin.write(f"{seen}\n")
            writer.stdin.flush()
            pid = int(writer.stdout.readline())
            forked = time.perf_counter()
            assert writer.stdout.readline().strip() == "saved"
            save_time = time.perf_counter() - forked  # this child's own pace, however busy the machine
            time.sleep(rng.uniform(0.0, 3 * save_time))  # the kill lands anywhere in the next saves
            os.kill(pid, signal.SIGKILL)
            while (line := writer.stdout.readline().strip()) == "saved":
                pass
            assert line == "dead"
            step = assert_consistent(load(path))
            assert step >= seen  # never older than what an earlier load returned
            progressed += step > seen
            seen = step
    finally:  # on a failure, leave no writer behind
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        writer.kill()
        writer.wait()
    assert progressed >= 2, "the writer hardly ever finished a save; the kills tested little"


# ----------------------------------------------------------------------------------- run directories


CONFIG = {"model": {"cell": "lstm", "hidden_size": 8}, "train": {"lr": 0.01, "betas": (0.9, 0.99)}}


def one_line_error(path, **kwargs):
    with pytest.raises(CheckpointError) as info:
        RunDir(path, **kwargs)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    return str(info.value)


def test_run_dir_fresh_resume_and_overwrite(tmp_path):
    run = RunDir(tmp_path / "runs" / "a", task="lm", config=CONFIG)
    assert not run.resumed and json.loads((run.path / "run.json").read_text())["config"]["model"]["cell"] == "lstm"
    assert run.last == run.path / "last" and run.best == run.path / "best"
    run.log({"step": 1, "loss": 2.5})
    run.log({"step": 2, "loss": 2.0})
    save_version(run.last, 2)

    assert "--resume" in one_line_error(run.path, task="lm", config=CONFIG)
    again = RunDir(run.path, task="lm", config=json.loads(json.dumps(CONFIG)), resume=True)  # tuples == lists
    assert again.resumed and [r["step"] for r in again.read_metrics()] == [1, 2]
    assert assert_consistent(load(again.last)) == 2

    changed = {**CONFIG, "model": {"cell": "gru", "hidden_size": 8}}
    message = one_line_error(run.path, task="lm", config=changed, resume=True)
    assert "config.model.cell" in message and "different run" in message
    assert "task" in one_line_error(run.path, task="classify", config=CONFIG, resume=True)

    fresh = RunDir(run.path, task="lm", config=changed, overwrite=True)
    assert not fresh.resumed and sorted(p.name for p in fresh.path.iterdir()) == ["run.json"]
    assert fresh.read_metrics() == [] and [p.name for p in (tmp_path / "runs").iterdir()] == ["a"]
    with pytest.raises(ValueError):
        RunDir(run.path, task="lm", config=CONFIG, resume=True, overwrite=True)


def test_run_dir_empty_foreign_and_torn_metrics(tmp_path):
    (tmp_path / "empty").mkdir()
    assert not RunDir(tmp_path / "empty", task="lm", config=CONFIG).resumed  # an empty directory is fresh
    assert not RunDir(tmp_path / "new", task="lm", config=CONFIG, resume=True).resumed  # nothing to resume yet

    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("keep me")
    for flags in ({}, {"resume": True}, {"overwrite": True}):
        assert "not an rnnkit run directory" in one_line_error(foreign, task="lm", config=CONFIG, **flags)
    assert (foreign / "todo.txt").read_text() == "keep me"

    run = RunDir(tmp_path / "empty", task="lm", config=CONFIG, resume=True)
    run.log({"step": 1})
    with open(run.metrics_path, "a") as f:
        f.write('{"step": 2, "lo')  # a kill in the middle of a write
    assert run.read_metrics() == [{"step": 1}]


def test_a_version_1_checkpoint_is_upgraded_on_load(tmp_path):
    """Version 1 called the preprocessor ``codec``; loading renames it, in one place (``_UPGRADES``)."""
    path = save(tmp_path / "old", model_state={"w": torch.ones(2)}, meta={**META, "preprocessor": {"type": "char"}})
    meta = json.loads((path / "meta.json").read_text())
    meta["format_version"], meta["codec"] = 1, meta.pop("preprocessor")
    (path / "meta.json").write_text(json.dumps(meta))
    resign(path)
    loaded = load(path)
    assert loaded.meta["format_version"] == 2 and "codec" not in loaded.meta
    assert loaded.run.preprocessor == {"type": "char"} and loaded.run.task == "lm" and loaded.run.step == 7
