"""Piece statistics on hand-made pieces whose values are known by hand (a scale, a held chord, leaps), the
Jensen-Shannon divergence against values worked out on paper, the comparison of sets, and its picture."""

import json
import math

import pytest

from rnnkit.tasks.music.stats import (
    MAX_INTERVAL,
    MAX_POLYPHONY,
    compare,
    js_divergence,
    onsets,
    piece_stats,
    relative_difference,
    stats_png,
)

C_MAJOR = [[p] for p in (60, 62, 64, 65, 67, 69, 71, 72)]  # one note a step, C4 up to C5
C_CHORD = [[60, 64, 67]] * 4  # a C major triad held four steps


def interval(stats: dict, semitones: int) -> float:
    """The share of the interval ``semitones`` in ``stats``."""
    return stats["interval"][semitones + MAX_INTERVAL]


def test_onsets_start_where_a_pitch_was_silent_the_step_before():
    assert onsets([[60, 64], [60, 64], [60, 67], [], [60], [60]]) == [[60, 64], [], [67], [], [60], []]
    assert onsets([]) == []


def test_a_c_major_scale():
    stats = piece_stats([C_MAJOR], steps_per_beat=1)
    assert stats["notes"] == 8 and stats["steps"] == 8 and stats["beats"] == 8.0
    #                                             C      C# D      D# E      F      F# G      G# A      A# B
    assert stats["pitch_class"] == pytest.approx([2 / 8, 0, 1 / 8, 0, 1 / 8, 1 / 8, 0, 1 / 8, 0, 1 / 8, 0, 1 / 8])
    assert interval(stats, 2) == pytest.approx(5 / 7)  # C-D, D-E, F-G, G-A, A-B
    assert interval(stats, 1) == pytest.approx(2 / 7)  # E-F, B-C
    assert sum(stats["interval"]) == pytest.approx(1.0)
    assert stats["note_density"] == 1.0
    assert stats["polyphony"][1] == 1.0 and stats["polyphony_mean"] == 1.0


def test_note_density_counts_beats_not_steps():
    assert piece_stats([C_MAJOR], steps_per_beat=2)["note_density"] == 2.0  # 8 notes in 4 beats
    assert piece_stats([C_MAJOR], steps_per_beat=4)["beats"] == 2.0


def test_a_held_chord():
    stats = piece_stats([C_CHORD], steps_per_beat=1)
    assert stats["notes"] == 3  # held, not struck again
    assert stats["polyphony"][3] == 1.0 and stats["polyphony_mean"] == 3.0
    assert stats["note_density"] == 3 / 4
    assert stats["pitch_class"][0] == stats["pitch_class"][4] == stats["pitch_class"][7] == pytest.approx(1 / 3)
    assert stats["interval"] == [0.0] * (2 * MAX_INTERVAL + 1)  # one onset step: no interval


def test_polyphony_counts_silent_steps_and_clamps_large_chords():
    stats = piece_stats([[[60], [], [], list(range(40, 52))]], steps_per_beat=1)
    assert stats["polyphony"][0] == 0.5 and stats["polyphony"][1] == 0.25
    assert stats["polyphony"][MAX_POLYPHONY] == 0.25  # 12 pitches land in the "8+" bin
    assert stats["polyphony_mean"] == (1 + 12) / 4


def test_intervals_follow_the_top_onset_clamped_and_within_each_piece():
    struck_again = [[60], [], [60]]  # a gap, then the same pitch: interval 0
    assert interval(piece_stats([struck_again], 1), 0) == 1.0
    chords = [[60, 64, 67], [62, 65, 69]]  # top voice 67 -> 69
    assert interval(piece_stats([chords], 1), 2) == 1.0
    under_a_held_top = [[60, 72], [62, 72]]  # the only onset of step 1 is 62: 72 -> 62
    assert interval(piece_stats([under_a_held_top], 1), -10) == 1.0
    leaps = [[40], [80], [30]]  # +40 and -50 count as +12 and -12
    stats = piece_stats([leaps], 1)
    assert interval(stats, MAX_INTERVAL) == interval(stats, -MAX_INTERVAL) == 0.5
    two_pieces = piece_stats([[[60]], [[90]]], 1)  # no interval across the pieces
    assert sum(two_pieces["interval"]) == 0.0


@pytest.mark.parametrize("pieces", [[], [[]], [[[], [], []]]])
def test_empty_sets_and_silent_pieces_count_nothing(pieces):
    stats = piece_stats(pieces, steps_per_beat=4)
    assert stats["notes"] == 0 and stats["note_density"] == 0.0
    assert sum(stats["pitch_class"]) == 0.0 and sum(stats["interval"]) == 0.0
    assert stats["polyphony"][0] == (1.0 if stats["steps"] else 0.0)
    json.dumps(stats, allow_nan=False)


def test_js_divergence_against_values_worked_out_by_hand():
    assert js_divergence([1, 0], [0, 1]) == 1.0  # disjoint: the maximum, one bit
    assert js_divergence([0.2, 0.8], [1, 4]) == 0.0  # normalized first
    # p = (1/2, 1/2), q = (1, 0), mean (3/4, 1/4): (KL(p|m) + KL(q|m)) / 2
    kl_p = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_q = math.log2(1 / 0.75)
    assert js_divergence([0.5, 0.5], [1, 0]) == pytest.approx((kl_p + kl_q) / 2)
    assert js_divergence([0.5, 0.5], [1, 0]) == js_divergence([1, 0], [0.5, 0.5])
    assert js_divergence([0, 0], [0, 0]) == 0.0 and js_divergence([0, 0], [0, 1]) == 1.0
    with pytest.raises(ValueError):
        js_divergence([1, 0], [1, 0, 0])


def test_relative_difference():
    assert relative_difference(2.0, 1.0) == relative_difference(1.0, 2.0) == 0.5
    assert relative_difference(0.0, 0.0) == 0.0 and relative_difference(0.0, 3.0) == 1.0


def test_identical_sets_are_at_distance_zero():
    pieces = [C_MAJOR, C_CHORD, [[60], [], [62, 65]]]
    result = compare(pieces, [list(p) for p in pieces], steps_per_beat=2)
    assert result["overall"] == 0.0
    assert set(result["distance"].values()) == {0.0}
    assert result["generated"] == result["reference"]
    json.dumps(result, allow_nan=False)


def test_a_different_set_is_clearly_further_than_a_similar_one():
    reference = [C_MAJOR, C_CHORD]
    similar = [[[p + 12 for p in step] for step in C_MAJOR], C_CHORD, C_MAJOR]  # an octave up: same classes
    cluster = [[[61, 63, 66, 68, 70, 71, 73, 75, 78]] * 2 + [[30], [55], [90]]]  # black keys, wide leaps
    near = compare(similar, reference, steps_per_beat=1)
    far = compare(cluster, reference, steps_per_beat=1)
    assert near["overall"] < 0.05
    assert far["overall"] > 0.5 and far["overall"] > 10 * near["overall"]
    assert all(far["distance"][name] > 0.3 for name in ("pitch_class", "polyphony", "interval"))
    assert far["distance"]["polyphony_mean"] > 0.5


def test_nothing_against_something_is_the_largest_distance():
    result = compare([[[], []]], [C_MAJOR], steps_per_beat=1)
    assert result["distance"]["pitch_class"] == result["distance"]["interval"] == 1.0
    assert result["distance"]["note_density"] == 1.0
    assert compare([], [], steps_per_beat=1)["overall"] == 0.0


def test_bad_steps_per_beat_is_refused():
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="steps_per_beat"):
            piece_stats([C_MAJOR], bad)


@pytest.mark.parametrize("generated", [[C_CHORD, [[40], [80]]], []])
def test_the_picture_is_a_png(generated):
    png = stats_png(compare(generated, [C_MAJOR], steps_per_beat=1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
