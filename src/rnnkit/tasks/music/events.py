"""Performance events: notes in seconds as a sequence of ids from a small vocabulary, the representation of
Performance RNN (Oore, Simon, Dieleman, Eck & Simonyan 2018, "This time with feeling: learning expressive
musical performance").

The vocabulary of ``EventCodec``, in this order of ids (P pitches ``low``..``high``, S shifts, V bins):

    note-on   p        ids 0 .. P-1            "on 60"          the pitch starts sounding
    note-off  p        ids P .. 2P-1           "off 60"         the pitch stops
    time-shift k       ids 2P .. 2P+S-1        "shift 120ms"    time moves on by k steps of ``time_step``
    velocity  b        ids 2P+S .. 2P+S+V-1    "velocity 78"    the velocity of the note-ons that follow

The paper moves time in 125 shifts of 8 ms; Magenta's released Performance RNN, and the defaults here, in
100 shifts of 10 ms (up to 1 s; a longer silence is a chain of shifts) and 32 velocity bins. A velocity
event is written only when the velocity bin changes, so music of one velocity (a piano roll) holds one.

>>> codec = EventCodec(low=60, high=72)
>>> ids = codec.encode([Note(60, 0.0, 0.5, 80), Note(64, 0.5, 1.25, 80)])
>>> [codec.token_name(i) for i in ids]
['velocity 78', 'on 60', 'shift 500ms', 'off 60', 'on 64', 'shift 750ms', 'off 64']
>>> codec.decode(ids)  # velocity 80 is in the bin of 77..80
[Note(pitch=60, start=0.0, end=0.5, velocity=78), Note(pitch=64, start=0.5, end=1.25, velocity=78)]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

DEFAULT_VELOCITY = 64  # note-ons before any velocity event (only a sampler's) take its bin's velocity


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class Note:
    """MIDI ``pitch`` (0..127) sounding from ``start`` to ``end`` seconds (0 <= start <= end) at ``velocity``
    (1..127). ValueError otherwise."""

    pitch: int
    start: float
    end: float
    velocity: int = 80

    def __post_init__(self) -> None:
        if not _is_int(self.pitch) or not 0 <= self.pitch <= 127:
            raise ValueError(f"Note: pitch must be an int in 0..127, got {self.pitch!r}")
        if not _is_int(self.velocity) or not 1 <= self.velocity <= 127:
            raise ValueError(f"Note: velocity must be an int in 1..127, got {self.velocity!r}")
        if not 0 <= self.start <= self.end < math.inf:
            raise ValueError(f"Note: need 0 <= start <= end (finite seconds), got start={self.start}, end={self.end}")


@dataclass
class EventCodec:
    """The event vocabulary of pitches ``low``..``high`` (inclusive MIDI numbers), time shifts of 1 ..
    ``shift_steps`` steps of ``time_step`` seconds and ``velocity_bins`` equal bins of the velocities 1..127.
    ValueError if a setting is out of range or of the wrong type."""

    low: int = 0
    high: int = 127
    time_step: float = 0.01
    shift_steps: int = 100
    velocity_bins: int = 32
    type: ClassVar[str] = "events"

    def __post_init__(self) -> None:
        if not all(_is_int(v) for v in (self.low, self.high, self.shift_steps, self.velocity_bins)):
            raise ValueError(f"EventCodec: low, high, shift_steps and velocity_bins must be ints, got {self}")
        if not 0 <= self.low <= self.high <= 127:
            raise ValueError(f"EventCodec: need 0 <= low <= high <= 127, got low={self.low}, high={self.high}")
        ok_step = isinstance(self.time_step, (int, float)) and not isinstance(self.time_step, bool)
        if not ok_step or not 0 < self.time_step < math.inf:
            raise ValueError(f"EventCodec: time_step must be a positive number of seconds, got {self.time_step!r}")
        if self.shift_steps < 1 or not 1 <= self.velocity_bins <= 127:
            raise ValueError(f"EventCodec: need shift_steps >= 1 and velocity_bins in 1..127, got "
                             f"shift_steps={self.shift_steps}, velocity_bins={self.velocity_bins}")

    @classmethod
    def fit(cls, pieces: Iterable[Sequence[Note]], *, margin: int = 0, **settings: Any) -> EventCodec:
        """The codec of the pitch range of ``pieces``, widened by ``margin`` semitones each side (within
        0..127); ``settings`` are the other fields. ValueError if the pieces hold no notes or ``margin`` < 0."""
        if margin < 0:
            raise ValueError(f"margin must be at least 0, got {margin}")
        pitches = [n.pitch for piece in pieces for n in piece]
        if not pitches:
            raise ValueError("no notes in the pieces: cannot fit a pitch range")
        return cls(max(0, min(pitches) - margin), min(127, max(pitches) + margin), **settings)

    # ---- the layout of the vocabulary ---------------------------------------------------------------------
    @property
    def pitches(self) -> int:
        return self.high - self.low + 1

    @property
    def size(self) -> int:
        """V, the number of event ids: 2 P + ``shift_steps`` + ``velocity_bins``."""
        return 2 * self.pitches + self.shift_steps + self.velocity_bins

    @property
    def _off(self) -> int:
        return self.pitches

    @property
    def _shift(self) -> int:
        return 2 * self.pitches

    @property
    def _velocity(self) -> int:
        return 2 * self.pitches + self.shift_steps

    def shift_of(self, event: int) -> int:
        """The steps of ``time_step`` that the id ``event`` moves time by: 0 unless it is a time shift."""
        return event - self._shift + 1 if self._shift <= event < self._velocity else 0

    def velocity_bin(self, velocity: int) -> int:
        """The bin (0 .. ``velocity_bins`` - 1) of a MIDI velocity 1..127: equal bins, the loudest last."""
        return (velocity - 1) * self.velocity_bins // 127

    def bin_velocity(self, b: int) -> int:
        """The velocity bin ``b`` decodes to: the middle of the velocities in the bin (rounded down)."""
        first = lambda k: 1 + -(-k * 127 // self.velocity_bins)  # noqa: E731 (the smallest velocity of bin k)
        return (first(b) + first(b + 1) - 1) // 2

    def token_name(self, event: int) -> str:
        """A readable name of the id ``event``: "on 60", "off 60", "shift 120ms" or "velocity 78" (the
        velocity it decodes to). ValueError if the id is not in the vocabulary."""
        self._check(event)
        if event < self._off:
            return f"on {self.low + event}"
        if event < self._shift:
            return f"off {self.low + event - self._off}"
        if event < self._velocity:
            return f"shift {round(self.shift_of(event) * self.time_step * 1000, 3):g}ms"
        return f"velocity {self.bin_velocity(event - self._velocity)}"

    def _check(self, event: int) -> None:
        if not 0 <= event < self.size:
            raise ValueError(f"event id {event} is not in the vocabulary of {self.size} events")

    # ---- notes <-> ids ------------------------------------------------------------------------------------
    def step(self, seconds: float) -> int:
        """The nearest step of the time grid to ``seconds`` (halves round up)."""
        return math.floor(seconds / self.time_step + 0.5)

    def encode(self, notes: Iterable[Note]) -> list[int]:
        """The event ids of ``notes``, time 0 at the start. Each note's start and end go to the nearest step
        (a note gets at least one step); notes of pitches outside ``low``..``high`` are dropped silently (fit
        the range on the data). A pitch sounds once at a time: a note that starts while another note of its
        pitch sounds ends that one (the longer of two starting on one step is kept). At one step note-offs
        come first, then note-ons, each by pitch, so ``decode`` gives the notes back."""
        events = []  # (step, 0 off / 1 on, pitch, velocity)
        for pitch, start, end, velocity in self._quantized(notes):
            events += [(start, 1, pitch, velocity), (end, 0, pitch, velocity)]
        ids, now, current = [], 0, None  # the time and the velocity bin so far
        for step, on, pitch, velocity in sorted(events):
            ids += self.shifts(step - now)
            now = step
            if not on:
                ids.append(self._off + pitch - self.low)
                continue
            if self.velocity_bin(velocity) != current:
                current = self.velocity_bin(velocity)
                ids.append(self._velocity + current)
            ids.append(pitch - self.low)
        return ids

    def _quantized(self, notes: Iterable[Note]) -> list[tuple[int, int, int, int]]:
        """(pitch, start step, end step, velocity) of the notes in range, at most one sounding a pitch."""
        by_pitch: dict[int, list[tuple[int, int, int]]] = {}
        for n in notes:
            if self.low <= n.pitch <= self.high:
                start = self.step(n.start)
                by_pitch.setdefault(n.pitch, []).append((start, max(self.step(n.end), start + 1), n.velocity))
        out = []
        for pitch, spans in by_pitch.items():
            spans.sort()
            for (start, end, velocity), following in zip(spans, [*spans[1:], None]):
                end = min(end, following[0]) if following else end  # the next note of the pitch ends this one
                if end > start:
                    out.append((pitch, start, end, velocity))
        return out

    def shifts(self, steps: int) -> list[int]:
        """The time-shift ids that move time on by ``steps`` (>= 0): the longest shifts first."""
        longest, rest = divmod(steps, self.shift_steps)
        return [self._velocity - 1] * longest + ([self._shift + rest - 1] if rest else [])

    def decode(self, ids: Iterable[int]) -> list[Note]:
        """The notes of any sequence of event ids, sorted by start then pitch. Whatever the order: a note-off
        of a silent pitch is ignored, a note-on of a sounding pitch ends its note first, a note of no length is
        dropped, notes still sounding end with the last time shift, and note-ons before any velocity event
        take the velocity of the bin of ``DEFAULT_VELOCITY``, so that the notes are on the codec's grid of
        times and velocities (encoding them gives ids that decode to them). ValueError only for an id outside
        the vocabulary."""
        notes, sounding = [], {}  # pitch -> (start step, velocity)
        now, velocity = 0, self.bin_velocity(self.velocity_bin(DEFAULT_VELOCITY))
        for event in map(int, ids):
            self._check(event)
            if event < self._shift:  # a note-on or a note-off: either ends the pitch's sounding note
                pitch = self.low + event % self.pitches
                if pitch in sounding:
                    notes.append(self._note(pitch, *sounding.pop(pitch), now))
                if event < self._off:
                    sounding[pitch] = (now, velocity)
            elif event < self._velocity:
                now += self.shift_of(event)
            else:
                velocity = self.bin_velocity(event - self._velocity)
        notes += [self._note(pitch, start, v, now) for pitch, (start, v) in sounding.items()]
        return sorted((n for n in notes if n is not None), key=lambda n: (n.start, n.pitch, n.end))

    def _note(self, pitch: int, start: int, velocity: int, end: int) -> Note | None:
        return Note(pitch, start * self.time_step, end * self.time_step, velocity) if end > start else None

    # ---- saving -------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: ``{"type": "events", "low", "high", "time_step", "shift_steps",
        "velocity_bins"}``."""
        return {"type": self.type, "low": self.low, "high": self.high, "time_step": self.time_step,
                "shift_steps": self.shift_steps, "velocity_bins": self.velocity_bins}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EventCodec:
        """The codec of ``to_dict``'s output. ValueError if ``d`` is not such a dict: another type, missing or
        unknown keys, values of the wrong type or out of range."""
        if not isinstance(d, dict) or d.get("type") != cls.type:
            raise ValueError(f"not an {cls.type!r} preprocessor: {d!r:.200}")
        fields = {"low", "high", "time_step", "shift_steps", "velocity_bins"}
        if set(d) - {"type"} != fields:
            raise ValueError(f"an {cls.type!r} preprocessor needs exactly {sorted(fields)}, got "
                             f"{sorted(set(d) - {'type'})}")
        return cls(**{k: d[k] for k in fields})


# ---- augmentation -----------------------------------------------------------------------------------------
def transpose_notes(notes: Sequence[Note], semitones: int, *, low: int = 0, high: int = 127) -> list[Note]:
    """``notes`` shifted by ``semitones`` (new notes). ValueError if a pitch would leave ``low``..``high``."""
    shifted = [replace(n, pitch=n.pitch + semitones) for n in notes if low <= n.pitch + semitones <= high]
    if len(shifted) < len(notes):
        raise ValueError(f"transposing by {semitones} takes a pitch outside {low}..{high}")
    return shifted


def note_shifts(notes: Sequence[Note], low: int, high: int, max_shift: int = 6) -> list[int]:
    """Every shift in -max_shift..max_shift that keeps the pitches of ``notes`` in ``low``..``high`` (the
    notes outside it, which a codec drops, aside): 0 first, then the others in increasing order. Notes
    without a pitch in range give [0]."""
    pitches = [n.pitch for n in notes if low <= n.pitch <= high]
    if not pitches:
        return [0]
    first, last = max(-max_shift, low - min(pitches)), min(max_shift, high - max(pitches))
    return sorted(range(first, last + 1), key=lambda s: (s != 0, s))
