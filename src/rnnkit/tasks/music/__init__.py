"""Task ``music``: polyphonic music on a piano-roll grid (``rnnkit train music --data chorales.json``).

Preprocessor schema (``meta.json["preprocessor"]``, ``PianoRoll.to_dict``): ``{"type": "pianoroll",
"low": int, "high": int, "steps_per_beat": int}``: the inclusive MIDI pitch range of the roll's columns
and the time grid in steps a beat.
"""

from rnnkit.tasks.music.config import MusicDataConfig, MusicModelConfig, MusicRun
from rnnkit.tasks.music.task import MusicTask

TASK = MusicTask()

__all__ = ["TASK", "MusicDataConfig", "MusicModelConfig", "MusicRun", "MusicTask"]
