"""Throughput accounting, spectrogram images, TensorBoard output."""

from __future__ import annotations

import math

import pytest
import torch

from soundstorm import SoundStorm, SoundStormConfig
from soundstorm.flops import training_flops_per_frame
from soundstorm.train.metrics import MetricsLogger, spectrogram_image


def test_training_flops_count_one_head_and_no_embeddings():
    config = SoundStormConfig.tiny(depth=1)
    model = SoundStorm(config)
    body = sum(p.numel() for n, p in model.named_parameters() if n.startswith("blocks."))
    one_head = config.codebook_size * (config.dim + 1)
    assert training_flops_per_frame(model) == 6.0 * (body + one_head)


def test_spectrogram_image_is_normalised_with_low_frequencies_at_the_bottom():
    sample_rate = 8000
    t = torch.arange(sample_rate) / sample_rate
    image = spectrogram_image(torch.sin(2 * math.pi * 200 * t), n_fft=256, hop=64)
    assert image.shape == (1, 129, 1 + sample_rate // 64)
    assert float(image.min()) == 0.0 and float(image.max()) == pytest.approx(1.0)
    row_energy = image[0].mean(dim=1)
    assert int(row_energy.argmax()) > 120  # 200 Hz sits near the bottom row (flipped)


def test_logger_writes_scalars_audio_and_keeps_history(tmp_path):
    pytest.importorskip("tensorboard")
    metrics = MetricsLogger(tmp_path, enabled=True, tensorboard=True)
    metrics.scalars({"train/loss": 1.5, "train/accuracy/level_0": 0.2}, step=3)
    metrics.audio("audio/x", torch.randn(4000) * 3, 8000, step=3)
    metrics.close()
    assert metrics.history == [(3, {"train/loss": 1.5, "train/accuracy/level_0": 0.2})]
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 1000  # the audio and the image are in it
    silent = MetricsLogger(tmp_path / "other", enabled=False, tensorboard=True)
    silent.scalars({"train/loss": 1.0}, step=1)
    assert silent.history == [] and not (tmp_path / "other").exists()
