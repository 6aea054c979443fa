"""``to_toml`` and ``field_help``: every task's run config prints as commented TOML that reads back equal."""

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field

import pytest

from rnnkit.config import apply_overrides, field_help, load_toml, to_toml
from rnnkit.tasks.classify.config import ClassifyRun
from rnnkit.tasks.lm.config import LMRun
from rnnkit.tasks.memory import AddingRun, CopyRun, DigitsRun
from rnnkit.tasks.seq2seq.config import Seq2SeqRun

RUNS = [LMRun, ClassifyRun, Seq2SeqRun, AddingRun, CopyRun, DigitsRun]
runs = pytest.mark.parametrize("run", RUNS, ids=lambda cls: cls.__name__)


def reached(cls: type) -> list[type]:
    """``cls`` and every dataclass its fields reach, each once."""
    found = [cls]
    for hint in typing.get_type_hints(cls).values():
        for option in (hint, *typing.get_args(hint)):
            if dataclasses.is_dataclass(option):
                found += [c for c in reached(option) if c not in found]
    return found


def leaves(cfg, path: str = "") -> list[tuple[str, object]]:
    """Dotted paths and values of the settings that are not tables, in TOML's order: a table's own
    settings, then its tables."""
    values = {f"{path}.{f.name}" if path else f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    own = [(where, v) for where, v in values.items() if not dataclasses.is_dataclass(v)]
    return own + [leaf for where, v in values.items() if dataclasses.is_dataclass(v) for leaf in leaves(v, where)]


@runs
def test_prints_toml_that_reads_back_equal(run, tmp_path):
    text = to_toml(run())
    tomllib.loads(text)
    path = tmp_path / "run.toml"
    path.write_text(text)
    assert load_toml(run, path) == run()


@runs
def test_every_key_and_table_has_a_comment_line_directly_above(run):
    lines = to_toml(run()).splitlines()
    table, seen = "", []
    for i, line in enumerate(lines):
        if not line or line.startswith("# ") and " = none  (" not in line:
            continue  # a blank or a description
        if line.startswith("["):
            table = line.strip("[]")
        else:
            key = re.match(r"(?:# )?([\w-]+) = ", line)
            assert key, f"line {i + 1} is neither a key, a table nor a comment: {line!r}"
            seen.append(f"{table}.{key[1]}" if table else key[1])
        above = lines[i - 1] if i else ""
        assert above.startswith("# ") and above[2:].strip(), f"no comment above line {i + 1}: {line!r}"
        assert " = none  (" not in above, f"line {i + 1} has only a commented key above it"
    assert seen == [path for path, _ in leaves(run())]  # every setting, once, in field order
    assert max(len(line) for line in lines if line.startswith("#")) <= 100


@runs
def test_field_help_describes_every_field_reached(run):
    missing = [f"{cls.__name__}.{name}" for cls in reached(run) for name, text in field_help(cls).items()
               if not text.strip()]
    assert missing == []
    for cls in reached(run):
        assert list(field_help(cls)) == [f.name for f in dataclasses.fields(cls)]


def test_tables_come_in_field_order_after_their_parent_settings():
    text = to_toml(LMRun())
    headers = re.findall(r"^\[(.+)\]$", text, flags=re.M)
    assert headers == ["data", "data.codec", "model", "model.encoder", "model.cache", "train"]
    data = text.split("[data]\n")[1].split("\n[data.codec]")[0]
    assert "bptt = 32" in data and "max_vocab" not in data


def test_an_override_shows_in_the_printed_config(tmp_path):
    cfg = apply_overrides(LMRun(), ["train.lr=0.01", "model.encoder.cell=gru", "data.codec.max_vocab=500",
                                    "train.max_minutes=5"])
    text = to_toml(cfg)
    data = tomllib.loads(text)
    assert data["train"]["lr"] == 0.01
    assert data["train"]["max_minutes"] == 5.0
    assert data["model"]["encoder"]["cell"] == "gru"
    assert data["data"]["codec"]["max_vocab"] == 500
    assert "\nmax_vocab = 500\n" in text and "# max_vocab = none" not in text
    (tmp_path / "run.toml").write_text(text)
    assert load_toml(LMRun, tmp_path / "run.toml") == cfg


def test_a_none_that_a_file_cannot_express_says_so():
    text = to_toml(apply_overrides(LMRun(), ["train.clip_norm=none"]))
    (line,) = [line for line in text.splitlines() if line.startswith("# clip_norm = none")]
    assert "1.0" in line and "train.clip_norm=none" in line
    assert "# clip_value = none  (unset; give a number to set it)" in text


@dataclass
class Inner:
    """The inner table. More about it."""

    size: int = 1  # how big


@dataclass
class Toy:
    """A toy config. ``from_doc`` is named here; ``other`` too.

    Nothing about the rest."""

    from_meta: int = field(default=1, metadata={"help": "from metadata"})  # not this
    # from the line above,
    # over two lines
    above: int = 2
    same_line: str = "x"  # from the same line
    from_doc: float = 0.5
    other: float | None = None
    tags: tuple[str, ...] = ('a "quoted" word', "back\\slash", "tab\there")
    inner: Inner = field(default_factory=Inner)


def test_field_help_looks_in_metadata_comments_docstring_then_the_nested_class():
    assert field_help(Toy) == {
        "from_meta": "from metadata",
        "above": "from the line above, over two lines",
        "same_line": "from the same line",
        "from_doc": "``from_doc`` is named here.",
        "other": "``other`` too.",
        "tags": "",
        "inner": "The inner table.",
    }
    field_help(Toy)["above"] = "changed"
    assert field_help(Toy)["above"] == "from the line above, over two lines"  # the cache is not exposed


def test_strings_tuples_and_none_round_trip(tmp_path):
    cfg = Toy(other=None, tags=("a\nb", "é", ""), inner=Inner(size=7))
    text = to_toml(cfg)
    assert "# other = none  (unset; give a number to set it)" in text
    assert "# The inner table.\n[inner]\nsize = 7" in text.replace("# how big\n", "")
    (tmp_path / "toy.toml").write_text(text)
    assert load_toml(Toy, tmp_path / "toy.toml") == cfg
    assert tomllib.loads(to_toml(Toy()))["tags"] == list(Toy().tags)
