"""The music endpoints over a tiny trained run: a piece of primer + length steps with a MIDI file players read,
the same seed the same piece, the stream's steps equal to the whole answer's, a primer continued, bad input
as a 4xx JSON error, the run listed in /v1/models and its panel on the page."""

import base64
import io
import json

import mido
import pytest
from fastapi.testclient import TestClient

from rnnkit.pipeline import from_checkpoint
from rnnkit.serve import Settings, create_app
from rnnkit.tasks.music import audio
from rnnkit.tasks.music.midi import read_midi, write_midi

PRIME = [[60, 64, 67], [60, 64, 67], [62, 65, 69]]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A music run trained for a few updates on toy chorales, on the JSON roll's grid of one step a beat."""
    from rnnkit.tasks.run import make_config, train

    root = tmp_path_factory.mktemp("music-serve")
    chords = [[60, 64, 67], [62, 65, 69], [64, 67, 71], [65, 69, 72]]
    pieces = [[chords[(i + t // 2) % 4] for t in range(16)] for i in range(12)]
    (root / "toy.json").write_text(json.dumps({"train": pieces[:8], "valid": pieces[8:10], "test": pieces[10:]}))
    cfg = make_config("music", overrides=["model.encoder.hidden_size=16", "model.encoder.num_layers=1",
                                          "model.nade_hidden=8", "data.batch_size=4", "data.steps_per_beat=1",
                                          "train.steps=10", "train.eval_every=10", "train.progress=false"])
    train("music", cfg, out=root / "run", data=str(root / "toy.json"))
    return root / "run"


@pytest.fixture(scope="module")
def pipeline(run):
    return from_checkpoint(run)


@pytest.fixture
def client(run, pipeline, monkeypatch):
    """A client of an app serving the run as "chorales"; no audio unless a test asks (rendering takes time)."""
    monkeypatch.setattr(audio, "audio_available", lambda: False)
    with TestClient(create_app([("chorales", pipeline)], Settings(allowed_dirs=(run.parent,)))) as client:
        yield client


def events(body: str) -> list[tuple[str, dict]]:
    """``(event name, data)`` for each event of a text/event-stream body."""
    out = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields.get("event", "message"), json.loads(fields["data"])))
    return out


def midi_base64(piece, tmp_path) -> str:
    return base64.b64encode(write_midi(piece, tmp_path / "prime.mid", steps_per_beat=1).read_bytes()).decode()


def test_generate_answers_a_piece_and_its_midi_file(client, pipeline):
    answer = client.post("/v1/music/generate", json={"length": 12, "unit": "steps", "seed": 3}).json()
    assert answer["model"] == "chorales" and answer["primer_steps"] == 0 and len(answer["piece"]) == 12
    assert answer["steps_per_beat"] == pipeline.roll.steps_per_beat == 1 and answer["audio"] is None
    assert answer["piece"] == pipeline.compose("", length=12, unit="steps", seed=3)  # what rnnkit generate writes
    midi = mido.MidiFile(file=io.BytesIO(base64.b64decode(answer["midi"])))
    assert midi.type == 1 and sum(msg.type == "note_on" for msg in midi) > 0
    again = client.post("/v1/music/generate", json={"length": 12, "unit": "steps", "seed": 3}).json()
    assert again == answer  # the same seed, the same piece and file
    default = client.post("/v1/music/generate", json={}).json()
    assert len(default["piece"]) == pipeline.span(pipeline.defaults["length"], pipeline.defaults["unit"]) == 16 * 4
    bars = client.post("/v1/music/generate", json={"length": 2, "unit": "bars", "seed": 3}).json()
    assert len(bars["piece"]) == 8 and bars["piece"][:8] == client.post(  # 2 bars of 4 beats at 1 step a beat
        "/v1/music/generate", json={"length": 8, "unit": "steps", "seed": 3}).json()["piece"]


def test_a_primer_opens_the_piece(client, tmp_path):
    request = {"prime": midi_base64(PRIME, tmp_path), "length": 5, "unit": "steps", "seed": 1, "temperature": 0.5}
    answer = client.post("/v1/music/generate", json=request).json()
    assert answer["primer_steps"] == 3 and answer["piece"][:3] == PRIME and len(answer["piece"]) == 8
    (tmp_path / "out.mid").write_bytes(base64.b64decode(answer["midi"]))
    assert read_midi(tmp_path / "out.mid", steps_per_beat=1)[:3] == PRIME


def test_the_stream_sends_each_step_then_the_piece(client, tmp_path):
    for prime in ([], PRIME):
        request = {"length": 10, "unit": "steps", "seed": 7,
                   **({"prime": midi_base64(prime, tmp_path)} if prime else {})}
        whole = client.post("/v1/music/generate", json=request).json()
        response = client.post("/v1/music/stream", json=request)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        sent = events(response.text)
        assert sent[0] == ("primer", {"steps": prime, "length": 10})
        frames = sent[1:-1]
        assert [name for name, _ in frames] == ["message"] * 10
        assert [data["step"] for _, data in frames] == list(range(len(prime), len(prime) + 10))
        assert [data["pitches"] for _, data in frames] == whole["piece"][len(prime):]
        assert sent[-1] == ("end", whole)


def test_the_pipeline_streams_the_steps_it_composes(pipeline, tmp_path):
    primer = write_midi(PRIME, tmp_path / "p.mid", steps_per_beat=1)
    streamed = list(pipeline.stream(primer, length=6, unit="steps", seed=2))
    assert streamed == pipeline.compose(primer, length=6, unit="steps", seed=2)[3:]
    assert pipeline.primer(primer) == PRIME and pipeline.primer("") == []
    (tmp_path / "bad.mid").write_bytes(b"not a MIDI file")
    with pytest.raises(ValueError, match="not a readable MIDI file"):
        pipeline.stream(tmp_path / "bad.mid")  # read when called, before the first step


@pytest.mark.parametrize("path", ["generate", "stream"])
def test_bad_input_answers_a_4xx_json_error(client, path):
    not_midi = base64.b64encode(b"MThd but not really a MIDI file").decode()
    cases = [({"prime": "%%% not base64"}, 400, "base64"), ({"prime": not_midi}, 400, "prime: not a readable MIDI"),
             ({"length": 0, "unit": "steps"}, 422, "length"), ({"length": 2049, "unit": "steps"}, 413, "length"),
             ({"length": 600, "unit": "bars"}, 413, "2400 time steps"), ({"unit": "furlongs"}, 422, "unit"),
             ({"audio": "mp3"}, 422, "audio"),
             ({"temperature": -0.5}, 422, "temperature"), ({"seed": 2**64}, 422, "seed"),
             ({"lenght": 4}, 422, "lenght"), ({"model": "other"}, 404, "chorales")]
    for body, status, words in cases:
        response = client.post(f"/v1/music/{path}", json=body)
        assert response.status_code == status, (body, response.text)
        assert words in response.json()["error"] and "/tmp" not in response.json()["error"], response.text


def test_audio_comes_as_wav_where_the_server_renders_it(client, monkeypatch):
    monkeypatch.undo()  # the real audio_available
    if not audio.audio_available():
        pytest.skip("fluidsynth or a soundfont is missing (make install)")
    answer = client.post("/v1/music/generate", json={"length": 4, "unit": "steps", "seed": 0}).json()
    wav = base64.b64decode(answer["audio"])
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE" and answer["audio_type"] == "audio/wav"
    ogg = client.post("/v1/music/generate", json={"length": 4, "unit": "steps", "seed": 0, "audio": "ogg"}).json()
    assert base64.b64decode(ogg["audio"])[:4] == b"OggS" and ogg["audio_type"] == "audio/ogg"
    none = client.post("/v1/music/generate", json={"length": 4, "unit": "steps", "audio": "none"}).json()
    assert none["audio"] is None and none["midi"]


def test_the_run_is_listed_and_its_panel_is_on_the_page(client):
    (model,) = client.get("/v1/models").json()["models"]
    assert model["name"] == "chorales" and model["task"] == "music"
    assert set(model["endpoints"]) == {"POST /v1/music/generate", "POST /v1/music/stream"}
    assert model["details"]["defaults"] == {"length": 16, "unit": "bars", "temperature": 1.0, "audio": "wav"}
    page = client.get("/").text
    assert 'id="panel-music"' in page and '<script src="/static/tasks/music/panel.js"></script>' in page
    assert "musicEvents" in client.get("/static/tasks/music/panel.js").text
