"""One convention for every command: overrides in three forms, ``config``, ``--version``, ``-`` for standard
input, refused flags, ``metrics.json``, nothing overwritten without ``--overwrite``, benchmark exit status."""

import io
import json
import textwrap
import tomllib

import pytest

from rnnkit import bench
from rnnkit.cli import main

TEXT = "".join(f"the cat sat on the mat. the dog sat on the log. line {i}\n" for i in range(60))
TINY = ["--model.encoder.hidden_size=16", "--model.encoder.num_layers=1", "--model.embed_size=8",
        "--data.batch_size=4", "--data.bptt=8", "--train.steps=6", "--train.eval_every=3",
        "--train.warmup_steps=1", "--train.progress=false", "--data.keyboard_words=0", "--data.codec.type=word"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("conventions")
    (root / "corpus.txt").write_text(TEXT, encoding="utf-8")
    assert main(["train", "lm", "--data", str(root / "corpus.txt"), "--out", str(root / "run"), *TINY]) == 0
    return root / "run"


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("rnnkit 0.")


@pytest.mark.parametrize("form", [["--model.encoder.hidden_size=64"], ["--model.encoder.hidden_size", "64"],
                                  ["--set", "model.encoder.hidden_size=64"]])
def test_three_override_forms_mean_the_same(form, capsys):
    assert main(["config", "lm", *form]) == 0
    printed = capsys.readouterr().out
    cfg = tomllib.loads(printed)
    assert cfg["model"]["encoder"]["hidden_size"] == 64 and printed.startswith("# rnnkit train lm")


def test_config_prints_a_commented_file_that_train_reads(tmp_path, capsys):
    assert main(["config", "classify"]) == 0
    text = capsys.readouterr().out
    lines = [line for line in text.splitlines() if line and not line.startswith(("#", "["))]
    assert lines and all(text.splitlines()[text.splitlines().index(line) - 1].startswith("#") for line in lines)
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    assert main(["config", "classify", "--config", str(tmp_path / "c.toml")]) == 0
    assert capsys.readouterr().out == text


def test_bad_overrides_are_one_line(capsys):
    assert main(["config", "lm", "--model.encoder.hidden_size"]) == 2
    assert main(["config", "lm", "--model.no_such_key=3"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "needs a value" in err[0] and "no_such_key" in err[1]


def test_train_and_eval_write_metrics_json(run, capsys):
    first = json.loads((run / "metrics.json").read_text())
    assert first["task"] == "lm" and first["config_digest"].startswith("sha256:") and "loss" in first["metrics"]
    assert "loss" in first["baseline"] and first["baseline_name"].startswith("Kneser-Ney")
    assert main(["eval", str(run)]) == 0
    assert (run / "metrics-2.json").exists()  # the first is kept
    assert json.loads((run / "metrics.json").read_text()) == first
    assert main(["eval", str(run), "--overwrite"]) == 0 and not (run / "metrics-3.json").exists()


def test_predict_reads_standard_input_line_by_line(run, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("the cat\n\nthe dog sat\n"))
    assert main(["predict", str(run), "-", "-k", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("== ")] == ["== the cat", "== the dog sat"]
    assert len(out) > 2 and all(float(line.split()[0]) > 0 for line in out if not line.startswith("== "))
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["predict", str(run), "-"]) == 2
    assert "standard input held no input" in capsys.readouterr().err


@pytest.mark.parametrize("flag, message", [(["--explain"], "--explain does not apply"),
                                           (["--beam", "3"], "--beam does not apply"),
                                           (["--top-k", "3"], "-k/--k sets how many")])
def test_flags_of_other_tasks_are_refused(run, capsys, flag, message):
    assert main(["predict", str(run), "the cat", *flag]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_chat_needs_a_dialogue_model(run, capsys):
    assert main(["chat", str(run)]) == 1
    assert "chat needs a dialogue model" in capsys.readouterr().err


def test_generate_never_overwrites_without_being_asked(run, tmp_path, capsys):
    out = tmp_path / "g.txt"
    out.write_text("keep me")
    assert main(["generate", str(run), "--length", "3", "--out", str(out)]) == 2
    assert out.read_text() == "keep me" and "already exists" in capsys.readouterr().err
    assert main(["generate", str(run), "--length", "3", "--seed", "1", "--out", str(out), "--overwrite"]) == 0
    assert out.read_text() != "keep me"


@pytest.mark.parametrize("flag", [["--unit", "bars"], ["--audio", "wav"], ["--soundfont", "x.sf2"]])
def test_a_music_generate_flag_is_refused_for_a_language_model(run, capsys, flag):
    assert main(["generate", str(run), "--length", "3", *flag]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{flag[0]} does not apply" in err and len(err.splitlines()) == 1


def test_diagnose_never_overwrites_without_being_asked(run, tmp_path, capsys):
    assert main(["diagnose", str(run), "--out", str(tmp_path / "d")]) == 0
    before = (tmp_path / "d" / "gradient_flow.json").read_bytes()
    assert main(["diagnose", str(run), "--out", str(tmp_path / "d")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "d" / "gradient_flow.json").read_bytes() == before
    assert main(["diagnose", str(run), "--out", str(tmp_path / "d"), "--overwrite"]) == 0
    assert main(["diagnose", str(run), "--task", "copy"]) == 2  # --task goes with --cell


FAKE = '''
    def add_arguments(parser):
        parser.add_argument("--score", type=float, default=1.0)

    def config_from_args(args):
        return args.score

    def total_samples(config):
        return 1

    def run(config, *, on_sample=None):
        on_sample("done")
        return {"benchmark": "fake", "machine": {}, "results": [{"score": config}]}

    def render(report):
        return [f"score {report['results'][0]['score']}"]

    def missed(report):
        return [f"score {r['score']} under 0.5" for r in report["results"] if r["score"] < 0.5]
'''


def test_bench_exits_1_when_a_target_is_missed(tmp_path, monkeypatch, capsys):
    (tmp_path / "fake_bench.py").write_text(textwrap.dedent(FAKE), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(bench.BENCHMARKS, "fake", ("fake_bench", "a stand-in benchmark"))
    report = tmp_path / "r.json"
    assert main(["bench", "fake", "--score", "0.9"]) == 0
    assert main(["bench", "fake", "--score", "0.1", "--json", str(report)]) == 1
    assert "target missed: score 0.1 under 0.5" in capsys.readouterr().err
    assert json.loads(report.read_text())["results"] == [{"score": 0.1}]  # the report is still written
    assert main(["bench", "fake", "--score", "0.1", "--quick"]) == 0
    assert main(["bench", "fake", "--model.x=1"]) == 2  # only bench quality takes config overrides


def test_bench_quality_refuses_what_does_not_apply(tmp_path, capsys):
    assert main(["bench", "quality", "lm", "--data", "x.txt", "--no-pretrain"]) == 1
    assert "--no-pretrain applies to bench quality classify, not lm" in capsys.readouterr().err
    assert main(["bench", "quality", "seq2seq"]) == 1
    assert "needs --data" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert main(["bench", "quality", "lm", "--data", "x.txt", "--out", str(tmp_path / "taken")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["bench", "quality", "seq2seq", "--data", "d", "--src", "de"]) == 2  # --data.src=de, as in train
