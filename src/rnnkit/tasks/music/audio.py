"""Listening to pieces: a MIDI file rendered to WAV (or Ogg Vorbis) by the FluidSynth synthesizer.

FluidSynth is a program, not a Python dependency: ``render_audio`` runs the ``fluidsynth`` command line in
its fast-render mode (``fluidsynth -ni -q -F OUT -T TYPE -r RATE SOUNDFONT MIDI``: no shell, no MIDI input,
as fast as the CPU allows) with a General MIDI soundfont. On Debian both come from packages: ``fluidsynth``
and ``timgm6mb-soundfont`` (small, 6 MB) or ``fluid-soundfont-gm`` (FluidR3, 140 MB); ``make install`` puts
them in place. The rendered audio is 16-bit stereo and runs on two to three seconds after the last note ends,
so that its release fades out.

>>> write_midi([[60, 64, 67]] * 8, "out/c.mid", steps_per_beat=1, tempo=120.0)
PosixPath('out/c.mid')
>>> render_audio("out/c.mid", "out/c.wav")  # 4 seconds of a C major chord, then its release
PosixPath('out/c.wav')
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import wave
from pathlib import Path

from rnnkit.files import fsync_dir, unique_sibling

# What Debian's packages install: timgm6mb-soundfont and fluid-soundfont-gm each provide the alternative
# default-GM.sf2 and their own file; /usr/share/soundfonts/default.sf2 is where other distributions look.
SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
)
FILE_TYPES = {".wav": "wav", ".ogg": "oga"}  # out suffix -> fluidsynth's -T name (oga: Ogg Vorbis)
INSTALL = "apt-get install fluidsynth timgm6mb-soundfont"


def find_soundfont() -> Path | None:
    """The soundfont to render with when none is given: the first of ``SOUNDFONTS`` (the General MIDI
    soundfonts of Debian's packages) that exists, else None."""
    return next((path for path in SOUNDFONTS if path.is_file()), None)


def audio_available() -> bool:
    """Whether ``render_audio`` can run with its defaults: ``fluidsynth`` is on the PATH and a soundfont is
    found (``find_soundfont``) that exists."""
    soundfont = find_soundfont()
    return shutil.which("fluidsynth") is not None and soundfont is not None and soundfont.is_file()


def render_audio(midi_path: str | os.PathLike, out_path: str | os.PathLike, *,
                 soundfont: str | os.PathLike | None = None, sample_rate: int = 22050, overwrite: bool = False,
                 timeout: float = 300.0) -> Path:
    """Render the MIDI file ``midi_path`` to ``out_path`` with FluidSynth and return ``out_path`` as a Path.

    The suffix of ``out_path`` picks the format: ``.wav`` (16-bit PCM stereo) or ``.ogg`` (Ogg Vorbis, when
    this fluidsynth can write it), at ``sample_rate`` samples a second, with ``soundfont`` (default
    ``find_soundfont()``). The audio goes to a hidden temporary sibling first and is moved into place whole,
    never replacing an existing file unless ``overwrite``.

    Errors, each one line: ValueError for a bad setting, an unknown suffix, an ``.ogg`` this fluidsynth cannot
    write, or a ``soundfont`` that is missing or not a SoundFont (``PATH: problem``); FileNotFoundError or
    ValueError when ``midi_path`` is missing or not a MIDI file; FileExistsError (``PATH: already exists;
    ...``) when ``out_path`` exists and not ``overwrite``; RuntimeError when fluidsynth is not installed or no
    soundfont is found (naming the Debian packages), when fluidsynth fails or runs past ``timeout`` seconds
    (the last line of its error output) or writes no audio. On failure ``out_path`` is left as it was.
    """
    midi_path, out_path = Path(midi_path), Path(out_path)
    file_type = _file_type(out_path, sample_rate)
    program = _fluidsynth()
    _check_writes(program, out_path, file_type)
    font = _soundfont(soundfont)
    _check_midi(midi_path)
    if not overwrite and out_path.exists():  # the final link decides; this only saves rendering in vain
        raise _exists(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = unique_sibling(out_path, "tmp")
    try:
        _run(program, midi_path, tmp, file_type=file_type, font=font, sample_rate=sample_rate, timeout=timeout)
        _check_output(tmp, out_path, file_type)
        _place(tmp, out_path, overwrite=overwrite)
    finally:
        tmp.unlink(missing_ok=True)  # after a failure, or the second name left by os.link
    return out_path


# ---- checks before rendering -------------------------------------------------------------------------------
def _file_type(out_path: Path, sample_rate: int) -> str:
    """fluidsynth's ``-T`` name for ``out_path``'s suffix; ValueError for a bad suffix or sample rate."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 8000 <= sample_rate <= 96000:
        raise ValueError(f"sample_rate must be an int in 8000..96000 (fluidsynth's range), got {sample_rate!r}")
    suffix = out_path.suffix.lower()
    if suffix not in FILE_TYPES:
        raise ValueError(f"{out_path}: unknown audio suffix {out_path.suffix!r}; use one of {sorted(FILE_TYPES)}")
    return FILE_TYPES[suffix]


def _fluidsynth() -> str:
    """The path of the ``fluidsynth`` program; RuntimeError naming the Debian package when it is missing."""
    program = shutil.which("fluidsynth")
    if program is None:
        raise RuntimeError(f"fluidsynth not found on the PATH: install it (Debian: {INSTALL})")
    return program


def _check_writes(program: str, out_path: Path, file_type: str) -> None:
    """ValueError unless ``program`` can write ``file_type`` files: its list of ``-T`` types depends on how
    its libsndfile was built (Ogg Vorbis may be missing; without libsndfile there is only raw audio)."""
    types = _file_types(program)
    if file_type not in types:
        raise ValueError(f"{out_path}: this fluidsynth cannot write {out_path.suffix} files (its types: "
                         f"{', '.join(types) or 'none listed'})")


@functools.lru_cache(maxsize=4)
def _file_types(program: str) -> tuple[str, ...]:
    """The audio file types that ``program`` (a fluidsynth) lists for ``-T help``, asked once a process."""
    try:
        listed = subprocess.run([program, "-q", "-T", "help"], stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, errors="replace", timeout=30, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{program}: no answer to '-T help' in 30 seconds") from None
    return tuple(re.findall(r"'(\w+)'", listed.stdout + listed.stderr))  # 'aiff','au',...,'wav'


def _soundfont(soundfont: str | os.PathLike | None) -> Path:
    """The checked soundfont: ``soundfont`` or ``find_soundfont()``'s. fluidsynth renders silence, and exits
    with 0, when its soundfont is missing or broken, so the file is checked here: a RIFF file of form
    ``sfbk`` (SoundFont 2, and the compressed SoundFont 3)."""
    path = Path(soundfont) if soundfont is not None else find_soundfont()
    if path is None:
        raise RuntimeError(f"no General MIDI soundfont found: give a .sf2 file or install one "
                           f"(Debian: {INSTALL}, or fluid-soundfont-gm)")
    try:
        with open(path, "rb") as f:
            header = f.read(12)
    except OSError as err:
        raise ValueError(f"{path}: cannot read the soundfont: {err.strerror or err}") from None
    if header[:4] != b"RIFF" or header[8:12] != b"sfbk":
        raise ValueError(f"{path}: not a SoundFont file (.sf2)")
    return path


def _check_midi(midi_path: Path) -> None:
    """FileNotFoundError or ValueError unless ``midi_path`` is a file that starts as a standard MIDI file (so
    that fluidsynth's refusal, a vague ``No midi file specified!``, never has to be explained)."""
    if not midi_path.is_file():
        raise FileNotFoundError(f"{midi_path}: no such MIDI file")
    with open(midi_path, "rb") as f:
        if f.read(4) != b"MThd":
            raise ValueError(f"{midi_path}: not a standard MIDI file")


# ---- rendering ---------------------------------------------------------------------------------------------
def _run(program: str, midi_path: Path, tmp: Path, *, file_type: str, font: Path, sample_rate: int,
         timeout: float) -> None:
    """Run fluidsynth's fast render of ``midi_path`` into ``tmp``; RuntimeError if it fails or takes too long."""
    command = [program, "-ni", "-q", "-F", str(tmp), "-T", file_type, "-r", str(sample_rate), str(font),
               str(midi_path)]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
        raise RuntimeError(f"{midi_path}: fluidsynth ran past {timeout:g} seconds; stopped") from None
    # A MIDI file it cannot parse still exits with 0 (after a few silent samples), logging
    # "fluidsynth: error: Unexpected end of file": an error line counts as a failure too.
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    if done.returncode != 0 or errors:
        raise RuntimeError(f"{midi_path}: fluidsynth failed (exit {done.returncode}): "
                           f"{_last_line(errors or done.stderr.splitlines())}")


def _last_line(lines: list[str]) -> str:
    """The last non-blank line of ``lines``, stripped."""
    lines = [line.strip() for line in lines if line.strip()]
    return lines[-1] if lines else "no error output"


def _check_output(tmp: Path, out_path: Path, file_type: str) -> None:
    """RuntimeError when fluidsynth wrote nothing, or a WAV file of no samples; fsyncs what it wrote."""
    if not tmp.is_file() or tmp.stat().st_size == 0:
        raise RuntimeError(f"{out_path}: fluidsynth wrote no audio")
    if file_type == "wav":
        try:
            with wave.open(str(tmp), "rb") as w:
                frames = w.getnframes()
        except (wave.Error, EOFError) as err:
            raise RuntimeError(f"{out_path}: fluidsynth wrote a broken WAV file: {err}") from None
        if frames == 0:
            raise RuntimeError(f"{out_path}: fluidsynth wrote no audio (0 samples)")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())  # the data is on disk before its final name is


def _place(tmp: Path, out_path: Path, *, overwrite: bool) -> None:
    """Move ``tmp`` to ``out_path`` in one step, as ``rnnkit.files.write_atomic`` does."""
    if overwrite:
        os.replace(tmp, out_path)
    else:
        try:
            os.link(tmp, out_path)  # atomic, and unlike os.rename it refuses an existing target
        except FileExistsError:
            raise _exists(out_path) from None
    fsync_dir(out_path.parent)


def _exists(path: Path) -> FileExistsError:
    return FileExistsError(f"{path}: already exists; not replaced (overwrite=False)")
