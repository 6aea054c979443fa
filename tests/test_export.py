"""ONNX export: onnxruntime gives PyTorch's outputs at batch sizes 1 and 3, a streaming loop over the
exported language-model step gives the model's own logits token after token, the padded classifier
equals the unpadded one, ``export.json`` describes the graph, and files are never overwritten silently."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from rnnkit import checkpoint as ckpt
from rnnkit import export, registry
from rnnkit import state as st
from rnnkit.autocomplete import Predictor
from rnnkit.batch import Batch
from rnnkit.config import apply_overrides, to_dict
from rnnkit.data.text import codec_from_dict
from rnnkit.export import ExportError, export_onnx
from rnnkit.pipeline import from_checkpoint
from rnnkit.tasks import run as runner
from rnnkit.tasks.classify import Encoding

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = "".join(f"the cat sat on the mat. the dog sat on the log. line {i}\n" for i in range(30))
PROMPT = "the dog sat on the mat. the cat sat on the log. line 7\n" * 2 + "the cat"
LM = {
    "lstm2": ["data.codec.type=char", "model.encoder.cell=lstm", "model.encoder.num_layers=2"],
    "gru": ["data.codec.type=word", "model.encoder.cell=gru", "model.encoder.num_layers=1"],
    "dropped": ["data.codec.type=char", "model.encoder.num_layers=1", "model.weight_drop=0.5",
                "model.tie_weights=true"],
}
REVIEWS = [(f"{w} the film was {'good' if i % 2 else 'bad'} really", "pos" if i % 2 else "neg")
           for i, w in enumerate(["a", "this", "that", "some", "the", "one"] * 5)]
ATOL = 1e-4


def make_run(out, task, overrides, data=None):
    """A run directory as training leaves it (``best/`` with the config, codec and weights), the weights
    as initialised: the export must hold for any weights, and no training keeps the test fast."""
    cfg = apply_overrides(runner.make_config(task), [*overrides, "train.progress=false"])
    torch.manual_seed(0)
    parts = registry.task(task).build(cfg, None if data is None else str(data))
    prep = parts.preprocessor.to_dict() if parts.preprocessor is not None else None
    meta = {"task": task, "config": to_dict(cfg), "preprocessor": prep}
    ckpt.save(out / "best", model_state=parts.model.state_dict(), meta=meta)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs: ``lstm2`` (char LSTM, 2 layers), ``gru`` (word GRU), ``dropped`` (weight drop, tied
    embedding) and ``classify`` (text, 2 bidirectional layers)."""
    root = tmp_path_factory.mktemp("export")
    (root / "corpus.txt").write_text(TEXT, encoding="utf-8")
    (root / "reviews.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in REVIEWS))
    small = ["model.embed_size=8", "model.encoder.hidden_size=12", "data.batch_size=2"]
    out = {name: make_run(root / name, "lm", [*LM[name], *small], root / "corpus.txt") for name in LM}
    out["classify"] = make_run(root / "classify", "classify", [*small, "model.encoder.num_layers=2"],
                               root / "reviews.tsv")
    return out


@pytest.fixture(scope="module")
def exported(runs):
    """Each run exported once into RUN/export: name -> (model.onnx, export.json contents, session)."""
    out = {}
    for name, run in runs.items():
        path = export_onnx(run)
        meta = json.loads((path.parent / "export.json").read_text(encoding="utf-8"))
        out[name] = path, meta, ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return out


def random_state(model, batch, gen):
    return st.map_state(lambda t: torch.randn(t.shape, generator=gen), model.init_state(batch))


@pytest.mark.parametrize("name", list(LM))
@pytest.mark.parametrize("batch", [1, 3])
@torch.no_grad()
def test_lm_step_matches_pytorch(runs, exported, name, batch):
    _, meta, session = exported[name]
    model = runner.load(runs[name]).model
    gen = torch.Generator().manual_seed(batch)
    token = torch.randint(0, model.vocab_size, (batch,), generator=gen)
    state = random_state(model, batch, gen)
    logits, new = model.step(token, state)
    feed = {"token": token.numpy(), **{s["input"]: t.numpy() for s, t in zip(meta["state"], st.tensors(state))}}
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
    np.testing.assert_allclose(got["logits"], logits.numpy(), atol=ATOL, rtol=0)
    for s, want in zip(meta["state"], st.tensors(new)):
        np.testing.assert_allclose(got[s["output"]], want.numpy(), atol=ATOL, rtol=0)
    assert got["logits"].shape == (batch, model.vocab_size)


def test_lm_state_names_follow_the_layers(exported):
    names = {name: [i.name for i in exported[name][2].get_inputs()] for name in LM}
    assert names == {"lstm2": ["token", "h0", "c0", "h1", "c1"], "gru": ["token", "h0"],
                     "dropped": ["token", "h0", "c0"]}
    outputs = [o.name for o in exported["lstm2"][2].get_outputs()]
    assert outputs == ["logits", "h0_out", "c0_out", "h1_out", "c1_out"]
    assert all(i.shape[0] == "batch" for i in exported["lstm2"][2].get_inputs())


@pytest.mark.parametrize("name", list(LM))
@torch.no_grad()
def test_streaming_the_exported_step_gives_the_models_logits(runs, exported, name):
    """Token by token, states carried from outputs to inputs, as a non-Python client would run it."""
    _, meta, session = exported[name]
    loaded = runner.load(runs[name])
    model, codec = loaded.model, codec_from_dict(meta["preprocessor"])
    ids = [meta["start_token"], *codec.encode(PROMPT)]
    assert len(ids) > 24 and meta["start_token"] == Predictor(model, codec).start_id
    state = model.start(Batch(inputs=torch.tensor([ids[:1]])))
    feed = {s["input"]: np.zeros((1, s["size"]), dtype=np.float32) for s in meta["state"]}
    cursor = Predictor(model, codec).scorer.start(ids[0])
    for t, i in enumerate(ids):
        got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"token": np.array([i]), **feed})))
        logits, state = model.step(torch.tensor([i]), state)
        np.testing.assert_allclose(got["logits"][0], logits[0].numpy(), atol=ATOL, rtol=0, err_msg=f"step {t}")
        if t > 0:  # the predictor's cursor after the same tokens: its log-probabilities are the logits'
            cursor = Predictor(model, codec).scorer.advance([cursor], [i])[0]
        logp = torch.log_softmax(torch.from_numpy(got["logits"][0]), -1).numpy()
        np.testing.assert_allclose(logp, cursor.logp, atol=ATOL, rtol=0, err_msg=f"step {t}")
        feed = {s["input"]: got[s["output"]] for s in meta["state"]}
    for s, want in zip(meta["state"], st.tensors(state)):
        np.testing.assert_allclose(feed[s["input"]], want.numpy(), atol=ATOL, rtol=0)


@pytest.mark.parametrize(("batch", "steps"), [(1, 5), (3, 11)])
@torch.no_grad()
def test_classifier_matches_pytorch_with_padding(runs, exported, batch, steps):
    _, meta, session = exported["classify"]
    model = runner.load(runs["classify"]).model
    gen = torch.Generator().manual_seed(steps)
    tokens = torch.randint(0, model.embed.num_embeddings, (batch, steps), generator=gen)
    lengths = torch.tensor([steps, 2, steps - 4][:batch])
    want, _ = model.classify(model.embed(tokens), Batch(tokens, lengths=lengths))
    (got,) = session.run(["logits"], {"tokens": tokens.numpy(), "lengths": lengths.numpy()})
    np.testing.assert_allclose(got, want.numpy(), atol=ATOL, rtol=0)
    # padded equals unpadded: other ids after a row's length change nothing, nor does more padding
    junk = torch.where(torch.arange(steps) < lengths.unsqueeze(1), tokens, 1)
    wider = torch.cat([junk, torch.full((batch, 4), 3)], dim=1)
    (again,) = session.run(["logits"], {"tokens": wider.numpy(), "lengths": lengths.numpy()})
    np.testing.assert_allclose(again, got, atol=ATOL, rtol=0)


def test_classifier_export_answers_like_the_pipeline(runs, exported):
    _, meta, session = exported["classify"]
    enc = Encoding.from_dict(meta["preprocessor"])
    assert meta["classes"] == enc.classes and [i.name for i in session.get_inputs()] == ["tokens", "lengths"]
    text = "this film was good really"
    ids = enc.inputs(text).numpy()[None]
    (logits,) = session.run(["logits"], {"tokens": ids, "lengths": np.array([ids.shape[1]])})
    probs = torch.softmax(torch.from_numpy(logits[0]), -1)
    _, expected = from_checkpoint(runs["classify"]).classify(text)
    assert {c: float(p) for c, p in zip(meta["classes"], probs)} == pytest.approx(expected, abs=ATOL)


@torch.no_grad()
def test_numeric_classifier_reads_padded_features(tmp_path):
    rows = [f"{'up' if i % 2 else 'down'}," + ",".join(str(0.1 * i + k) for k in range(3 + i % 5)) for i in range(40)]
    (tmp_path / "series.csv").write_text("\n".join(rows) + "\n")
    run = make_run(tmp_path / "numeric", "classify", ["model.embed_size=4", "model.encoder.hidden_size=4"],
                   tmp_path / "series.csv")
    path = export_onnx(run)
    meta = json.loads((path.parent / "export.json").read_text(encoding="utf-8"))
    assert meta["inputs"][0] == {"name": "features", "shape": ["batch", "time", 1], "dtype": "float32"}
    assert set(meta["preprocessor"]) >= {"mean", "std"}  # the client standardises as the run did
    model = runner.load(run).model
    x, lengths = torch.randn(3, 7, 1, generator=torch.Generator().manual_seed(0)), torch.tensor([7, 1, 4])
    want, _ = model.classify(model.embed_inputs(Batch(x, lengths=lengths)), Batch(x, lengths=lengths))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"features": x.numpy(), "lengths": lengths.numpy()})
    np.testing.assert_allclose(got, want.numpy(), atol=ATOL, rtol=0)


def test_export_json_describes_the_graph(runs, exported):
    for name, (_, meta, session) in exported.items():
        assert meta["task"] == ("classify" if name == "classify" else "lm")
        assert [t["name"] for t in meta["inputs"]] == [i.name for i in session.get_inputs()]
        assert [t["name"] for t in meta["outputs"]] == [o.name for o in session.get_outputs()]
        assert meta["preprocessor"] == runner.load(runs[name]).preprocessor.to_dict()
    lm = exported["lstm2"][1]
    assert len(lm["tokens"]) == lm["vocab_size"] == lm["outputs"][0]["shape"][1]
    assert [(s["layer"], s["role"], s["size"]) for s in lm["state"]] == [(0, "h", 12), (0, "c", 12),
                                                                          (1, "h", 12), (1, "c", 12)]


def test_never_overwrites_without_being_asked(runs, exported, tmp_path):
    path = exported["gru"][0]
    before = path.read_bytes()
    with pytest.raises(ExportError, match="already exists") as err:
        export_onnx(runs["gru"])
    assert str(path) in str(err.value) and len(str(err.value).splitlines()) == 1
    assert export_onnx(runs["gru"], overwrite=True, check=False) == path and path.read_bytes() == before
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "export.json").write_text("{}")
    with pytest.raises(ExportError, match="export.json"):
        export_onnx(runs["gru"], tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere" / "model.onnx").exists()


def test_a_mismatch_with_pytorch_is_an_error_and_writes_nothing(runs, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "ATOL", -1.0)  # no output can match now
    with pytest.raises(ExportError, match="onnxruntime's logits differs from PyTorch's"):
        export_onnx(runs["gru"], tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_tasks_layers_and_opsets_without_an_export_are_refused(tmp_path, runs):
    make_run(tmp_path / "adding", "adding", ["data.length=4", "data.batch_size=2", "data.num_batches=1"])
    with pytest.raises(ExportError, match="task 'adding' has no ONNX export"):
        export_onnx(tmp_path / "adding")
    make_run(tmp_path / "mingru", "classify", ["model.encoder.cell=mingru", "model.embed_size=4",
                                                "model.encoder.hidden_size=4"], runs["classify"].parent / "reviews.tsv")
    with pytest.raises(ExportError, match="parallel scan.*fused kernel"):
        export_onnx(tmp_path / "mingru")
    with pytest.raises(ExportError, match="opset"):
        export_onnx(runs["gru"], tmp_path / "x", opset=3)
    assert not (tmp_path / "adding" / "export").exists() and not (tmp_path / "mingru" / "export").exists()
