"""Do a trained model's samples sound like the data? After training, a run composes a few pieces without a
primer, sets their statistics beside the test split's (``rnnkit.tasks.music.stats``) and writes, beside the
run:

- ``samples.json``: the comparison (each statistic for both sets, a distance for each, one overall figure)
  and the generation speed;
- ``samples.png``: the statistics of both sets, side by side;
- ``sample.mid``, ``sample.mid.png`` and ``sample.wav`` (where FluidSynth renders audio): the first piece;
- ``report.html``: all of it on one page that plays the sample.

Event runs are compared on a grid of 4 steps a beat at the run's tempo (``data.bpm``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from torch import nn

from rnnkit.files import write_atomic
from rnnkit.tasks.music.events import EventCodec, Note
from rnnkit.tasks.music.preprocess import PianoRoll, Piece

ROLL_TEMPO = 100.0  # quarter notes a minute a piano-roll run's music is written and counted at (``write_midi``'s)
COUNT = 8  # pieces composed for the comparison
BARS = 16  # the length of each, in bars of 4 beats
EVENT_GRID = 4  # steps a beat event runs are compared on
log = logging.getLogger("rnnkit")


def compose_samples(model: nn.Module, preprocessor: PianoRoll | EventCodec, *, tempo: float, count: int = COUNT,
                    bars: int = BARS, temperature: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """``count`` pieces of ``bars`` bars sampled without a primer (seeds ``seed``, ``seed + 1``, ...) and the
    speed they were made at: ``{"pieces": [...] on the grid of "steps_per_beat", "notes": event runs' notes,
    "events": sampled events (time steps of a roll run), "seconds": wall time, "events_per_s": ...}``."""
    started = time.perf_counter()
    if isinstance(preprocessor, EventCodec):
        from rnnkit.tasks.music.generate_events import sample_events
        from rnnkit.tasks.music.midi import notes_to_piece

        seconds = bars * 4 * 60 / tempo
        notes = [sample_events(model, preprocessor, seconds=seconds, temperature=temperature, seed=seed + i)
                 for i in range(count)]
        elapsed = time.perf_counter() - started
        events = sum(len(preprocessor.encode(n)) for n in notes)
        pieces, grid = [notes_to_piece(n, 60 / (tempo * EVENT_GRID)) for n in notes], EVENT_GRID
    else:
        from rnnkit.tasks.music.generate import sample

        grid, notes = preprocessor.steps_per_beat, None
        pieces = [sample(model, preprocessor, steps=bars * 4 * grid, temperature=temperature, seed=seed + i)
                  for i in range(count)]
        elapsed = time.perf_counter() - started
        events = sum(map(len, pieces))
    return {"pieces": pieces, "steps_per_beat": grid, "notes": notes, "events": events, "seconds": elapsed,
            "events_per_s": events / max(elapsed, 1e-9)}


def reference_pieces(test: list[Piece] | list[list[Note]], preprocessor: PianoRoll | EventCodec, *,
                     tempo: float) -> list[Piece]:
    """The test split on the grid the samples are compared on."""
    if isinstance(preprocessor, EventCodec):
        from rnnkit.tasks.music.midi import notes_to_piece

        return [notes_to_piece(n, 60 / (tempo * EVENT_GRID)) for n in test]
    return test


def check_samples(model: nn.Module, preprocessor: PianoRoll | EventCodec, test: list, *, tempo: float,
                  **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(``compose_samples``' result, the comparison of its pieces with the test split's, speed included)."""
    from rnnkit.tasks.music.stats import compare

    made = compose_samples(model, preprocessor, tempo=tempo, **options)
    comparison = compare(made["pieces"], reference_pieces(test, preprocessor, tempo=tempo), made["steps_per_beat"])
    comparison["speed"] = {"events": made["events"], "seconds": made["seconds"], "events_per_s": made["events_per_s"],
                           "unit": "events" if isinstance(preprocessor, EventCodec) else "time steps"}
    return made, comparison


def write_samples(run_dir: Path, model: nn.Module, preprocessor: PianoRoll | EventCodec, test: list, *,
                  tempo: float) -> list[Path]:
    """Compose the samples, compare them with ``test`` and write the files of the module's list into
    ``run_dir``; returns their paths."""
    from rnnkit.report import Section, Table, format_number, write_report
    from rnnkit.tasks.music.audio import audio_available, render_audio
    from rnnkit.tasks.music.midi import write_midi, write_midi_notes
    from rnnkit.tasks.music.pipeline import piano_roll_png
    from rnnkit.tasks.music.stats import stats_png

    run_dir = Path(run_dir)
    made, comparison = check_samples(model, preprocessor, test, tempo=tempo)
    written = [write_atomic(run_dir / "samples.json", json.dumps(comparison, indent=1) + "\n", overwrite=True),
               write_atomic(run_dir / "samples.png", stats_png(comparison), overwrite=True)]
    midi = run_dir / "sample.mid"
    if made["notes"] is not None:
        written.append(write_midi_notes(made["notes"][0], midi, overwrite=True))
    else:
        written.append(write_midi(made["pieces"][0], midi, steps_per_beat=made["steps_per_beat"], tempo=tempo))
    written.append(write_atomic(run_dir / "sample.mid.png", piano_roll_png(made["pieces"][0], made["steps_per_beat"]),
                                overwrite=True))
    sound = None
    if audio_available():
        sound = render_audio(midi, run_dir / "sample.wav", overwrite=True)
        written.append(sound)
    else:
        log.warning("no sample.wav: FluidSynth or a General MIDI soundfont is missing")
    speed = comparison["speed"]
    rows = [[name, format_number(value)] for name, value in comparison["distance"].items()]
    sections = [
        Section("A sample", text=f"The first of {len(made['pieces'])} pieces of {BARS} bars composed without a "
                f"primer, at {speed['events_per_s']:,.0f} {speed['unit']} a second.",
                image=run_dir / "sample.mid.png", audio=sound),
        Section("Do the samples sound like the test pieces?",
                text=f"Overall distance {comparison['overall']:.3f} (the mean Jensen-Shannon divergence of the "
                     "three histograms, in bits: 0 is the same, 1 disjoint).",
                table=Table(["statistic", "distance"], rows), image=run_dir / "samples.png"),
    ]
    written.append(write_report(run_dir / "report.html", title="rnnkit music: samples", sections=sections))
    return written
