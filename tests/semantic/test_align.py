"""Tests of ``soundstorm.semantic.align``: repetition, nearest frame time, exact lengths."""

from __future__ import annotations

import math

import pytest
import torch

from soundstorm.errors import SoundStormError
from soundstorm.semantic import align
from soundstorm.semantic.align import num_frames_at, source_indices


def _centre_rule(num_frames: int, src_rate: float, dst_rate: float, num_src: int) -> list[int]:
    """Reference: the source frame whose span [i/src, (i+1)/src) holds each target centre."""
    out = []
    for j in range(num_frames):
        centre = (j + 0.5) / dst_rate
        i = 0
        while i + 1 < num_src and (i + 1) / src_rate <= centre + 1e-12:
            i += 1
        out.append(i)
    return out


def test_paper_25_to_50_hz_repeats_every_token_twice() -> None:
    tokens = torch.tensor([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]])
    out = align(tokens, 25, 50, num_frames=10)
    assert out.shape == (2, 10)
    assert torch.equal(out, tokens.repeat_interleave(2, dim=-1))


@pytest.mark.parametrize("ratio", [1, 2, 3, 4])
def test_integer_ratios_are_repetition(ratio: int) -> None:
    tokens = torch.randint(0, 500, (3, 17), generator=torch.Generator().manual_seed(ratio))
    out = align(tokens, 12.5, 12.5 * ratio, num_frames=17 * ratio)
    assert torch.equal(out, tokens.repeat_interleave(ratio, dim=-1))


def test_same_rate_is_identity() -> None:
    tokens = torch.arange(40).view(2, 20)
    assert torch.equal(align(tokens, 50, 50, 20), tokens)


def test_50_to_75_hz_picks_source_frame_under_each_target_centre() -> None:
    tokens = torch.arange(10)
    out = align(tokens, 50, 75, num_frames=15)
    # 75 Hz centres at (j + 0.5) / 75 s = 6.7, 20, 33.3, 46.7, 60 ms... fall in 50 Hz frames
    # [0, 20) [20, 40) [40, 60) ...: a centre on a boundary belongs to the later frame.
    assert out.tolist() == [0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9, 9]


@pytest.mark.parametrize(
    ("src_rate", "dst_rate"),
    [(50, 75), (25, 75), (50, 44100 / 512), (50, 12.5), (50, 25), (25, 24000 / 320), (75, 50)],
)
def test_non_integer_and_downsampling_follow_centre_rule(src_rate: float, dst_rate: float) -> None:
    num_src = 37
    num_frames = num_frames_at(num_src, src_rate, dst_rate)
    tokens = torch.arange(num_src) * 7
    out = align(tokens, src_rate, dst_rate, num_frames)
    expected = _centre_rule(num_frames, src_rate, dst_rate, num_src)
    assert out.tolist() == [7 * i for i in expected]
    # Order is kept and, when up-sampling, no source token is skipped.
    diffs = torch.diff(out)
    assert bool((diffs >= 0).all())
    if dst_rate >= src_rate:
        assert set(out.tolist()) == set(tokens.tolist())


def test_downsampling_by_two_keeps_one_of_each_pair() -> None:
    tokens = torch.arange(8)
    out = align(tokens, 50, 25, num_frames=4)
    assert out.tolist() == [1, 3, 5, 7]


@pytest.mark.parametrize("num_frames", [0, 1, 9, 10, 11, 25])
def test_exact_length_pads_with_last_token_or_truncates(num_frames: int) -> None:
    tokens = torch.tensor([[5, 6, 7, 8, 9]])
    out = align(tokens, 25, 50, num_frames)
    assert out.shape == (1, num_frames)
    full = tokens.repeat_interleave(2, dim=-1)[0].tolist()
    expected = (full + [9] * num_frames)[:num_frames]
    assert out[0].tolist() == expected


def test_one_and_two_dimensional_inputs_agree() -> None:
    tokens = torch.randint(0, 100, (4, 23), generator=torch.Generator().manual_seed(0))
    batched = align(tokens, 50, 75, 35)
    rows = torch.stack([align(row, 50, 75, 35) for row in tokens])
    assert batched.shape == (4, 35)
    assert torch.equal(batched, rows)
    assert align(tokens[0], 50, 75, 35).shape == (35,)


def test_keeps_dtype_and_leading_dims() -> None:
    tokens = torch.zeros(2, 3, 6, dtype=torch.int32)
    out = align(tokens, 25, 50, 12)
    assert out.shape == (2, 3, 12)
    assert out.dtype == torch.int32


def test_exact_rational_rates_do_not_drift_on_long_sequences() -> None:
    # One hour at 50 -> 75 Hz: the pattern 2k, 2k+1, 2k+1 must hold to the last frame.
    num_src = 50 * 3600
    idx = source_indices(75 * 3600, 50, 75, num_src)
    k = torch.arange(0, 75 * 3600 // 3)
    assert torch.equal(idx[3 * k], 2 * k)
    assert torch.equal(idx[3 * k + 1], 2 * k + 1)
    assert torch.equal(idx[3 * k + 2], 2 * k + 1)


def test_num_frames_at_matches_duration() -> None:
    assert num_frames_at(100, 25, 50) == 200
    assert num_frames_at(100, 50, 75) == 150
    assert num_frames_at(3, 50, 75) == round(3 * 1.5 + 1e-9)  # 4.5 -> 5 (halves up)
    assert num_frames_at(7, 50, 12.5) == math.floor(7 / 4 + 0.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"src_rate": 0, "dst_rate": 50, "num_frames": 4},
        {"src_rate": 25, "dst_rate": -1, "num_frames": 4},
        {"src_rate": 25, "dst_rate": float("nan"), "num_frames": 4},
        {"src_rate": 25, "dst_rate": 50, "num_frames": -1},
        {"src_rate": "25", "dst_rate": 50, "num_frames": 4},
    ],
)
def test_invalid_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(SoundStormError):
        align(torch.arange(5), **kwargs)


def test_empty_source_raises_but_empty_target_is_fine() -> None:
    with pytest.raises(SoundStormError, match="empty"):
        align(torch.zeros(2, 0, dtype=torch.long), 25, 50, 3)
    assert align(torch.zeros(2, 0, dtype=torch.long), 25, 50, 0).shape == (2, 0)
    with pytest.raises(SoundStormError):
        align(torch.tensor(3), 25, 50, 3)
