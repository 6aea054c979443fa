"""The event representation of the music task (Performance RNN): notes <-> event ids, MIDI files in seconds,
garbage sequences decoded safely, the saved codec, transposition, a tiny event model that learns through the
task, and sampling that continues a primer and writes a MIDI file players read."""

import json
import math
import random

import mido
import pretty_midi
import pytest
import torch

from rnnkit.tasks.music import TASK, MusicModelConfig
from rnnkit.tasks.music.event_data import EventBatches
from rnnkit.tasks.music.event_model import EventModel
from rnnkit.tasks.music.events import EventCodec, Note, note_shifts, transpose_notes
from rnnkit.tasks.music.generate_events import sample_events
from rnnkit.tasks.music.midi import notes_to_piece, piece_to_notes, read_midi_notes, write_midi, write_midi_notes
from rnnkit.tasks.music.preprocess import PianoRoll

TPB = 480
DEFAULT = EventCodec()


def random_notes(seed: int, n: int = 40, *, codec: EventCodec = DEFAULT) -> list[Note]:
    """Notes at random times and velocities, each pitch's notes apart by two steps or more (a pitch sounds
    once at a time, as a codec keeps it), some after a silence of several seconds."""
    rng = random.Random(seed)
    free_from = {}  # pitch -> the first second a new note of it may start
    notes, now = [], 0.0
    for _ in range(n):
        now += rng.choice([0.0, 0.0, rng.uniform(0, 0.4), rng.uniform(1.0, 4.5)])
        pitch = rng.randint(max(codec.low, 40), min(codec.high, 90))
        start = max(now, free_from.get(pitch, 0.0))
        end = start + rng.uniform(1.6 * codec.time_step, 2.0)
        free_from[pitch] = end + 2 * codec.time_step
        notes.append(Note(pitch, start, end, rng.randint(1, 127)))
    return sorted(notes, key=lambda note: (note.start, note.pitch))


def matches(got: list[Note], want: list[Note], codec: EventCodec) -> bool:
    """Same pitches, times within half a step (the nearest step), velocities within one bin."""
    bin_width = math.ceil(127 / codec.velocity_bins)
    key = lambda note: (round(note.start / codec.time_step), note.pitch)  # noqa: E731
    return len(got) == len(want) and all(
        g.pitch == w.pitch and abs(g.start - w.start) <= codec.time_step / 2 + 1e-9
        and abs(g.end - w.end) <= codec.time_step / 2 + 1e-9 and abs(g.velocity - w.velocity) < bin_width
        for g, w in zip(sorted(got, key=key), sorted(want, key=key)))


# ---- encode / decode ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("codec", [EventCodec(), EventCodec(30, 100, time_step=0.008, shift_steps=125,
                                                                        velocity_bins=8)])
def test_decode_gives_back_the_notes_within_a_step_and_a_bin(seed, codec):
    notes = random_notes(seed, codec=codec)
    ids = codec.encode(notes)
    assert all(0 <= i < codec.size for i in ids)
    decoded = codec.decode(ids)
    assert matches(decoded, notes, codec)
    assert codec.encode(decoded) == ids and codec.decode(codec.encode(decoded)) == decoded  # on the grid: exact


def test_the_vocabulary_and_its_names():
    codec = EventCodec()
    assert codec.size == 128 + 128 + 100 + 32 == 388  # Magenta's Performance RNN
    names = [codec.token_name(i) for i in range(codec.size)]
    assert len(set(names)) == codec.size
    assert names[60] == "on 60" and names[128 + 60] == "off 60" and names[256] == "shift 10ms"
    assert names[256 + 11] == "shift 120ms" and names[355] == "shift 1000ms" and names[356] == "velocity 2"
    ids = codec.encode([Note(60, 3.5, 3.6, 100)])  # a silence of 3.5 s: a chain of shifts, the longest first
    assert [codec.token_name(i) for i in ids] == ["shift 1000ms"] * 3 + ["shift 500ms", "velocity 98", "on 60",
                                                                        "shift 100ms", "off 60"]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        codec.token_name(codec.size)


def test_encoding_rules_for_odd_notes():
    codec = EventCodec(60, 72)
    zero = codec.decode(codec.encode([Note(60, 1.0, 1.0)]))
    assert [(n.start, n.end) for n in zero] == [(1.0, 1.01)]  # a zero-length note gets one step
    overlapping = [Note(64, 0.0, 1.0), Note(64, 0.5, 2.0)]  # a pitch sounds once: the second ends the first
    assert [(n.start, n.end) for n in codec.decode(codec.encode(overlapping))] == [(0.0, 0.5), (0.5, 2.0)]
    assert codec.decode(codec.encode([Note(59, 0.0, 1.0), Note(73, 0.0, 1.0)])) == []  # out of range: dropped
    repeated = [Note(62, 0.0, 0.5), Note(62, 0.5, 1.0)]  # off before on at one step: a note struck again
    assert codec.decode(codec.encode(repeated)) == [Note(62, 0.0, 0.5, 78), Note(62, 0.5, 1.0, 78)]
    assert codec.encode([]) == [] and codec.decode([]) == []


def test_velocity_bins_decode_into_themselves():
    for bins in (1, 7, 32, 64, 100, 127):
        codec = EventCodec(velocity_bins=bins)
        assert [codec.velocity_bin(codec.bin_velocity(b)) for b in range(bins)] == list(range(bins))
        assert codec.velocity_bin(1) == 0 and codec.velocity_bin(127) == bins - 1


@pytest.mark.parametrize("seed", range(30))
def test_decoding_garbage_never_raises_and_gives_valid_notes(seed):
    codec = EventCodec(50, 70, shift_steps=10, velocity_bins=4)
    g = torch.Generator().manual_seed(seed)
    weights = torch.rand(codec.size, generator=g) ** 4  # some events far more often than others
    ids = torch.multinomial(weights, int(torch.randint(1, 400, (1,), generator=g)), replacement=True, generator=g)
    notes = codec.decode(ids)
    assert all(isinstance(n, Note) and n.end > n.start >= 0 and 50 <= n.pitch <= 70 for n in notes)
    for pitch in {n.pitch for n in notes}:  # a pitch never sounds twice at once
        spans = sorted((n.start, n.end) for n in notes if n.pitch == pitch)
        assert all(a_end <= b_start + 1e-9 for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    assert notes == sorted(notes, key=lambda n: (n.start, n.pitch, n.end))
    assert codec.decode(codec.encode(notes)) == notes  # whatever came out is music the codec can say


def test_decode_handles_the_sampler_s_mistakes():
    codec = EventCodec(60, 72, shift_steps=10)
    on, off, shift = (lambda p: p - 60), (lambda p: 13 + p - 60), (lambda k: 26 + k - 1)
    v = 62  # no velocity event yet: the velocity of 64's bin, 61..64
    assert codec.decode([off(60), shift(5)]) == []  # a note-off of a silent pitch: ignored
    assert codec.decode([on(60), shift(3)]) == [Note(60, 0.0, 0.03, v)]  # left on: ends at the end
    assert codec.decode([on(60), off(60), on(61)]) == []  # no length: dropped
    assert codec.decode([on(60), shift(2), on(60), shift(1)]) == [Note(60, 0.0, 0.02, v), Note(60, 0.02, 0.03, v)]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        codec.decode([codec.size])


# ---- the saved codec ------------------------------------------------------------------------------------
def test_to_dict_round_trip_and_bad_dicts_refused():
    codec = EventCodec(21, 108, time_step=0.008, shift_steps=125, velocity_bins=16)
    saved = json.loads(json.dumps(codec.to_dict()))
    assert saved["type"] == "events" and EventCodec.from_dict(saved) == codec
    assert TASK.load_preprocessor(saved) == codec
    assert TASK.load_preprocessor(PianoRoll(40, 80).to_dict()) == PianoRoll(40, 80)
    bad = [None, [], {**saved, "type": "pianoroll"}, {k: v for k, v in saved.items() if k != "time_step"},
           {**saved, "extra": 1}, {**saved, "low": 90, "high": 80}, {**saved, "high": 128}, {**saved, "low": True},
           {**saved, "time_step": 0}, {**saved, "time_step": "10ms"}, {**saved, "shift_steps": 0},
           {**saved, "velocity_bins": 128}, {**saved, "velocity_bins": 2.0}]
    for d in bad:
        with pytest.raises(ValueError) as err:
            EventCodec.from_dict(d)
        assert "\n" not in str(err.value)
    for d in ({"type": "midi"}, None):
        with pytest.raises(ValueError, match="not a music preprocessor"):
            TASK.load_preprocessor(d)


def test_fit_finds_the_range_and_notes_are_checked():
    assert EventCodec.fit([[Note(60, 0, 1)], [Note(72, 0, 1)]], margin=3, velocity_bins=8) == EventCodec(
        57, 75, velocity_bins=8)
    with pytest.raises(ValueError, match="no notes"):
        EventCodec.fit([[]])
    for args in ((128, 0, 1), (60, 1, 0.5), (60, -1, 1), (60, 0, 1, 0), (60, 0, math.inf)):
        with pytest.raises(ValueError, match="^Note: "):
            Note(*args)


# ---- transposition --------------------------------------------------------------------------------------
def test_transposition_keeps_pitches_in_range():
    notes = [Note(60, 0, 1, 90), Note(67, 0.5, 1)]
    assert transpose_notes(notes, 5) == [Note(65, 0, 1, 90), Note(72, 0.5, 1)]
    with pytest.raises(ValueError, match="outside 55..70"):
        transpose_notes(notes, 4, low=55, high=70)
    assert note_shifts(notes, 58, 70, max_shift=4) == [0, -2, -1, 1, 2, 3]
    assert note_shifts([], 58, 70) == [0]


def test_transposed_batches_stay_in_range_and_repeat_by_epoch():
    codec = EventCodec(55, 80)
    pieces = [random_notes(seed, 12, codec=EventCodec(58, 76)) for seed in range(6)]
    batches = EventBatches(pieces, codec, max_events=16, batch_size=2, shuffle=True, transpose=3)
    epoch, again = ([(b.inputs, b.targets) for b in batches.batches(1)] for _ in range(2))
    assert all(torch.equal(x, x2) and torch.equal(y, y2) for (x, y), (x2, y2) in zip(epoch, again))
    plain = EventBatches(pieces, codec, max_events=16, batch_size=2, shuffle=True)
    assert [b.lengths.tolist() for b in batches.batches(1)] == [b.lengths.tolist() for b in plain.batches(1)]
    assert any(not torch.equal(b.targets, p.targets) for b, p in zip(batches.batches(1), plain.batches(1)))
    for b in batches.batches(2):
        for row, n in zip(b.targets, b.lengths):
            notes = codec.decode(row[:n].tolist())
            assert all(55 <= note.pitch <= 80 for note in notes)


def test_windows_are_read_after_the_event_before_them():
    codec = EventCodec(40, 90)
    notes = random_notes(1, 30)
    ids = codec.encode(notes)
    batches = EventBatches([notes], codec, max_events=16, batch_size=8)
    assert [len(t) for t in batches.sequences] == [16] * (len(ids) // 16) + ([len(ids) % 16] if len(ids) % 16 else [])
    windows = sorted((batches.windows[i], batches._window(batches.encoded[0], batches.windows[i][1]))
                     for i in range(len(batches)))
    assert windows[0][1][0][0] == codec.size  # the first window is read after the start token, id V
    assert torch.cat([y for _, (_, y) in windows]).tolist() == ids  # every event is a target once
    for (_, a), (x, y) in windows:
        assert x.tolist() == ([codec.size] + ids)[a : a + len(y)] and y.tolist() == ids[a : a + len(y)]
    batch = next(iter(batches.batches(0)))
    assert (batch.targets[batch.lengths.argmin(), batch.lengths.min():] == -100).all()


# ---- MIDI in seconds ------------------------------------------------------------------------------------
def test_a_midi_file_written_from_events_reads_back_the_same_notes(tmp_path):
    codec = EventCodec()
    notes = codec.decode(codec.encode(random_notes(7, 60)))  # on the 10 ms grid
    path = write_midi_notes(notes, tmp_path / "out" / "p.mid")
    assert [p.name for p in path.parent.iterdir()] == ["p.mid"]  # atomic: no temporary file left
    back = read_midi_notes(path)
    assert codec.encode(back) == codec.encode(notes)
    assert all(abs(a.start - b.start) < 1e-6 and abs(a.end - b.end) < 1e-6 for a, b in zip(back, notes))
    assert [(n.pitch, n.velocity) for n in back] == [(n.pitch, n.velocity) for n in notes]
    assert mido.MidiFile(path).length == pytest.approx(max(n.end for n in notes), abs=2e-3)  # + end of track
    with pytest.raises(FileExistsError, match="already exists"):
        write_midi_notes(notes, path)
    assert write_midi_notes(notes[:3], path, overwrite=True) == path and len(read_midi_notes(path)) == 3


def test_tempo_changes_set_the_seconds(tmp_path):
    # 120 qpm, then 240 qpm from beat 1.5, then 60 qpm from beat 2.5: beats last 0.5, 0.25 and 1 s.
    tempo = [mido.MetaMessage("set_tempo", tempo=500_000, time=0),
             mido.MetaMessage("set_tempo", tempo=250_000, time=720),
             mido.MetaMessage("set_tempo", tempo=1_000_000, time=480)]
    notes = [m for beat in range(5) for m in (mido.Message("note_on", note=60 + beat, velocity=20 + beat),
                                              mido.Message("note_off", note=60 + beat, time=TPB))]
    mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
    mid.tracks.extend([mido.MidiTrack(tempo), mido.MidiTrack(notes)])
    mid.save(tmp_path / "tempi.mid")
    read = read_midi_notes(tmp_path / "tempi.mid")
    reference = pretty_midi.PrettyMIDI(str(tmp_path / "tempi.mid")).instruments[0].notes
    assert [n.start for n in read] == pytest.approx([0.0, 0.5, 0.875, 1.5, 2.5])
    times = [t for n in reference for t in (n.start, n.end)]
    assert [t for n in read for t in (n.start, n.end)] == pytest.approx(times)
    assert [n.velocity for n in read] == [20, 21, 22, 23, 24]


def test_absurd_lengths_are_refused_quickly(tmp_path):
    mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
    mid.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=80),
                                      mido.Message("note_off", note=60, time=2**31 - 1)]))
    mid.save(tmp_path / "absurd.mid")
    with pytest.raises(ValueError, match=r"^.*absurd\.mid: an event at \d+ seconds, beyond max_seconds=3600"):
        read_midi_notes(tmp_path / "absurd.mid")
    with pytest.raises(ValueError, match="not a readable MIDI file"):
        read_midi_notes(_write(tmp_path / "bad.mid", b"MThd"))


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_a_roll_becomes_notes_and_back():
    piece = [[60, 64], [60, 64], [], [60], [62, 67], [67]]
    notes = piece_to_notes(piece, 2, bpm=120)  # a step is 0.25 s
    assert notes == [Note(60, 0.0, 0.5), Note(64, 0.0, 0.5), Note(60, 0.75, 1.0), Note(62, 1.0, 1.25),
                     Note(67, 1.0, 1.5)]  # held steps merge: a roll cannot tell a held note from a repeated one
    assert notes_to_piece(notes, 0.25) == piece
    with pytest.raises(ValueError):
        piece_to_notes(piece, 0)


# ---- a tiny event model through the task ----------------------------------------------------------------
TINY = ["data.representation=events", "model.encoder.hidden_size=24", "model.encoder.num_layers=1",
        "data.batch_size=4", "data.max_events=48", "data.bpm=240", "train.steps=60", "train.eval_every=30",
        "train.warmup_steps=5", "train.lr=0.01", "train.progress=false"]


def chorale(seed: int, length: int = 16) -> list[list[int]]:
    """A toy piece, as in ``test_task``: a triad on a walking root, each chord held for two steps."""
    rng = random.Random(seed)
    root, steps = 60, []
    for _ in range(length // 2):
        root += rng.randint(-2, 2)
        steps += [sorted({root, root + 4, root + 7})] * 2
    return steps


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """An event run trained for a few steps on toy chorales (a JSON piano roll played at 240 beats a minute)."""
    from rnnkit.tasks.run import make_config, train

    root = tmp_path_factory.mktemp("music-events")
    splits = {"train": [chorale(i) for i in range(24)], "valid": [chorale(100 + i) for i in range(6)],
              "test": [chorale(200 + i) for i in range(6)]}
    (root / "toy.json").write_text(json.dumps(splits), encoding="utf-8")
    result = train("music", make_config("music", overrides=TINY), out=root / "run", data=str(root / "toy.json"))
    return root, result


def test_a_tiny_event_model_learns_through_the_task(run):
    from rnnkit.tasks.run import load, make_config

    root, result = run
    assert result.test["loss"] < result.baseline["loss"]  # chords and their motion, beyond event frequencies
    loaded = load(root / "run")
    assert isinstance(loaded.preprocessor, EventCodec) and isinstance(loaded.model, EventModel)
    parts = TASK.build(make_config("music", overrides=TINY), str(root / "toy.json"))
    untrained = parts.model.eval()
    with torch.no_grad():
        before = [untrained(b).loss for b in parts.test.batches(0)]
        after = [loaded.model.eval()(b).loss for b in parts.test.batches(0)]
    assert sum(after) < sum(before)  # training lowered the loss
    assert make_config("music", overrides=[*TINY, "model.head=sigmoid"]).train.max_epochs is None


def test_an_event_model_refuses_to_read_backwards():
    cfg = MusicModelConfig()
    cfg.encoder.bidirectional = True
    with pytest.raises(ValueError, match="bidirectional"):
        EventModel(cfg, 10)


# ---- generation -----------------------------------------------------------------------------------------
@pytest.fixture
def model():
    torch.manual_seed(0)
    cfg = MusicModelConfig()
    cfg.encoder.hidden_size, cfg.encoder.num_layers = 16, 1
    return EventModel(cfg, EventCodec(48, 84, shift_steps=50).size)


def test_sampling_continues_the_primer_and_a_seed_repeats(model):
    codec = EventCodec(48, 84, shift_steps=50)
    prime = [Note(60, 0.0, 0.5, 90), Note(64, 0.25, 0.75, 70), Note(67, 0.5, 1.0, 50)]
    notes = sample_events(model, codec, prime=prime, seconds=4.0, seed=3)
    assert notes == sample_events(model, codec, prime=prime, seconds=4.0, seed=3)
    assert notes[:3] == codec.decode(codec.encode(prime)) and len(notes) > 3
    assert max(n.end for n in notes) <= 5.0 + 1e-9 and all(48 <= n.pitch <= 84 for n in notes)
    assert sample_events(model, codec, seconds=2, temperature=0) == sample_events(model, codec, seconds=2,
                                                                                  temperature=0, seed=9)
    assert sample_events(model, codec, prime=prime, seconds=0) == codec.decode(codec.encode(prime))
    assert len(sample_events(model, codec, seconds=60, max_events=5, seed=1)) <= 5  # at most 5 note-ons drawn
    with pytest.raises(ValueError):
        sample_events(model, codec, seconds=-1)


def test_a_sampled_performance_is_a_midi_file_players_read(model, tmp_path):
    codec = EventCodec(48, 84, shift_steps=50)
    notes = sample_events(model, codec, seconds=3.0, seed=1, temperature=1.5)
    path = write_midi_notes(notes, tmp_path / "new.mid")
    assert mido.MidiFile(path).length > 0 and codec.encode(read_midi_notes(path)) == codec.encode(notes)


def test_generate_writes_an_event_run_s_midi_file_and_piano_roll(run, tmp_path, capsys):
    from rnnkit.cli import main
    from rnnkit.pipeline import from_checkpoint

    root, _ = run
    primer = write_midi([[60, 64, 67], [60, 64, 67], [62, 65, 69]], tmp_path / "primer.mid", steps_per_beat=1)
    out = tmp_path / "new.mid"
    assert main(["generate", str(root / "run"), "--out", str(out), "--length", "3", "--unit", "seconds",
                 "--seed", "2", "--prime", str(primer), "--audio", "none"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert mido.MidiFile(out).length > 0 and (tmp_path / "new.mid.png").read_bytes()[:4] == b"\x89PNG"
    pipeline = from_checkpoint(root / "run")
    primed = [x for n in pipeline.compose(primer, length=3, unit="seconds", seed=2)
              for x in (n.pitch, n.start, n.end)]
    assert primed[:12] == pytest.approx([60, 0, 1.2, 64, 0, 1.2, 67, 0, 1.2, 62, 1.2, 1.8])  # 100 qpm, held chord
    written = read_midi_notes(out)
    assert [x for n in written for x in (n.pitch, n.start, n.end)] == pytest.approx(primed, abs=1e-6)
    assert max(n.end for n in written) <= 1.8 + 3 + 1e-6
    assert pipeline.describe()["representation"] == "events" and pipeline.describe()["tempo"] == 240  # data.bpm
    assert pipeline.span(1, "bars") == pytest.approx(1.0)  # 4 beats at 240 a minute
    with pytest.raises(ValueError, match="unit steps is for piano-roll runs"):
        pipeline.span(4, "steps")
    status = main(["generate", str(root / "run"), "--out", str(out)])
    assert status != 0 and "already exists" in capsys.readouterr().err


def test_an_event_run_streams_frames_as_it_samples_and_serves_its_notes(run, tmp_path):
    import base64

    from fastapi.testclient import TestClient

    from rnnkit.pipeline import from_checkpoint
    from rnnkit.serve import Settings, create_app
    from rnnkit.tasks.music.generate_events import EventFrames

    root, _ = run
    pipeline = from_checkpoint(root / "run")
    primer = write_midi([[60, 64, 67], [60, 64, 67], [62, 65, 69]], tmp_path / "primer.mid", steps_per_beat=1)
    stream = pipeline.stream(primer, length=2, unit="bars", seed=5)  # 2 bars at 240 a minute: 2 s, 32 frames
    assert isinstance(stream, EventFrames) and pipeline.frames_for(2, "bars") == 32 == stream.total
    # the primer: 3 beats written at 100 a minute, 1.8 s, on the grid of 4 frames a beat at 240 (1/16 s)
    assert stream.primer == pipeline.primer(primer) and len(stream.primer) == round(1.8 * 16)
    frames = list(stream)
    assert len(frames) == 32 and all(f == sorted(set(f)) for f in frames)
    notes = stream.notes()  # the music itself: what compose gives for the same seed
    assert notes == pipeline.compose(primer, length=2, unit="bars", seed=5)
    new = [n for n in notes if n.start >= stream.start - 1e-9]
    for n in new:  # each new note sounds in the frame of its start
        assert n.pitch in frames[min(int((n.start - stream.start) / stream.grid + 1e-9), 31)]

    prime = base64.b64encode(primer.read_bytes()).decode()
    request = {"prime": prime, "length": 2, "unit": "bars", "seed": 5, "audio": "none"}
    with TestClient(create_app([("events", pipeline)], Settings(allowed_dirs=(root,)))) as client:
        answer = client.post("/v1/music/generate", json=request).json()
        assert answer["piece"] == stream.primer + frames and answer["primer_steps"] == len(stream.primer)
        assert answer["steps_per_beat"] == 4
        (tmp_path / "served.mid").write_bytes(base64.b64decode(answer["midi"]))
        written = read_midi_notes(tmp_path / "served.mid")  # the notes with their own timing, not the grid
        expected = sorted((n.start, n.pitch) for n in notes)
        assert [p for _, p in sorted((n.start, n.pitch) for n in written)] == [p for _, p in expected]
        assert sorted(n.start for n in written) == pytest.approx([t for t, _ in expected], abs=2e-3)
        streamed = client.post("/v1/music/stream", json=request).text
        assert streamed.count('"pitches"') == 32 and '"length": 32' in streamed
        assert client.post("/v1/music/generate", json={"length": 3, "unit": "steps"}).status_code == 400
