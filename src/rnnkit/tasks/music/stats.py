"""Do the samples sound like the data? Statistics of a set of piano-roll pieces, and their distance to another
set's, in the spirit of the "musically informed" metrics of Yang & Lerch (2020, "On the evaluation of
generative models in music") and the pitch-class and interval histograms of music information retrieval.

A note is an **onset**: a pitch sounding at step t but not at step t - 1 (at step 0, every pitch sounding).
A roll cannot tell a held note from the same note struck again on the next step, so both count as one note
(as ``write_midi`` plays them). Over a set of pieces, pooled (every note and step weighs the same, so a long
piece weighs more than a short one):

- ``pitch_class``: the share of onsets of each pitch class, C, C#, ..., B (12 bins). Onsets, not sounding
  steps, so that a long note counts as one note, as a listener counts it;
- ``note_density``: onsets a quarter-note beat;
- ``polyphony``: the share of steps with 0, 1, ..., 7 and 8 or more pitches sounding (9 bins), and
  ``polyphony_mean``, the mean number of pitches sounding at a step (silent steps included);
- ``interval``: the share of each melodic interval -12..+12 semitones (25 bins, larger leaps counted in the
  end bins) between successive onsets of the top voice: the highest pitch among the onsets of each step that
  has any (the "skyline" of Uitdenbogerd & Zobel 1999, taken over onsets), within a piece.

``compare`` sets two sets' statistics side by side with a distance for each: the Jensen-Shannon divergence
in bits (0: the same, 1: disjoint) for the histograms, the relative difference |g - r| / max(|g|, |r|)
(0..1) for the scalars, and one overall figure, the mean of the three histogram divergences.

>>> scale = [[p] for p in (60, 62, 64, 65, 67, 69, 71, 72)]
>>> piece_stats([scale], steps_per_beat=1)["interval"][12 + 2]  # the share of whole-tone steps up
0.7142857142857143
>>> compare([scale], [scale], steps_per_beat=1)["overall"]
0.0
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from rnnkit.tasks.music.preprocess import Piece

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAX_POLYPHONY = 8  # the last polyphony bin counts steps with this many pitches or more
MAX_INTERVAL = 12  # intervals are counted in -12..+12 semitones; larger leaps in the end bins
HISTOGRAMS = ("pitch_class", "polyphony", "interval")
SCALARS = ("note_density", "polyphony_mean")


def piece_stats(pieces: Sequence[Piece], steps_per_beat: int) -> dict[str, Any]:
    """The statistics of ``pieces`` on a grid of ``steps_per_beat`` steps a beat (the module's docstring
    defines them), as plain JSON types: ``pieces``, ``steps`` and ``notes`` (onsets) ints, ``beats``,
    ``note_density`` and ``polyphony_mean`` floats, and the histograms ``pitch_class`` (12 shares),
    ``polyphony`` (``MAX_POLYPHONY + 1``) and ``interval`` (``2 * MAX_INTERVAL + 1``, -12 first), each
    summing to 1, or all 0 when there is nothing to count (no notes, no steps, no two successive onsets).
    ValueError if ``steps_per_beat`` is not an int of at least 1."""
    if isinstance(steps_per_beat, bool) or not isinstance(steps_per_beat, int) or steps_per_beat < 1:
        raise ValueError(f"steps_per_beat must be an int of at least 1, got {steps_per_beat!r}")
    pitch_class = [0] * len(PITCH_CLASSES)
    polyphony = [0] * (MAX_POLYPHONY + 1)
    interval = [0] * (2 * MAX_INTERVAL + 1)
    steps = notes = sounding = 0
    for piece in pieces:
        top = None  # the top voice's last onset pitch in this piece
        for step_onsets, step in zip(onsets(piece), piece):
            steps += 1
            sounding += len(step)  # a step's pitches are distinct (``Piece``)
            polyphony[min(len(step), MAX_POLYPHONY)] += 1
            notes += len(step_onsets)
            for p in step_onsets:
                pitch_class[p % 12] += 1
            if step_onsets:
                if top is not None:
                    interval[_clamp(max(step_onsets) - top) + MAX_INTERVAL] += 1
                top = max(step_onsets)
    beats = steps / steps_per_beat
    return {"pieces": len(pieces), "steps": steps, "beats": beats, "notes": notes,
            "pitch_class": _shares(pitch_class), "note_density": notes / beats if beats else 0.0,
            "polyphony": _shares(polyphony), "polyphony_mean": sounding / steps if steps else 0.0,
            "interval": _shares(interval)}


def onsets(piece: Piece) -> list[list[int]]:
    """The sorted pitches starting at each step of ``piece``: sounding there but not at the step before.

    >>> onsets([[60, 64], [60, 64], [60, 67], [], [60]])
    [[60, 64], [], [67], [], [60]]
    """
    before: set[int] = set()
    starts = []
    for step in piece:
        now = set(step)
        starts.append(sorted(now - before))
        before = now
    return starts


def _clamp(semitones: int) -> int:
    return max(-MAX_INTERVAL, min(MAX_INTERVAL, semitones))


def _shares(counts: list[int]) -> list[float]:
    """``counts`` divided by their sum; all 0.0 when the sum is 0."""
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


# ---- comparing two sets -----------------------------------------------------------------------------------
def js_divergence(p: Sequence[float], q: Sequence[float]) -> float:
    """The Jensen-Shannon divergence of two histograms in bits, 0..1: the mean Kullback-Leibler divergence of
    each from their average (Lin 1991). Each is normalized to sum to 1 first. An all-zero histogram (nothing
    counted) is 0 from another all-zero one and 1, the maximum, from any other. ValueError if the lengths
    differ or a value is negative.

    >>> js_divergence([1, 0], [0, 1]), js_divergence([1, 3], [2, 6])
    (1.0, 0.0)
    """
    if len(p) != len(q) or any(v < 0 for v in [*p, *q]):
        raise ValueError(f"need two histograms of equal length and no negative values, got {list(p)}, {list(q)}")
    sum_p, sum_q = sum(p), sum(q)
    if not sum_p or not sum_q:
        return 0.0 if sum_p == sum_q else 1.0
    p, q = [v / sum_p for v in p], [v / sum_q for v in q]
    mean = [(a + b) / 2 for a, b in zip(p, q)]
    divergence = (_kl(p, mean) + _kl(q, mean)) / 2
    return min(1.0, max(0.0, divergence))  # rounding may stray just outside 0..1


def _kl(p: list[float], q: list[float]) -> float:
    """The Kullback-Leibler divergence of ``p`` from ``q`` in bits (q > 0 wherever p > 0)."""
    return sum(a * math.log2(a / b) for a, b in zip(p, q) if a > 0)


def relative_difference(generated: float, reference: float) -> float:
    """|generated - reference| / max(|generated|, |reference|): 0 when equal (both 0 included), at most 1
    for values of one sign, symmetric, and free of the division by zero of a difference relative to 0."""
    largest = max(abs(generated), abs(reference))
    return abs(generated - reference) / largest if largest else 0.0


def compare(generated: Sequence[Piece], reference: Sequence[Piece], steps_per_beat: int) -> dict[str, Any]:
    """The statistics of both sets of pieces and their distances, as plain JSON types::

        {"generated": piece_stats(generated, ...), "reference": piece_stats(reference, ...),
         "distance": {"pitch_class": JSD, "polyphony": JSD, "interval": JSD,          # bits, 0..1
                      "note_density": REL, "polyphony_mean": REL},                    # 0..1
         "overall": the mean of the three JSDs, "steps_per_beat": steps_per_beat}

    (``js_divergence`` and ``relative_difference``.) Identical statistics give 0 everywhere. ValueError as
    ``piece_stats``."""
    gen, ref = piece_stats(generated, steps_per_beat), piece_stats(reference, steps_per_beat)
    distance = {name: js_divergence(gen[name], ref[name]) for name in HISTOGRAMS}
    distance |= {name: relative_difference(gen[name], ref[name]) for name in SCALARS}
    overall = sum(distance[name] for name in HISTOGRAMS) / len(HISTOGRAMS)
    return {"generated": gen, "reference": ref, "distance": distance, "overall": overall,
            "steps_per_beat": steps_per_beat}


# ---- the picture ------------------------------------------------------------------------------------------
def stats_png(comparison: dict[str, Any]) -> bytes:
    """A PNG of ``compare``'s result: one panel per statistic (pitch classes, note density, polyphony,
    intervals), the generated set's bars beside the reference's, each panel titled with its distance."""
    from rnnkit.train.plots import new_figure

    gen, ref, distance = comparison["generated"], comparison["reference"], comparison["distance"]
    fig = new_figure(4, width=4.5, height=3.5)
    polyphony_labels = [str(n) for n in range(MAX_POLYPHONY)] + [f"{MAX_POLYPHONY}+"]
    interval_labels = [str(i) if i % 3 == 0 else "" for i in range(-MAX_INTERVAL, MAX_INTERVAL + 1)]
    panels = [("pitch_class", "pitch class", list(PITCH_CLASSES), "share of notes"),
              ("note_density", "note density", [""], "notes a beat"),
              ("polyphony", "polyphony", polyphony_labels, "share of steps"),
              ("interval", "top-voice interval", interval_labels, "share of intervals")]
    for ax, (name, title, labels, ylabel) in zip(fig.axes, panels):
        values = (gen[name], ref[name]) if name in HISTOGRAMS else ([gen[name]], [ref[name]])
        _bars(ax, labels, *values)
        what = "JSD" if name in HISTOGRAMS else "relative difference"
        ax.set(title=f"{title} ({what} {distance[name]:.3f})", ylabel=ylabel)
    fig.axes[2].set_xlabel(f"pitches sounding (mean {gen['polyphony_mean']:.2f} generated, "
                           f"{ref['polyphony_mean']:.2f} reference)")
    fig.axes[3].set_xlabel("semitones")
    fig.suptitle(f"generated ({gen['pieces']} pieces) vs reference ({ref['pieces']}): overall JSD "
                 f"{comparison['overall']:.3f} bits")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)  # into memory first: a drawing error writes nothing
    return buffer.getvalue()


def _bars(ax: Any, labels: list[str], generated: list[float], reference: list[float]) -> None:
    """Generated and reference values as pairs of bars, one pair per label, with a legend."""
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], generated, width=0.4, label="generated", color="tab:orange")
    ax.bar([i + 0.2 for i in x], reference, width=0.4, label="reference", color="tab:blue", alpha=0.7)
    ax.set_xticks(list(x), labels)
    ax.set_xlim(-0.8, len(labels) - 0.2)  # one pair of bars (note density) stays as narrow as the others
    ax.legend()
