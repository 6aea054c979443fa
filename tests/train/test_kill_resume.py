"""A training process killed with SIGKILL resumes to the losses of a run that was never interrupted."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnkit import checkpoint as ckpt

ARGS = ["--data.length=15", "--data.batch_size=16", "--data.num_batches=7", "--model.hidden_size=24",
        "--model.cell=gru", "--train.steps=60", "--train.eval_every=6", "--train.log_every=1",
        "--train.progress=false"]


def rnnkit(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnnkit.cli", *args]


def losses(run: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(rnnkit("train", "adding", "--out", str(whole), *ARGS), check=True, capture_output=True)

    proc = subprocess.Popen(rnnkit("train", "adding", "--out", str(killed), *ARGS),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # kill once a checkpoint is on disk and training has moved past it
    while time.monotonic() < deadline:
        if ckpt.exists(killed / "last") and len(losses(killed)) >= 15:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = ckpt.load(killed / "last").meta["step"]
    assert 0 < step < 60, "the kill must land mid-run"

    done = subprocess.run(rnnkit("train", "adding", "--out", str(killed), "--resume", *ARGS),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert losses(killed) == losses(whole)
