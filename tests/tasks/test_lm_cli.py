"""``rnnkit train lm``, ``eval``, ``predict`` and ``generate`` end to end on a small text, and the one-line
errors for bad input."""

import pytest

from rnnkit.cli import main

TEXT = "".join(f"the cat sat on the mat. the dog sat on the log. line {i}\n" for i in range(120))
TINY = ["--model.encoder.hidden_size=32", "--model.encoder.num_layers=1", "--model.embed_size=16",
        "--data.batch_size=4", "--data.bptt=16", "--train.steps=40", "--train.eval_every=20",
        "--train.warmup_steps=5", "--train.progress=false"]


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    data = root / "corpus.txt"
    data.write_text(TEXT, encoding="utf-8")
    out = root / "run"
    assert main(["train", "lm", "--data", str(data), "--out", str(out), "--data.codec.type=word", *TINY]) == 0
    return out, data


def test_train_reports_the_model_beside_kneser_ney(word_run, capsys):
    out, data = word_run
    assert (out / "best" / "meta.json").exists() and (out / "loss.png").exists()
    assert main(["eval", str(out), "--data", str(data)]) == 0
    shown = capsys.readouterr().out
    for name in ("Kneser-Ney 3-gram", "perplexity", "top3", "bits_per_char"):
        assert name in shown


def test_predict_lists_words_with_probabilities(word_run, capsys):
    out, _ = word_run
    assert main(["predict", str(out), "the cat sat on the ", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    probs = [float(line.split()[0]) for line in lines]
    assert probs == sorted(probs, reverse=True) and all(0 < p <= 1 for p in probs)
    assert main(["predict", str(out), "the cat sat on the m"]) == 0  # a partly typed word completes
    words = [line.split()[1] for line in capsys.readouterr().out.strip().splitlines()]
    assert words == ["mat"]


def test_generate_is_repeatable_with_a_seed(word_run, capsys, tmp_path):
    out, _ = word_run
    assert main(["generate", str(out), "--prime", "the cat", "--length", "12", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert main(["generate", str(out), "--prime", "the cat", "--length", "12", "--seed", "3",
                 "--out", str(tmp_path / "g.txt")]) == 0
    assert capsys.readouterr().out == first and first.startswith("the cat")
    assert (tmp_path / "g.txt").read_text().strip() == first.strip()


def _fails(argv, capsys, *fragments):
    status = main(argv)
    err = capsys.readouterr().err.strip()
    assert status != 0 and "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_bad_training_data_gives_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    _fails(["train", "lm", "--data", str(empty), "--out", str(tmp_path / "r1")], capsys, "empty")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 40)
    _fails(["train", "lm", "--data", str(binary), "--out", str(tmp_path / "r2")], capsys, "blob.bin", "binary")
    broken = tmp_path / "broken.txt"
    broken.write_bytes(b"good text\n" * 10 + b"\xff\xfe bad" + b"more\n" * 10)
    _fails(["train", "lm", "--data", str(broken), "--out", str(tmp_path / "r3")], capsys, "broken.txt", "byte 100")
    _fails(["train", "lm", "--data", str(tmp_path / "nope.txt")], capsys, "nope.txt")


def test_a_huge_vocabulary_is_refused(tmp_path, capsys):
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    _fails(["train", "lm", "--data", str(data), "--out", str(tmp_path / "r"), "--data.codec.type=word",
            "--data.codec.max_vocab=2000000"], capsys, "max_vocab")


def test_unknown_characters_in_a_prime(tmp_path, capsys):
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "chars"
    assert main(["train", "lm", "--data", str(data), "--out", str(out), *TINY[:-3], "--train.steps=2",
                 "--train.eval_every=2", "--train.progress=false"]) == 0
    _fails(["generate", str(out), "--prime", "the ©at"], capsys, "©")
    _fails(["predict", str(out), "the mé"], capsys, "é")
    _fails(["predict", str(tmp_path / "missing-run"), "x"], capsys, "missing-run")


def test_the_embedding_width_follows_the_codec_and_survives_a_reload(tmp_path):
    from rnnkit.config import from_dict, to_dict
    from rnnkit.data.text import CodecConfig, build_codec
    from rnnkit.tasks.lm import TASK as LM
    from rnnkit.tasks.lm import LMRun, embed_size

    cfg = LMRun()
    cfg.model.encoder.hidden_size = 96
    assert embed_size(cfg) == 64  # characters: a narrow table
    cfg.model.encoder.hidden_size = 32
    assert embed_size(cfg) == 32  # never wider than the hidden state
    words = LMRun()
    words.data.codec = CodecConfig(type="word")
    assert embed_size(words) == 512  # words: the hidden width
    words.model.embed_size = 100
    assert embed_size(words) == 100  # an explicit width wins

    cfg.model.encoder.hidden_size, cfg.model.encoder.num_layers = 96, 1
    codec = build_codec(cfg.data.codec, ["to be or not to be"])
    model = LM.build_model(cfg, codec)
    assert model.embed.weight.shape[1] == 64 and model.config.embed_size == 64
    again = LM.build_model(from_dict(LMRun, to_dict(cfg)), codec)  # as ``load`` rebuilds it
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_a_glob_and_a_folder_with_a_binary_file_train_through_the_cli(tmp_path, capsys, caplog):
    books = tmp_path / "books" / "part"
    books.mkdir(parents=True)
    for i in range(3):
        (books / f"b{i}.txt").write_text(TEXT, encoding="utf-8")
    (books / "cover").write_bytes(bytes(range(256)) * 8)  # binary, with no telling suffix
    small = [*TINY, "--train.steps=4", "--train.eval_every=4", "--data.keyboard_words=0"]
    assert main(["train", "lm", "--data", str(tmp_path / "books" / "**" / "*.txt"), "--out", str(tmp_path / "g"),
                 *small]) == 0
    assert main(["train", "lm", "--data", str(tmp_path / "books"), "--out", str(tmp_path / "f"), *small]) == 0
    assert "cover: looks like a binary file" in caplog.text and "skipped 1 of 4 files" in caplog.text


def test_bad_corpora_stop_with_one_line_and_write_nothing(tmp_path, capsys):
    (tmp_path / "tiny.txt").write_text("hello world\n", encoding="utf-8")
    (tmp_path / "small.txt").write_text(TEXT[:1500], encoding="utf-8")
    (tmp_path / "bins").mkdir()
    (tmp_path / "bins" / "a").write_bytes(b"\x00" * 100)
    cases = [(["--data", str(tmp_path / "tiny.txt")], "too few to split"),
             (["--data", str(tmp_path / "small.txt"), "--data.codec.type=word", "--data.batch_size=32"],
              "too few tokens for one batch"),
             (["--data", str(tmp_path / "small.txt"), "--data.codec.type=word", "--data.codec.max_vocab=0"],
              "max_vocab"),
             (["--data", str(tmp_path / "bins")], "none of its 1 file(s) is usable")]
    for k, (args, fragment) in enumerate(cases):
        out = tmp_path / f"run{k}"
        _fails(["train", "lm", *args, "--out", str(out), "--train.progress=false"], capsys, fragment)
        assert not out.exists()
