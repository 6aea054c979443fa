"""The memory benchmark end to end on a tiny setting, and ``diagnose``."""

import argparse
import json

import torch

from rnnkit.bench import memory

PNG = b"\x89PNG\r\n\x1a\n"


def test_memory_benchmark_end_to_end(tmp_path):
    json_path, plot_path = tmp_path / "memory.json", tmp_path / "memory.png"
    threads = torch.get_num_threads()
    data = memory.run_memory_benchmark(
        steps=4,
        lengths=(5, 8),
        cells=("rnn", "lstm"),
        hidden_size=8,
        batch_size=4,
        test_size=6,
        json_path=json_path,
        plot_path=plot_path,
        progress=False,
    )
    assert json.loads(json_path.read_text()) == data
    assert set(data) == {"benchmark", "machine", "results"} and data["benchmark"] == "memory"
    assert [(r["cell"], r["T"]) for r in data["results"]] == [("rnn", 5), ("rnn", 8), ("lstm", 5), ("lstm", 8)]
    for r in data["results"]:
        assert r["steps"] == 4 and r["test_sequences"] == 6
        assert r["solved"] == (r["test_mse"] < 0.01)
        assert r["recipe"]["lr"] == memory.RECIPES[r["cell"]].lr and r["recipe"]["clip_norm"] == 1.0
        assert len(r["grad_norm_init"]) == r["T"] and r["curve"][-1][0] == 4
        assert r["kernel"].startswith("torch-fused")  # what training ran, not the diagnostics' step loop
    assert plot_path.read_bytes().startswith(PNG)
    assert memory.render(data)
    assert data["machine"]["torch_threads"] == 1 and torch.get_num_threads() == threads  # restored


def test_command_line_config():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    memory.add_arguments(parser)
    config = memory.config_from_args(parser.parse_args(["--long", "--cells", "gru", "irnn"]))
    assert config.lengths == (25, 50, 100, 200, 400) and config.cells == ("gru", "irnn")
    quick = memory.config_from_args(parser.parse_args(["--quick", "--steps", "3"]))
    assert quick.steps == 3 and memory.total_samples(quick) == 4


def test_diagnose_writes_png_and_json(tmp_path):
    report = memory.diagnose("gru", "copy", 5, tmp_path / "out", hidden_size=8)
    assert (tmp_path / "out" / "gradient_flow.png").read_bytes().startswith(PNG)
    saved = json.loads((tmp_path / "out" / "gradient_flow.json").read_text())
    assert saved == report and saved["steps"] == 25 and saved["setting"]["task"] == "copy"
    assert saved["layers"][0]["status"] in {"vanishing", "stable", "exploding"}
