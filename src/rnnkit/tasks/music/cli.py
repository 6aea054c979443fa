"""The ``music`` task's options of ``rnnkit generate``: what ``--length`` counts, and the sound written beside
the MIDI file. The HTTP API takes the same names (``unit``, ``audio``) with the same defaults
(``rnnkit.tasks.music.pipeline.DEFAULTS``)."""

from __future__ import annotations

from rnnkit.tasks.base import Option

UNIT = Option("--unit", "what --length counts: bars (of 4 beats), beats, seconds, or steps of a piano-roll "
              "run's grid (default bars)", str, "UNIT")
AUDIO = Option("--audio", "the sound written beside the MIDI file, FILE.wav or FILE.ogg: wav, ogg or none "
               "(default wav; needs FluidSynth and a General MIDI soundfont)", str, "FORMAT")
SOUNDFONT = Option("--soundfont", "the SoundFont (.sf2) to play the music with (default: the General MIDI "
                   "soundfont of Debian's packages)", str, "SF2")
GENERATE_OPTIONS = [UNIT, AUDIO, SOUNDFONT]
