"""One FLOP formula and one table of device peaks, shared by bench, benchmarks and training."""

from __future__ import annotations

import pytest
import torch

from soundstorm import SoundStorm, SoundStormConfig
from soundstorm.flops import (
    PEAK_BF16_FLOPS,
    forward_flops,
    guess_peak_flops,
    matmul_parameters,
    training_flops_per_frame,
)


def test_forward_and_training_flops_count_the_same_parameters():
    config = SoundStormConfig.tiny(depth=2)
    model = SoundStorm(config)
    body = sum(p.numel() for n, p in model.named_parameters() if n.startswith("blocks."))
    head = config.codebook_size * (config.dim + 1)
    assert matmul_parameters(model) == body + head
    assert matmul_parameters(model, level_only=False) == body + config.num_levels * head
    frames = 30
    attention = 4.0 * config.depth * frames**2 * config.dim
    assert model.flops_per_forward(frames) == forward_flops(model, frames)
    assert forward_flops(model, frames) == 2.0 * (body + head) * frames + attention
    assert (
        training_flops_per_frame(model) == 3 * (forward_flops(model, frames) - attention) / frames
    )
    with pytest.raises(ValueError, match="num_frames"):
        forward_flops(model, -1)


def test_peak_table_is_matched_most_specific_first():
    keys = list(PEAK_BF16_FLOPS)
    for i, key in enumerate(keys):
        for shorter in keys[:i]:
            assert shorter not in key, f"{key!r} would be read as {shorter!r}"
    assert guess_peak_flops(torch.device("cpu")) == 0.0
