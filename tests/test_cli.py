"""The command line: ``rnnkit bench layers`` writes the agreed report; errors are one line, never a traceback.

Correctness only: no test here looks at how fast anything ran.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rnnkit.bench import layers
from rnnkit.bench.common import median_seconds, write_report
from rnnkit.cli import main

RNNKIT = Path(sys.executable).with_name("rnnkit")  # the console script installed beside this Python


def check_layers_report(path: Path) -> None:
    report = json.loads(path.read_text())
    assert set(report) == {"benchmark", "machine", "results"}
    assert report["benchmark"] == "layers"
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["torch_threads"] >= 1 and machine["gemm_fp32_gflops"] > 0
    assert isinstance(machine["cpu"], str) and isinstance(machine["onednn"], bool)

    config = layers.QUICK
    expected = [
        (block, shape[0], contender.name)
        for block, shape in layers.blocks(config)
        for contender in layers.BLOCKS[block][1]
    ]
    results = report["results"]
    assert [(r["block"], r["T"], r["name"]) for r in results] == expected  # one result per configuration
    for r in results:
        for key in ("tokens_per_s", "baseline_tokens_per_s", "seconds_per_step", "gflops", "gemm_gflops", "ratio"):
            assert r[key] > 0, (r["name"], key)
        assert r["ratio"] == pytest.approx(r["tokens_per_s"] / r["baseline_tokens_per_s"])
        assert r["tokens_per_s"] == pytest.approx(r["B"] * r["T"] / r["seconds_per_step"])
        assert isinstance(r["kernel"], str) and r["kernel"]
        assert r["passed"] is None if r["target"] is None else r["passed"] == (r["ratio"] >= r["target"])
    kernels = {r["name"]: r["kernel"] for r in results}
    assert kernels["rnnkit LSTM fast path"].startswith("torch-fused")
    assert not kernels["rnnkit LSTM reference"].startswith("torch-fused")
    assert "layer norm" in kernels["rnnkit layer-norm LSTM"]


def test_bench_layers_quick_in_process(tmp_path, capsys):
    out = tmp_path / "layers.json"
    assert main(["bench", "layers", "--quick", "--json", str(out)]) == 0
    check_layers_report(out)
    printed = capsys.readouterr().out
    assert "rnnkit LSTM fast path" in printed and "GFLOP/s" in printed
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write leaves no temporary file behind


def test_bench_layers_quick_console_script(tmp_path):
    out = tmp_path / "layers.json"
    done = subprocess.run(
        [str(RNNKIT), "bench", "layers", "--quick", "--repeats", "2", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    check_layers_report(out)
    assert json.loads(out.read_text())["results"][0]["repeats"] == 2


def test_quick_options_override():
    args = {"quick": True, "repeats": 3, "shapes": [(5, 2, 3, 4)], "mingru_steps": None, "mingru_size": None}
    config = layers.config_from_args(argparse.Namespace(**args))
    assert config.repeats == 3 and config.shapes == ((5, 2, 3, 4),)
    assert config.mingru_steps == layers.QUICK.mingru_steps


def test_median_seconds_interleaves_and_rotates():
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    seconds = median_seconds(fns, repeats=3, warmup=1)
    assert set(seconds) == set("abc") and all(s >= 0 for s in seconds.values())
    assert calls == list("abc") + list("abc") + list("bca") + list("cab")  # warm-up, then rotated rounds


def test_write_report_is_atomic_and_checks_its_keys(tmp_path):
    path = write_report(tmp_path / "r.json", {"benchmark": "x", "machine": {}, "results": [{"a": 1}]})
    assert json.loads(path.read_text())["results"] == [{"a": 1}]
    with pytest.raises(ValueError, match="keys"):
        write_report(tmp_path / "s.json", {"benchmark": "x", "results": []})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "layers", "--quick", "--json", "{missing}/out.json"],  # directory does not exist
        ["bench", "layers", "--quick", "--json", "{tmp}"],  # a directory, not a file
        ["bench", "layers", "--repeats", "0"],
        ["bench", "layers", "--shapes", "1,2,3"],
        ["bench", "nosuch"],
        ["nosuch"],
        [],
    ],
)
def test_errors_are_one_line(argv, tmp_path, capsys):
    argv = [a.format(missing=tmp_path / "missing", tmp=tmp_path) for a in argv]
    assert main(argv) != 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert not (tmp_path / "missing").exists()


def test_bad_json_path_console_script(tmp_path):
    done = subprocess.run(
        [str(RNNKIT), "bench", "layers", "--quick", "--json", str(tmp_path / "missing" / "out.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_refuses_an_existing_run_directory(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    assert main(["demo", "--out", str(tmp_path / "taken")]) == 2
    assert "already exists" in capsys.readouterr().err
