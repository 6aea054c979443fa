"""The task contract: every registered task keeps it, and a new task is its package plus one registry line.

``toy_parity`` below is a complete task package written to a temporary folder (config, preprocessor,
task, pipeline, CLI rendering and HTTP router): registered with one line, it trains, predicts and serves
through the unchanged CLI and server.
"""

import textwrap

import pytest
from fastapi.testclient import TestClient

from rnnkit import registry
from rnnkit.cli import main
from rnnkit.cli_use import task_options
from rnnkit.config import to_dict
from rnnkit.serve import Settings, create_app
from rnnkit.tasks.base import Pipeline, Task, resolve

REFS = ("cli", "router", "export", "quality")


@pytest.mark.parametrize("name", sorted(registry.TASKS))
def test_every_task_keeps_the_contract(name):
    task = registry.task(name)
    assert isinstance(task, Task) and task.name == name and task.description and task.default_data
    cfg = task.config_class()
    assert {"data", "model", "train"} <= set(to_dict(cfg))
    for which in REFS:
        part = task.part(which)
        if getattr(task, which) is None:
            assert part is None
            continue
        if which == "cli":  # predict's options and how its answers print, and/or generate's options
            predicts = callable(getattr(part, "render", None)) and isinstance(part.OPTIONS, list)
            assert predicts or isinstance(part.GENERATE_OPTIONS, list)
        elif which == "router":
            assert part.task == name and part.endpoints
        elif which == "quality":
            assert all(callable(getattr(part, f)) for f in ("samples", "results", "render", "missed"))
        else:
            assert callable(part)
    if task.panel is not None:
        assert (task.panel_dir() / "panel.html").is_file() and (task.panel_dir() / "panel.js").is_file()
        assert f'data-task="{name}"' in (task.panel_dir() / "panel.html").read_text()


def test_predict_flags_mean_one_thing_across_tasks():
    options = task_options()
    flags = [o.flag for o in options]
    assert len(flags) == len(set(flags))
    generate = [o.flag for o in task_options("GENERATE_OPTIONS")]
    assert "--unit" in generate and len(generate) == len(set(generate))
    k = next(o for o in options if o.flag == "--k")
    assert set(options[k]) >= {"lm", "classify"}


TOY = {
    "__init__.py": '''
        """Task ``toy_parity``: is the number of ones in a bit string even or odd?

        Preprocessor: ``{"classes": ["even", "odd"]}``."""
        from toy_parity.task import TASK
    ''',
    "config.py": '''
        from dataclasses import dataclass, field

        from rnnkit.models.classifier import ClassifierConfig
        from rnnkit.models.encoder import EncoderConfig
        from rnnkit.train.trainer import TrainConfig


        @dataclass
        class DataConfig:
            length: int = 6  # bits a string
            examples: int = 64  # strings a split


        @dataclass
        class ParityRun:
            data: DataConfig = field(default_factory=DataConfig)
            model: ClassifierConfig = field(default_factory=lambda: ClassifierConfig(
                input="features", embed_size=0, adversarial=0.0, word_dropout=0.0, dropout=0.0,
                encoder=EncoderConfig(hidden_size=8, num_layers=1)))
            train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=4, eval_every=2, progress=False))
    ''',
    "task.py": '''
        import torch

        from rnnkit.data.buckets import BucketedBatches
        from rnnkit.models.classifier import Classifier
        from rnnkit.tasks.base import Parts, Task
        from toy_parity.config import ParityRun


        class Classes:
            def __init__(self, classes):
                self.classes = list(classes)

            def to_dict(self):
                return {"classes": self.classes}


        def bits(text):
            return torch.tensor([[float(c)] for c in text.split()])


        class ParityTask(Task):
            name = "toy_parity"
            description = "parity of bit strings"
            default_data = "random bit strings"
            config_class = ParityRun
            pipeline = "toy_parity.pipeline:ParityPipeline"
            cli = "toy_parity.cli"
            router = "toy_parity.serve:router"

            def build(self, cfg, data, preprocessor=None):
                gen = torch.Generator().manual_seed(0)
                x = torch.randint(0, 2, (cfg.data.examples, cfg.data.length, 1), generator=gen).float()
                y = (x.sum((1, 2)) % 2).long().tolist()
                source = BucketedBatches(list(x), y, batch_size=16, shuffle=False, seed=0)
                prep = preprocessor or Classes(["even", "odd"])
                return Parts(self.build_model(cfg, prep), source, source, source, preprocessor=prep)

            def build_model(self, cfg, preprocessor):
                return Classifier(cfg.model, len(preprocessor.classes), input_size=1)

            def load_preprocessor(self, data):
                return Classes(data["classes"])


        TASK = ParityTask()
    ''',
    "pipeline.py": '''
        import torch

        from rnnkit.batch import Batch, pad
        from rnnkit.tasks.base import Pipeline
        from toy_parity.task import bits


        class ParityPipeline(Pipeline):
            task = "toy_parity"

            def predict(self, inputs):
                x, lengths = pad([bits(t) for t in inputs])
                batch = Batch(inputs=x, lengths=lengths)
                with torch.inference_mode():
                    logits, _ = self.model.classify(self.model.embed_inputs(batch), batch)
                return [self.preprocessor.classes[int(i)] for i in logits.argmax(-1)]
    ''',
    "cli.py": '''
        OPTIONS = []


        def render(pipeline, text, options):
            yield f"parity: {pipeline.predict([text])[0]}\\n"
    ''',
    "serve.py": '''
        from pydantic import BaseModel

        from rnnkit.serve.declare import Router, Strict

        router = Router("toy_parity")


        class In(Strict):
            text: str
            model: str | None = None


        class Out(BaseModel):
            parity: str


        @router.endpoint("predict", Request=In, Response=Out)
        async def predict(server, body):
            """The parity of a bit string."""
            served = server.model("toy_parity", body.model)
            return Out(parity=(await server.call(served.pipeline.predict, [body.text]))[0])
    ''',
}


@pytest.fixture
def toy(tmp_path, monkeypatch):
    package = tmp_path / "pkg" / "toy_parity"
    package.mkdir(parents=True)
    for name, text in TOY.items():
        (package / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    monkeypatch.setitem(registry.TASKS, "toy_parity", "toy_parity:TASK")  # the one registry line
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_new_task_is_its_package_and_one_registry_line(toy, capsys):
    assert main(["train", "toy_parity", "--out", "runs/p", "--train.steps", "4"]) == 0
    assert (toy / "runs/p/metrics.json").is_file()
    capsys.readouterr()
    assert main(["predict", "runs/p", "1 0 1 1"]) == 0
    assert capsys.readouterr().out.startswith("parity: ")
    assert main(["predict", "runs/p", "1 0", "--beam", "2"]) == 2  # another task's flag, refused
    assert "--beam does not apply" in capsys.readouterr().err
    assert main(["generate", "runs/p"]) == 2
    assert "does not generate" in capsys.readouterr().err
    app = create_app(["runs/p"], Settings(allowed_dirs=(toy,)))
    with TestClient(app) as client:
        answer = client.post("/v1/toy_parity/predict", json={"text": "1 1 0"})
        assert answer.status_code == 200 and answer.json()["parity"] in ("even", "odd")
        (model,) = client.get("/v1/models").json()["models"]
        assert model["task"] == "toy_parity" and model["endpoints"] == ["POST /v1/toy_parity/predict"]
        assert client.post("/v1/lm/complete", json={"text": "a"}).status_code == 404  # no lm model, no route


def test_pipelines_share_one_surface():
    for task in registry.tasks():
        if task.pipeline is not None:
            pipeline_class = resolve(task.pipeline)
            assert issubclass(pipeline_class, Pipeline) and pipeline_class.task == task.name
            assert pipeline_class.predict is not Pipeline.predict  # predict(inputs) on a batch of raw inputs
