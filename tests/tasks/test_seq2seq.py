"""Task ``seq2seq`` end to end on a small made-up translation (digits to number words): training learns it,
test BLEU and chrF come from sacrebleu, the attention map is written, the pipeline translates, streams and
chats, and bad input stops with one line."""

import random

import pytest
import sacrebleu

from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.data.chatterbot import default_dialogue
from rnnkit.pipeline import from_checkpoint
from rnnkit.tasks import run as runner
from rnnkit.tasks.seq2seq import Seq2SeqRun, load_splits
from rnnkit.train.translation import text_scores

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SMALL = [
    "model.embed_size=24",
    "model.encoder.hidden_size=24",
    "model.decoder.hidden_size=48",
    "model.dropout=0.0",
    "model.label_smoothing=0.0",
    "data.codec.type=word",
    "data.batch_size=32",
    "train.steps=300",
    "train.eval_every=100",
    "train.lr=0.01",
    "train.warmup_steps=0",
    "train.progress=false",
    "decode.test_beams=[1, 3]",
]


def number_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """"4 0 7" -> "four zero seven": a one-to-one translation with sentences of 1 to 5 tokens."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        digits = [rng.randrange(10) for _ in range(rng.randint(1, 5))]
        out.append((" ".join(map(str, digits)), " ".join(WORDS[d] for d in digits)))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("s2s")
    data = root / "pairs.tsv"
    data.write_text("".join(f"{s}\t{t}\tCC-BY attribution\n" for s, t in number_pairs(600)), encoding="utf-8")
    cfg = apply_overrides(Seq2SeqRun(), SMALL)
    result = runner.train("seq2seq", cfg, out=root / "run", data=str(data))
    return result, data


def test_training_learns_the_translation(trained):
    result, _ = trained
    assert result.test["bleu"] > 80 and result.test["bleu_beam3"] > 80
    assert result.test["chrf"] > 80 and result.test["accuracy"] > 0.9
    assert (result.run / "attention.png").stat().st_size > 1000


def test_pipeline_translates_streams_and_beams(trained):
    result, _ = trained
    pipeline = from_checkpoint(result.run)
    assert pipeline.task == "seq2seq" and pipeline.kind == "translate"
    assert pipeline.translate("3 1 4") == "three one four"
    assert pipeline.translate("3 1 4", beam=1) == "three one four"
    pieces = list(pipeline.translate_stream("2 7 1 8"))
    assert len(pieces) > 1 and "".join(pieces).strip() == pipeline.translate("2 7 1 8")
    assert pipeline.unknown("3 x 4") == ["x"]
    with pytest.raises(ValueError, match="non-empty"):
        pipeline.translate("  ")


def test_eval_and_predict_from_the_command_line(trained, capsys):
    result, data = trained
    assert main(["eval", str(result.run), "--data", str(data)]) == 0
    assert "bleu" in capsys.readouterr().out
    png = result.run / "chosen.png"
    assert main(["predict", str(result.run), "5", "9", "--beam", "2", "--attention", str(png)]) == 0
    assert capsys.readouterr().out.splitlines() == ["five nine", f"attention: {png}"]
    assert png.stat().st_size > 1000
    assert main(["predict", str(result.run), "5", "--attention", str(png)]) == 1  # never overwritten
    assert "already exists" in capsys.readouterr().err


def test_misaligned_files_stop_with_one_line(tmp_path, capsys):
    (tmp_path / "train.de").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "train.en").write_text("a\nb\n", encoding="utf-8")
    code = main(["train", "seq2seq", "--data", str(tmp_path), "--data.src=de", "--data.tgt=en",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err
    assert "train.de has 3 lines but" in err and "train.en has 2" in err


def test_over_long_sentences_are_cut_with_a_warning(tmp_path, caplog):
    data = tmp_path / "long.tsv"
    data.write_text("".join(f"{s}\t{t}\n" for s, t in number_pairs(60)) + "1 " * 30 + "\tone\n", encoding="utf-8")
    cfg = apply_overrides(Seq2SeqRun(), [*SMALL, "data.max_length=20", "train.steps=2", "decode.test_beams=[1]"])
    from rnnkit.tasks.seq2seq import TASK as SEQ2SEQ

    parts = SEQ2SEQ.build(cfg, str(data))
    assert max(max(len(s) for s in part.sequences) for part in (parts.train, parts.valid, parts.test)) <= 20
    assert "longer than data.max_length=20" in caplog.text and "long.tsv:61" in caplog.text


def test_text_scores_are_sacrebleus():
    hyps, refs = ["The cat sat on the mat.", "A dog runs"], ["The cat sat on the mat.", "a dog runs fast"]
    scores = text_scores(hyps, refs)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert scores["bleu_lc"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs], lowercase=True).score)
    assert scores["bleu_lc"] > scores["bleu"]
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert "tok:13a" in scores["signatures"]["bleu"] and "case:lc" in scores["signatures"]["bleu_lc"]


def test_default_is_a_packaged_dialogue_corpus():
    pairs = default_dialogue(context_turns=2)
    assert len(pairs) > 2000 and all(p.source and p.target for p in pairs)
    splits, kind = load_splits(Seq2SeqRun(), None)
    assert kind == "chat" and {"train", "val", "test"} <= set(splits)
    assert len(splits["train"]) > 10 * len(splits["test"]) > 0


def test_dialogue_data_makes_a_chat_model(tmp_path, capsys, monkeypatch):
    talk = tmp_path / "talk.txt"
    blocks = ["hello\nhi there\nhow are you\nfine thanks" for _ in range(30)]
    talk.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    cfg = apply_overrides(Seq2SeqRun(), [*SMALL, "train.steps=150", "data.context_turns=1", "decode.test_beams=[1]"])
    result = runner.train("seq2seq", cfg, out=tmp_path / "chat", data=str(talk))
    pipeline = from_checkpoint(result.run)
    assert pipeline.kind == "chat"
    assert pipeline.reply("how are you", ["hello", "hi there"]) == "fine thanks"
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("hello\nhow are you\n\n"))
    assert main(["chat", str(result.run), "--beam", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == ["bot: hi there", "bot: fine thanks"]
