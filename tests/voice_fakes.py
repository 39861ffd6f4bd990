"""Test inputs for the voice pipeline: speech-like tones, a tiny voice model directory, and a
recorder of the decoding options that reach ``generate_tokens``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from soundstorm import SoundStorm, SoundStormConfig
from soundstorm.codecs import EmbeddedCodec
from soundstorm.decoding import generate_tokens

SR = 16000


def tone(seconds: float, seed: int) -> np.ndarray:
    """Speech-like test audio: a gliding harmonic tone with noise bursts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    wav = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    wav += 0.05 * rng.standard_normal(t.shape) * (np.sin(2 * np.pi * 1.3 * t) > 0.6)
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


def make_voice_model(directory: Path, num_levels: int = 2, codebook_size: int = 16) -> Path:
    """A random tiny model with a fitted embedded codec and ``pipeline.json`` in ``directory``."""
    codec = EmbeddedCodec.fit(
        [torch.from_numpy(tone(6.0, s)) for s in range(2)],
        SR,
        num_levels=num_levels,
        codebook_size=codebook_size,
        num_iters=3,
    )
    torch.manual_seed(0)
    config = SoundStormConfig.tiny(
        num_levels=num_levels, codebook_size=codebook_size, cond_vocab_size=48
    )
    SoundStorm(config).save_pretrained(directory)
    codec.save(directory / "codec.safetensors")
    (directory / "pipeline.json").write_text(
        json.dumps({"codec": "codec.safetensors", "semantic": "default"})
    )
    return directory


def write_tones(root: Path, clips: tuple[tuple[str, float, int], ...]) -> Path:
    """Write ``root/NAME.wav`` for each ``(name, seconds, seed)`` with :func:`tone`."""
    import soundfile

    for name, seconds, seed in clips:
        soundfile.write(root / f"{name}.wav", tone(seconds, seed), SR)
    return root


def record_decode_options(monkeypatch, *modules) -> list:
    """Patch ``generate_tokens`` in each of ``modules`` to record the ``options`` of every call
    (decoding goes on as usual); returns the list they are appended to."""
    seen = []

    def recording(*args, options=None, **kwargs):
        seen.append(options)
        return generate_tokens(*args, options=options, **kwargs)

    for module in modules:
        monkeypatch.setattr(module, "generate_tokens", recording)
    return seen
