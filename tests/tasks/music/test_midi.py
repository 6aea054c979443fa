"""MIDI reading and writing on files built here with mido and pretty_midi: round trips, tempo changes, drums,
odd note pairings, running status, and files that are refused (corrupt, absurd, too many notes)."""

import time
from pathlib import Path

import mido
import pretty_midi
import pytest

from rnnkit.tasks.music import midi as midi_module
from rnnkit.tasks.music.midi import read_midi, read_midi_folder, write_midi

TPB = 480  # ticks a beat in the files built here


def on(note: int, time: int = 0, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=80, time=time, channel=channel)


def off(note: int, time: int = 0, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, velocity=0, time=time, channel=channel)


def save(path: Path, *tracks: list, ticks_per_beat: int = TPB) -> Path:
    """A type 1 MIDI file at ``path`` with one track per list of messages (times are deltas in ticks)."""
    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    mid.tracks.extend(mido.MidiTrack(messages) for messages in tracks)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(path)
    return path


def error_message(path: Path, **kwargs) -> str:
    """The message of the ValueError that ``read_midi(path, **kwargs)`` raises: one line starting with the path."""
    with pytest.raises(ValueError) as err:
        read_midi(path, **kwargs)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return message


# ---- round trip -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("steps_per_beat", "tempo"), [(1, 100.0), (4, 133.0), (3, 60.0)])
def test_write_then_read_gives_the_piece(tmp_path, steps_per_beat, tempo):
    piece = [[60, 64, 67], [60, 64, 67], [], [59, 62], [59, 72], [], [], [0, 127], [60]]
    path = write_midi(piece, tmp_path / "out" / "p.mid", steps_per_beat=steps_per_beat, tempo=tempo)
    assert path == tmp_path / "out" / "p.mid"
    assert read_midi(path, steps_per_beat=steps_per_beat) == piece
    assert [p.name for p in path.parent.iterdir()] == ["p.mid"]  # no temporary file left behind
    mid = mido.MidiFile(path)
    assert mid.type == 1 and mid.ticks_per_beat == 480
    pm = pretty_midi.PrettyMIDI(str(path))
    assert len(pm.instruments) == 1 and pm.instruments[0].program == 0
    assert len(pm.instruments[0].notes) == 9  # each run of steps holding a pitch is one note
    assert pm.get_tempo_changes()[1][0] == pytest.approx(tempo, rel=1e-5)  # whole microseconds a beat


def test_read_on_a_finer_grid_stretches_the_piece(tmp_path):
    path = write_midi([[60], [62, 65]], tmp_path / "p.mid", steps_per_beat=1)
    assert read_midi(path, steps_per_beat=2) == [[60], [60], [62, 65], [62, 65]]


def test_write_refuses_bad_pitches_and_settings(tmp_path):
    with pytest.raises(ValueError, match="0..127"):
        write_midi([[128]], tmp_path / "p.mid")
    with pytest.raises(ValueError, match="tempo"):
        write_midi([[60]], tmp_path / "p.mid", tempo=0)
    assert not (tmp_path / "p.mid").exists()


# ---- timing -----------------------------------------------------------------------------------------------
def test_tempo_changes_keep_notes_on_their_beats(tmp_path):
    # 120 qpm, then 240 qpm from beat 1.5, then 60 qpm from beat 2.5: beats last 0.5, 0.25 and 1 s.
    tempo = [mido.MetaMessage("set_tempo", tempo=500_000, time=0),
             mido.MetaMessage("set_tempo", tempo=250_000, time=720),
             mido.MetaMessage("set_tempo", tempo=1_000_000, time=480)]
    notes = [m for beat in range(5) for m in (on(60 + beat), off(60 + beat, TPB))]  # one note a beat
    path = save(tmp_path / "tempi.mid", tempo, notes)
    pm = pretty_midi.PrettyMIDI(str(path))  # the reference: pretty_midi's seconds and beats
    starts = [n.start for n in pm.instruments[0].notes]
    assert starts == pytest.approx([0.0, 0.5, 0.875, 1.5, 2.5])  # not evenly spaced: the tempo changes matter
    assert pm.get_beats()[:5] == pytest.approx(starts)
    assert read_midi(path, steps_per_beat=2) == [[60], [60], [61], [61], [62], [62], [63], [63], [64], [64]]


def test_off_grid_times_round_to_the_nearest_step(tmp_path):
    path = save(tmp_path / "swing.mid", [on(60, 50), off(60, 300), on(62, 10), off(62, 120)])  # ticks 50..350..480
    assert read_midi(path, steps_per_beat=4) == [[60], [60], [60], [62]]  # 50 -> 0, 350 -> 3, 480 -> 4


def test_zero_length_note_gets_one_step(tmp_path):
    path = save(tmp_path / "zero.mid", [on(60), off(60), on(64, TPB), off(64, 0)])
    assert read_midi(path, steps_per_beat=1) == [[60], [64]]


def test_note_without_note_off_ends_with_its_track(tmp_path):
    path = save(tmp_path / "open.mid", [on(60), on(64, TPB), off(64, TPB), mido.MetaMessage("end_of_track", time=TPB)])
    assert read_midi(path, steps_per_beat=1) == [[60], [60, 64], [60]]


def test_overlapping_notes_of_one_pitch_union(tmp_path):
    two_channels = [on(60, 0, 0), on(60, TPB, 1), off(60, TPB, 0), off(60, TPB, 1)]  # beats 0-2 and 1-3
    path = save(tmp_path / "two.mid", two_channels)
    assert read_midi(path, steps_per_beat=1) == [[60], [60], [60]]
    # one channel: the first note-off ends both sounding notes (as pretty_midi pairs them)
    path = save(tmp_path / "one.mid", [on(60), on(60, TPB), off(60, TPB), off(60, TPB), on(62), off(62, TPB)])
    assert read_midi(path, steps_per_beat=1) == [[60], [60], [], [62]]
    # a note-on on the tick where an older note ends starts the next note, which goes on
    path = save(tmp_path / "again.mid", [on(60), on(60, TPB), off(60), off(60, TPB)])
    assert read_midi(path, steps_per_beat=1) == [[60], [60]]


def test_drums_ignored_unless_asked(tmp_path):
    path = save(tmp_path / "drums.mid", [on(60), off(60, 2 * TPB)], [on(36, 0, 9), off(36, TPB, 9), on(42, 0, 9),
                                                                   off(42, TPB, 9)])
    assert read_midi(path, steps_per_beat=1) == [[60], [60]]
    assert read_midi(path, steps_per_beat=1, drums=True) == [[36, 60], [42, 60]]


# ---- running status ---------------------------------------------------------------------------------------
def test_running_status_by_hand(tmp_path):
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + (4).to_bytes(2, "big")
    # one status byte 0x90, then four messages that reuse it (velocity 0 ends a note)
    events = bytes([0x00, 0x90, 60, 80, 0x00, 64, 80, 0x04, 60, 0, 0x00, 64, 0, 0x00, 0xFF, 0x2F, 0x00])
    path = tmp_path / "running.mid"
    path.write_bytes(header + b"MTrk" + len(events).to_bytes(4, "big") + events)
    assert read_midi(path, steps_per_beat=4) == [[60, 64]] * 4


def test_running_status_written_by_mido(tmp_path):
    messages = [on(60), on(64), on(67), off(60, TPB), off(64), off(67), on(62), off(62, TPB)]
    path = save(tmp_path / "mido.mid", messages)
    assert path.read_bytes().count(0x90) < 5  # mido wrote one status byte for a row of note_ons
    assert read_midi(path, steps_per_beat=1) == [[60, 64, 67], [62]]


# ---- refused files ----------------------------------------------------------------------------------------
def test_absurd_delta_is_refused_quickly(tmp_path):
    path = save(tmp_path / "absurd.mid", [on(60), off(60, 2**31 - 1)])
    started = time.perf_counter()
    assert "max_steps=1000" in error_message(path, max_steps=1000)
    assert "max_steps=100000" in error_message(path)  # the default guard too, without building a roll
    assert time.perf_counter() - started < 1.0
    far_tick = save(tmp_path / "far.mid", [on(60), off(60, TPB), mido.MetaMessage("end_of_track", time=10**6)])
    assert "beyond max_steps" in error_message(far_tick, max_steps=1000)


def test_too_many_notes_is_refused(tmp_path):
    path = save(tmp_path / "dense.mid", [m for i in range(50) for m in (on(40 + i), off(40 + i, 1))])
    assert "50 notes" in error_message(path, max_notes=10)
    assert len(read_midi(path, max_notes=50)) == 1


def test_too_large_a_file_is_refused_before_parsing(tmp_path, monkeypatch):
    path = tmp_path / "big.mid"
    path.write_bytes(b"x" * 200)
    monkeypatch.setattr(midi_module, "MAX_BYTES", 100)
    assert "200 bytes" in error_message(path)


@pytest.mark.parametrize("data", [b"", b"hello, I am text\n" * 10, b"MThd\x00\x00\x00\x06\x00\x01\x00\x01"])
def test_unparsable_file_is_one_line_naming_it(tmp_path, data):
    path = tmp_path / "bad.mid"
    path.write_bytes(data)
    assert "not a readable MIDI file" in error_message(path)


# ---- folders ----------------------------------------------------------------------------------------------
def make_folder(folder: Path) -> Path:
    write_midi([[60], [62]], folder / "b.mid", steps_per_beat=1)
    write_midi([[64, 67]], folder / "sub" / "a.MIDI", steps_per_beat=1)
    (folder / "corrupt.mid").write_bytes((folder / "b.mid").read_bytes()[:30])
    (folder / "text.mid").write_text("this is not MIDI\n" * 5)
    save(folder / "silent.mid", [mido.MetaMessage("set_tempo", tempo=500_000)])
    (folder / "notes.txt").write_text("not a MIDI name")
    return folder


def test_folder_skips_bad_files_with_one_warning_each(tmp_path):
    folder = make_folder(tmp_path / "songs")
    warnings: list[str] = []
    pieces = read_midi_folder(folder, steps_per_beat=1, warn=warnings.append)
    assert pieces == [(str(folder / "b.mid"), [[60], [62]]), (str(folder / "sub" / "a.MIDI"), [[64, 67]])]
    assert len(warnings) == 3
    for name, why in [("corrupt.mid", "not a readable MIDI file"), ("silent.mid", "no notes"),
                      ("text.mid", "not a readable MIDI file")]:
        assert any(str(folder / name) in w and why in w and "\n" not in w for w in warnings), (name, warnings)


def test_folder_glob(tmp_path):
    folder = make_folder(tmp_path / "songs")
    pieces = read_midi_folder(str(folder / "**" / "*.MIDI"), steps_per_beat=1)
    assert pieces == [(str(folder / "sub" / "a.MIDI"), [[64, 67]])]


def test_folder_warns_through_the_rnnkit_logger_by_default(tmp_path, caplog):
    folder = make_folder(tmp_path / "songs")
    with caplog.at_level("WARNING", logger="rnnkit"):
        read_midi_folder(folder)
    assert sum("skipping" in r.message for r in caplog.records) == 3


def test_empty_folder_or_no_usable_file_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no music files"):
        read_midi_folder(tmp_path / "empty")
    with pytest.raises(ValueError, match="no music files"):
        read_midi_folder(str(tmp_path / "nowhere" / "*.mid"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.mid").write_text("text")
    (bad / "b.midi").write_bytes(b"MThd")
    warnings: list[str] = []
    with pytest.raises(ValueError, match=r"^.*bad: no usable music files \(2 skipped\)$"):
        read_midi_folder(bad, warn=warnings.append)
    assert len(warnings) == 2
