"""Rendering MIDI to audio with the real FluidSynth and soundfont that ``make test`` installs (no skips: a
missing fluidsynth fails here with the error that says what to install). The WAV files are read back with
the standard library's ``wave``: sample rate, length, loudness during the piece and silence after it."""

import wave
from pathlib import Path

import numpy as np
import pytest

from rnnkit.tasks.music import audio
from rnnkit.tasks.music.audio import audio_available, find_soundfont, render_audio
from rnnkit.tasks.music.midi import write_midi

CHORD_THEN_SCALE = [[60, 64, 67]] * 4 + [[p] for p in (60, 62, 64, 65, 67, 69, 71, 72)]  # 12 steps
STEPS_PER_BEAT, TEMPO = 2, 120.0
SECONDS = len(CHORD_THEN_SCALE) / STEPS_PER_BEAT * 60.0 / TEMPO  # 6 beats at 120 a minute: 3 seconds


@pytest.fixture
def midi(tmp_path: Path) -> Path:
    return write_midi(CHORD_THEN_SCALE, tmp_path / "piece.mid", steps_per_beat=STEPS_PER_BEAT, tempo=TEMPO)


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """(sample rate, (N, channels) samples in -1..1) of a 16-bit WAV file."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2
        rate, channels = w.getframerate(), w.getnchannels()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, channels)
    return rate, samples / 32768.0


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2)))


def one_line_error(kind: type, call, starts: str = "") -> str:
    """The message of the ``kind`` error that ``call()`` raises: one line, starting with ``starts``."""
    with pytest.raises(kind) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and message.startswith(starts), message
    return message


def test_fluidsynth_and_a_soundfont_are_installed():
    assert audio_available(), "run `make install` (Debian: apt-get install fluidsynth timgm6mb-soundfont)"
    assert find_soundfont() is not None and find_soundfont().is_file()


@pytest.mark.parametrize("sample_rate", [22050, 44100])
def test_wav_has_the_rate_the_length_and_sound_of_the_piece(midi, tmp_path, sample_rate):
    out = render_audio(midi, tmp_path / "piece.wav", sample_rate=sample_rate)
    assert out == tmp_path / "piece.wav"
    rate, samples = read_wav(out)
    assert rate == sample_rate
    duration = len(samples) / rate
    assert SECONDS <= duration <= SECONDS + 4.0  # fluidsynth renders about 2-3 s past the last note off
    assert rms(samples[: int(SECONDS * rate)]) > 1e-3  # notes sound during the piece (measured: about 5e-3)
    assert rms(samples[-rate:]) < 3e-4  # and have died away a second before the end (measured: about 3e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["piece.mid", "piece.wav"]  # no temporary file left


def test_ogg_is_ogg_vorbis(midi, tmp_path):
    out = render_audio(midi, tmp_path / "piece.ogg")
    assert out.read_bytes()[:4] == b"OggS" and out.stat().st_size > 1000


def test_an_existing_file_is_kept_unless_overwrite(midi, tmp_path):
    out = tmp_path / "piece.wav"
    out.write_bytes(b"mine")
    one_line_error(FileExistsError, lambda: render_audio(midi, out), str(out))
    assert out.read_bytes() == b"mine"
    render_audio(midi, out, overwrite=True)
    assert read_wav(out)[0] == 22050
    assert sorted(p.name for p in tmp_path.iterdir()) == ["piece.mid", "piece.wav"]


def test_a_missing_or_broken_soundfont_is_refused_before_rendering(midi, tmp_path):
    # fluidsynth itself would render silence and exit with 0
    missing = tmp_path / "nowhere.sf2"
    message = one_line_error(ValueError, lambda: render_audio(midi, tmp_path / "a.wav", soundfont=missing),
                             str(missing))
    assert "cannot read the soundfont" in message
    one_line_error(ValueError, lambda: render_audio(midi, tmp_path / "a.wav", soundfont=midi), str(midi))
    assert not (tmp_path / "a.wav").exists()


def test_missing_fluidsynth_or_soundfont_names_the_debian_packages(midi, tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "SOUNDFONTS", (tmp_path / "none.sf2",))
    assert find_soundfont() is None and not audio_available()
    message = one_line_error(RuntimeError, lambda: render_audio(midi, tmp_path / "a.wav"), "no General MIDI")
    assert "timgm6mb-soundfont" in message
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth there
    message = one_line_error(RuntimeError, lambda: render_audio(midi, tmp_path / "a.wav"), "fluidsynth not found")
    assert "apt-get install fluidsynth" in message


def test_a_broken_midi_file_fails_with_fluidsynths_error(tmp_path):
    # fluidsynth exits with 0 here after logging the error: the error line still fails the render
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\xff\xff")  # a track cut short
    message = one_line_error(RuntimeError, lambda: render_audio(broken, tmp_path / "a.wav"), str(broken))
    assert "fluidsynth failed" in message and "error" in message
    not_midi = tmp_path / "text.mid"
    not_midi.write_text("hello")
    one_line_error(ValueError, lambda: render_audio(not_midi, tmp_path / "a.wav"), str(not_midi))
    one_line_error(FileNotFoundError, lambda: render_audio(tmp_path / "no.mid", tmp_path / "a.wav"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mid", "text.mid"]


def test_bad_settings_are_refused(midi, tmp_path):
    one_line_error(ValueError, lambda: render_audio(midi, tmp_path / "a.mp3"), str(tmp_path / "a.mp3"))
    one_line_error(ValueError, lambda: render_audio(midi, tmp_path / "a.wav", sample_rate=100), "sample_rate")


def test_ogg_is_refused_where_fluidsynth_cannot_write_it(midi, tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "_file_types", lambda program: ("raw", "wav"))  # a libsndfile without Vorbis
    message = one_line_error(ValueError, lambda: render_audio(midi, tmp_path / "a.ogg"), str(tmp_path / "a.ogg"))
    assert "cannot write .ogg" in message
    assert render_audio(midi, tmp_path / "a.wav").is_file()


def test_a_render_past_its_timeout_is_stopped(midi, tmp_path):
    long = write_midi([[60]] * 4000, tmp_path / "long.mid", steps_per_beat=1, tempo=TEMPO)  # 2000 seconds
    message = one_line_error(RuntimeError, lambda: render_audio(long, tmp_path / "a.wav", timeout=0.05), str(long))
    assert "ran past" in message
    assert not (tmp_path / "a.wav").exists()
