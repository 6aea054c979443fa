from dataclasses import dataclass, field
from typing import Literal

import pytest

from rnnkit.config import ConfigError, apply_overrides, from_dict, load_toml, to_dict


@dataclass
class Model:
    cell: Literal["lstm", "gru"] = "lstm"
    hidden_size: int = 32
    dropout: float = 0.0


@dataclass
class Run:
    model: Model = field(default_factory=Model)
    lr: float = 1e-3
    clip_norm: float | None = 1.0
    tags: list[str] = field(default_factory=list)


def test_round_trip_through_dicts():
    cfg = Run(model=Model(cell="gru", hidden_size=8), lr=0.1, clip_norm=None, tags=["a"])
    assert from_dict(Run, to_dict(cfg)) == cfg


def test_overrides_parse_types_and_nested_keys():
    cfg = apply_overrides(Run(), ["model.cell=gru", "--model.hidden_size=64", "lr=3e-4", "clip_norm=none",
                                  "model.dropout=0"])
    assert cfg == Run(model=Model(cell="gru", hidden_size=64, dropout=0.0), lr=3e-4, clip_norm=None)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.cel=gru"], "unknown setting 'model.cel'"),
        (["lrr=1"], "unknown setting 'lrr'"),
        (["model.hidden_size=big"], "'model.hidden_size' must be int"),
        (["model.hidden_size=1.5"], "'model.hidden_size' must be int"),
        (["model.cell=rnn"], "'model.cell' must be one of"),
        (["lr"], "must look like key=value"),
    ],
)
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Run(), overrides)


def test_toml_files(tmp_path):
    good = tmp_path / "run.toml"
    good.write_text('lr = 0.01\n[model]\ncell = "gru"\n')
    assert load_toml(Run, good) == Run(model=Model(cell="gru"), lr=0.01)
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nhidden = 3\n")
    with pytest.raises(ConfigError, match=r"bad.toml: unknown setting 'model.hidden'"):
        load_toml(Run, bad)
    with pytest.raises(ConfigError, match="not valid TOML"):
        (tmp_path / "broken.toml").write_text("lr = = 1")
        load_toml(Run, tmp_path / "broken.toml")
    with pytest.raises(ConfigError, match="config file not found"):
        load_toml(Run, tmp_path / "missing.toml")


def test_bool_is_not_an_int():
    with pytest.raises(ConfigError):
        from_dict(Model, {"hidden_size": True})


def test_example_configs_load():
    from pathlib import Path

    from rnnkit.config import load_toml
    from rnnkit.tasks.lm import LMRun

    root = Path(__file__).resolve().parents[1] / "configs"
    words = load_toml(LMRun, root / "lm-words.toml")
    assert words.data.codec.type == "word" and words.model.tie_weights
    chars = load_toml(LMRun, root / "lm-char.toml")
    assert chars == LMRun()  # the file writes out the defaults

    from rnnkit.tasks.classify import ClassifyRun

    sentiment = load_toml(ClassifyRun, root / "classify-sentiment.toml")
    assert sentiment == ClassifyRun()  # the defaults, written out
