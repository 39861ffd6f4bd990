"""Acoustic consistency curves, segment bounds and the real-time factor."""

from __future__ import annotations

import numpy as np
import pytest

from soundstorm.evaluate.consistency import (
    acoustic_consistency,
    fit_slope,
    real_time_factor,
    segment_bounds,
)


@pytest.mark.parametrize("num_samples", [0, 7, 10, 14, 15, 16, 30, 34, 35, 99])
def test_segment_bounds_tile_the_audio(num_samples):
    bounds = segment_bounds(num_samples, 10)
    assert len(bounds) == int(np.floor(num_samples / 10 + 0.5))
    for (_, end), (start, _) in zip(bounds, bounds[1:]):
        assert end == start
    if bounds:
        assert bounds[0][0] == 0
        assert abs(bounds[-1][1] - num_samples) <= 5  # within half a window
        assert all(10 / 2 <= end - start <= 10 for start, end in bounds)


def test_segment_bounds_rejects_empty_windows():
    with pytest.raises(ValueError):
        segment_bounds(100, 0)


def test_fit_slope_skips_missing_points():
    assert fit_slope([0.0, 1.0, 2.0, 3.0], [1.0, None, 3.0, 4.0]) == pytest.approx(1.0, abs=0.2)
    assert fit_slope([0.0, 1.0], [1.0, None]) is None


def test_curve_length_matches_duration_and_same_voice_beats_other_voice(speech):
    generated = np.concatenate([speech["slt_fox"], speech["slt_weather"]])
    seconds = generated.size / 16_000
    for segment in (1.0, 1.5):
        curve = acoustic_consistency(generated, speech["slt_prompt"], segment_seconds=segment)
        assert len(curve.times) == len(curve.similarities) == round(seconds / segment)
        assert np.diff(curve.times)[:-1] == pytest.approx(segment)  # the last may be partial
        assert curve.times[-1] + segment / 2 == pytest.approx(seconds, abs=segment / 2)
    other = acoustic_consistency(speech["awb_fox"], speech["slt_prompt"])
    assert curve.mean > other.mean + 0.1
    assert isinstance(curve.slope_per_second, float)


def test_voice_change_shows_as_negative_slope(speech):
    drifting = np.concatenate([speech["slt_weather"], speech["awb_fox"]])
    steady = np.concatenate([speech["slt_weather"], speech["slt_fox"]])
    drift = acoustic_consistency(drifting, speech["slt_prompt"], segment_seconds=1.5)
    keep = acoustic_consistency(steady, speech["slt_prompt"], segment_seconds=1.5)
    assert drift.slope_per_second < 0
    assert drift.slope_per_second < keep.slope_per_second - 0.02


def test_silent_windows_get_no_point(speech):
    pause = np.zeros(2 * 16_000, dtype=np.float32)
    generated = np.concatenate([speech["slt_fox"][: 2 * 16_000], pause])
    curve = acoustic_consistency(generated, speech["slt_prompt"])
    assert len(curve.similarities) == 4
    assert curve.similarities[2:] == [None, None]
    assert all(s is not None for s in curve.similarities[:2])
    assert curve.to_dict()["similarities"][-1] is None


def test_consistency_needs_a_prompt():
    with pytest.raises(ValueError, match="prompt"):
        acoustic_consistency(np.ones(16_000, dtype=np.float32), None)


def test_real_time_factor():
    assert real_time_factor(0.5, 10.0) == pytest.approx(0.05)
    with pytest.raises(ValueError):
        real_time_factor(1.0, 0.0)
    with pytest.raises(ValueError):
        real_time_factor(-1.0, 1.0)
