"""``rnnkit train/eval/diagnose`` end to end, and their one-line refusals of bad input."""

import json
import subprocess
import sys

import pytest

from rnnkit.cli import main

TINY = ["--data.length=12", "--data.num_batches=3", "--data.batch_size=8", "--model.hidden_size=8",
        "--train.steps=6", "--train.eval_every=3", "--train.progress=false"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnkit.cli", *args], capture_output=True, text=True)


def test_train_eval_diagnose(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "adding", "--out", str(out), *TINY]) == 0
    assert {"last", "best", "metrics.jsonl", "loss.png", "run.json"} <= {p.name for p in out.iterdir()}
    printed = capsys.readouterr().out
    assert "input-blind baseline" in printed and "0.1667" in printed
    assert main(["eval", str(out)]) == 0
    assert "loss" in capsys.readouterr().out
    assert main(["diagnose", str(out)]) == 0
    report = json.loads((out / "gradient_flow.json").read_text())
    assert report["layers"][0]["grad_norm"] and (out / "gradient_flow.png").stat().st_size > 0
    assert main(["diagnose", "--cell", "gru", "--length", "20", "--out", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "gradient_flow.png").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "adding", "--model.cel=gru"], "unknown setting 'model.cel'"),
        (["train", "adding", "--model.hidden_size=big"], "'model.hidden_size' must be int"),
        (["train", "adding", "--train.lr=fast"], "'train.lr' must be float"),
        (["train", "adding", "--data", "{missing}"], "no such file or directory"),
        (["train", "adding", "--data", "{empty}"], "the file is empty"),
        (["train", "adding", "--config", "{missing}"], "config file not found"),
        (["train", "nosuchtask"], "invalid choice"),
        (["eval", "{tmp}"], "no such checkpoint"),
        (["train", "adding", "stray"], "unrecognized arguments"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(tmp_path, args, message):
    (tmp_path / "empty.txt").write_text("")
    paths = {"missing": str(tmp_path / "missing.txt"), "empty": str(tmp_path / "empty.txt"), "tmp": str(tmp_path)}
    done = run_cli(*[a.format(**paths) for a in args], "--out", str(tmp_path / "r")) if args[0] == "train" \
        else run_cli(*[a.format(**paths) for a in args])
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr


def test_a_run_directory_holding_another_run_is_refused_and_kept(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "adding", "--out", str(out), *TINY]) == 0
    before = (out / "metrics.jsonl").read_text()
    done = run_cli("train", "adding", "--out", str(out), *TINY, "--model.cell=gru")
    assert done.returncode == 1 and "holds a different run" in done.stderr and "--overwrite" in done.stderr
    done = run_cli("train", "adding", "--out", str(out), *TINY)
    assert done.returncode == 1 and "already holds this run" in done.stderr
    assert (out / "metrics.jsonl").read_text() == before, "nothing already saved may change"
    assert main(["train", "adding", "--out", str(out), *TINY, "--model.cell=gru", "--overwrite"]) == 0
    assert json.loads((out / "run.json").read_text())["config"]["model"]["cell"] == "gru"


def test_tensorboard_without_the_package_is_a_clear_error(tmp_path):
    pytest.importorskip("rich")
    try:
        import tensorboard  # noqa: F401
        pytest.skip("tensorboard is installed here")
    except ImportError:
        pass
    done = run_cli("train", "adding", "--out", str(tmp_path / "r"), *TINY, "--train.tensorboard=true")
    assert done.returncode == 1 and "pip install tensorboard" in done.stderr
