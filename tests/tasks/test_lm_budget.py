"""A word model sized to its time budget: the wide model when the small one would pass over the text too
often at the speed measured on this machine, the choice printed and saved with the run; never re-chosen
for a trained run."""

import torch

from rnnkit.tasks.lm import task as lm_task
from rnnkit.tasks.lm.config import wide_word_model, word_model_defaults
from rnnkit.tasks.run import load, make_config, train_run

TEXT = "".join(f"the cat sat on the mat. the dog sat on the log. line {i % 13}\n" for i in range(400))
WORD = ["data.codec.type=word", "data.keyboard_words=0", "data.mixture=false", "train.progress=false",
        "data.batch_size=4", "data.bptt=16"]


def corpus(tmp_path) -> str:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return str(path)


def test_the_budget_picks_the_model_from_the_measured_speed(tmp_path, monkeypatch):
    data = corpus(tmp_path)
    cfg = make_config("lm", overrides=[*WORD, "train.max_minutes=1"])
    assert cfg.model == word_model_defaults() and cfg.train.max_epochs == 40
    monkeypatch.setattr(lm_task, "training_speed", lambda model, train: 1e6)  # thousands of passes a minute
    fast = lm_task.TASK.build(cfg, data)
    assert fast.config.model == wide_word_model()
    assert any("the wide word model instead" in note for note in fast.notes)
    assert any(2048 in p.shape for p in fast.model.encoder.parameters())  # 4 gates x 512 units
    monkeypatch.setattr(lm_task, "training_speed", lambda model, train: 1.0)  # less than one pass
    assert lm_task.TASK.build(cfg, data).config.model == word_model_defaults()
    monkeypatch.setattr(lm_task, "training_speed", lambda model, train: 1e6)
    steps = make_config("lm", overrides=WORD)  # a budget of updates, not of time: no measurement, no change
    assert lm_task.TASK.build(steps, data).config.model == word_model_defaults()
    trained = lm_task.TASK.build(cfg, data, preprocessor=fast.preprocessor)  # a trained run's data
    assert trained.config.model == word_model_defaults()


def test_the_measurement_leaves_the_random_state_alone(tmp_path):
    data = corpus(tmp_path)
    cfg = make_config("lm", overrides=[*WORD, "train.max_minutes=1"])
    parts = lm_task.TASK.build(cfg, data)
    torch.manual_seed(0)
    lm_task.size_for_budget(lm_task.TASK, cfg, parts.preprocessor, parts.train, [])
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))
    speed = lm_task.training_speed(lm_task.TASK.build_model(cfg, parts.preprocessor), parts.train)
    assert 0 < speed < float("inf")


def test_the_run_is_saved_with_the_model_it_chose(tmp_path, monkeypatch):
    monkeypatch.setattr(lm_task, "training_speed", lambda model, train: 1e6)
    notes = []
    run = train_run("lm", make_config("lm", overrides=WORD), data=corpus(tmp_path), out=tmp_path / "run",
                    minutes=0.02, say=notes.append)
    assert run.config.model == wide_word_model() and run.config.train.max_minutes == 0.02
    loaded = load(tmp_path / "run")  # rebuilt from the saved config: the wide model's weights fit
    assert loaded.config.model == wide_word_model()
    assert any(2048 in p.shape for p in loaded.model.encoder.parameters())
    assert any("wide word model" in note for note in notes)
