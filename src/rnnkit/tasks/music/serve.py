"""Music endpoints: a piece composed after an optional MIDI primer, whole or streamed a time step at a time.

``length``, ``unit``, ``temperature``, ``seed`` and ``audio`` mean what they mean to ``rnnkit generate RUN
--length N --unit bars --temperature T --seed S --audio wav``, with the run's defaults (``GET /v1/models``
shows them); ``prime`` is the MIDI file of ``--prime FILE``, in base64. ``generate`` answers the piece
(primer first), its MIDI file and, where FluidSynth and a soundfont are installed
(``rnnkit.tasks.music.audio``), its sound (WAV or Ogg Vorbis);
``stream`` sends the same piece as server-sent events while the model samples it. An event run's frames are
its music on a grid of 4 steps a beat (``steps_per_beat``), and its MIDI file holds the notes themselves,
with their own timing and dynamics::

    event: primer   data: {"steps": [[60, 64, 67], ...], "length": 64}   the primer's time steps (maybe
                                                                         none), then how many to sample
                    data: {"step": 4, "pitches": [62, 65]}       one event a sampled step; step counts from
                    ...                                          the primer's first, so the first is its length
    event: end      data: {... as generate answers ...}         the whole piece, its MIDI file and audio
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from rnnkit.serve.declare import Router, Strict
from rnnkit.serve.errors import ApiError
from rnnkit.serve.server import ServedModel, Server
from rnnkit.serve.sse import stream_events
from rnnkit.tasks.music.generate_events import EventFrames
from rnnkit.tasks.music.preprocess import Piece

router = Router("music")
log = logging.getLogger("rnnkit.serve")

MAX_LENGTH = 2048  # time steps a request may sample, and a primer may hold: 20 minutes of quarter notes at 100
MAX_AUDIO_SECONDS = 180.0  # longer pieces come without audio: three minutes of WAV is 16 MB (22 kHz, 16-bit stereo)


class GenerateIn(Strict):
    prime: str | None = Field(None, description="a MIDI file, base64-encoded, whose notes the music continues "
                                                "(default: none)")
    length: float | None = Field(None, gt=0, allow_inf_nan=False,
                                 description="how much music to sample after the primer, in ``unit`` (default: the "
                                             "run's)")
    unit: Literal["bars", "beats", "steps", "seconds"] | None = Field(
        None, description="what length counts: bars (of 4 beats), beats, steps of the run's grid or seconds "
                          "(default: the run's)")
    temperature: float | None = Field(None, ge=0, allow_inf_nan=False,
                                      description="0 is greedy; higher is more varied (default: the run's)")
    audio: Literal["wav", "ogg", "none"] | None = Field(None, description="the sound sent with the piece "
                                                                          "(default: the run's)")
    seed: int | None = Field(None, ge=-(2**63), lt=2**64, description="the same seed gives the same piece")
    model: str | None = Field(None, description="which music model, when several are loaded")


class GenerateOut(BaseModel):
    model: str
    piece: list[list[int]] = Field(description="the MIDI pitches sounding at each time step, the primer's first")
    primer_steps: int = Field(description="how many of the first time steps are the primer's")
    steps_per_beat: int = Field(description="time steps a quarter-note beat")
    midi: str = Field(description="the piece as a standard MIDI file, base64-encoded")
    audio: str | None = Field(None, description="the piece as audio (WAV or Ogg, as asked), base64-encoded; null "
                                                "when not asked for, when the server cannot render audio, or the "
                                                "piece is longer than 3 minutes")
    audio_type: str | None = Field(None, description="the audio's media type: audio/wav or audio/ogg")


@router.endpoint("generate", Request=GenerateIn, Response=GenerateOut)
async def generate(server: Server, body: GenerateIn) -> GenerateOut:
    """A piece after the primer: its time steps, its MIDI file and (where the server renders audio) its sound."""
    served = server.model("music", body.model)
    options, audio = _options(served, body)
    primer, frames = await server.call(_open, served.pipeline, _prime(body.prime), options)
    new = await server.call(list, frames)
    return await _result(server, served, primer, new, audio, frames)


@router.endpoint("stream", Request=GenerateIn)
async def stream(server: Server, body: GenerateIn):
    """The piece as server-sent events: the primer, each time step as it is sampled, then the whole piece."""
    served = server.model("music", body.model)
    options, audio = _options(served, body)
    primer, frames = await server.call(_open, served.pipeline, _prime(body.prime), options)
    new: list[list[int]] = []

    async def end() -> dict:
        return (await _result(server, served, primer, new, audio, frames)).model_dump()

    return await stream_events(server, _events(primer, options["steps"], frames, new), end)


def _events(primer: Piece, length: int, frames: Iterator[list[int]],
            new: list[list[int]]) -> Iterator[tuple[str | None, dict]]:
    """The primer event, then one event a sampled step, each also kept in ``new``."""
    yield "primer", {"steps": primer, "length": length}
    for step, pitches in enumerate(frames, start=len(primer)):
        new.append(pitches)
        yield None, {"step": step, "pitches": pitches}


def _prime(prime: str | None) -> bytes:
    """The MIDI file of the request's ``prime`` (b"" for none); ApiError 400 when it is not base64."""
    try:
        return base64.b64decode(prime or "", validate=True)
    except binascii.Error as err:
        raise ApiError(400, f"prime: not a base64-encoded MIDI file ({err})") from None


def _options(served: ServedModel, body: GenerateIn) -> tuple[dict[str, Any], str]:
    """The sampling options of ``body`` (its length as time steps of the run's grid), the run's defaults where
    it leaves one out, and the audio format asked for. ApiError 400 for a length the run cannot take, 413 for
    more than ``MAX_LENGTH`` steps."""
    pipeline = served.pipeline
    given = body.model_dump(exclude_none=True)
    o = {**pipeline.defaults, **{k: v for k, v in given.items() if k in pipeline.defaults}}
    try:
        steps = pipeline.frames_for(o["length"], o["unit"])
    except ValueError as err:
        raise ApiError(400, str(err)) from None
    if steps > MAX_LENGTH:
        raise ApiError(413, f"length: {o['length']} {o['unit']} is {steps} time steps, more than {MAX_LENGTH}")
    options = {"length": o["length"], "unit": o["unit"], "temperature": o["temperature"], "seed": body.seed}
    return options | {"steps": steps}, o["audio"]


def _open(pipeline: Any, prime: bytes, options: dict[str, Any]) -> tuple[Piece, Iterator[list[int]]]:
    """The primer read from the MIDI file ``prime`` and the iterator of the new steps after it (nothing is
    sampled yet). ApiError 400 for a file the pipeline cannot read, 413 for a primer over ``MAX_LENGTH``."""
    with tempfile.TemporaryDirectory(prefix="rnnkit-music-") as folder:
        path = Path(folder) / "prime.mid"
        if prime:
            path.write_bytes(prime)
        where = str(path) if prime else ""
        try:
            primer = pipeline.primer(where)
            if len(primer) > MAX_LENGTH:
                raise ApiError(413, f"prime: {len(primer)} time steps, more than {MAX_LENGTH}")
            return primer, pipeline.stream(where, **{k: v for k, v in options.items() if k != "steps"})
        except ValueError as err:  # its messages name the file: the temporary one means the request's prime
            raise ApiError(400, str(err).replace(str(path), "prime")) from None


async def _result(server: Server, served: ServedModel, primer: Piece, new: Piece, audio: str,
                  frames: Iterator[list[int]]) -> GenerateOut:
    """The answer for the piece ``primer + new``: its MIDI file (an event run's from its notes, with their own
    timing and dynamics) and audio are written off the model thread."""
    pipeline = served.pipeline
    music = frames.notes() if isinstance(frames, EventFrames) else primer + new
    timeout = server.settings.request_timeout_s
    midi, sound = await asyncio.to_thread(_files, music, pipeline, audio, timeout)
    return GenerateOut(model=served.name, piece=primer + new, primer_steps=len(primer),
                       steps_per_beat=pipeline.steps_per_beat, midi=_base64(midi),
                       audio=None if sound is None else _base64(sound),
                       audio_type=None if sound is None else f"audio/{audio}")


def _files(music: Any, pipeline: Any, audio: str, timeout: float) -> tuple[bytes, bytes | None]:
    """The MIDI file of ``music`` (as ``rnnkit generate`` writes it) and its sound in the ``audio`` format, or
    None when none is asked for, the server cannot render audio, the piece is longer than
    ``MAX_AUDIO_SECONDS`` or rendering fails (logged)."""
    import mido

    from rnnkit.tasks.music.audio import audio_available, render_audio

    with tempfile.TemporaryDirectory(prefix="rnnkit-music-") as folder:
        midi_path = pipeline.write_music(music, Path(folder) / "piece.mid")
        midi = midi_path.read_bytes()
        if audio == "none" or not audio_available() or mido.MidiFile(midi_path).length > MAX_AUDIO_SECONDS:
            return midi, None
        try:
            sound = render_audio(midi_path, Path(folder) / f"piece.{audio}", timeout=timeout).read_bytes()
        except (RuntimeError, ValueError, OSError) as err:
            log.warning("music: no audio for a piece: %s", err)
            sound = None
    return midi, sound


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
