"""Shared fixtures: tiny deterministic models and inputs."""

from __future__ import annotations

import pytest
import torch

from soundstorm import SoundStorm, SoundStormConfig


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and immune to oversubscription


@pytest.fixture
def tiny_config() -> SoundStormConfig:
    return SoundStormConfig.tiny()


@pytest.fixture
def tiny_model(tiny_config) -> SoundStorm:
    torch.manual_seed(0)
    return SoundStorm(tiny_config).eval()


def random_inputs(config: SoundStormConfig, batch: int, frames: int, seed: int = 0):
    """Random ``codes [B,Q,T]`` (no mask id) and ``cond [B,T]``."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, config.codebook_size, (batch, config.num_levels, frames), generator=g)
    cond = torch.randint(0, config.cond_vocab_size, (batch, frames), generator=g)
    return codes, cond


@pytest.fixture(scope="session")
def voice_model_dir(tmp_path_factory):
    """A tiny random voice model with a fitted codec and ``pipeline.json`` (tests only read it)."""
    from tests.voice_fakes import make_voice_model

    return make_voice_model(tmp_path_factory.mktemp("voice_model") / "m")
