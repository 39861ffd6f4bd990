"""Fixtures for the evaluation tests: speech synthesised by Debian ``flite`` inside the tests.

flite is installed by ``scripts/install-system-deps`` (Debian package ``flite``). Its voices
``slt`` (female), ``awb`` and ``rms`` (male) give same-voice and different-voice pairs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

FOX = "The quick brown fox jumps over the lazy dog near the river bank."
WEATHER = "It was a bright cold day in April and the clocks were striking thirteen."
PROMPT = "A short sentence that shows how this speaker sounds."

SPEECH = {
    "slt_fox": ("slt", FOX),
    "slt_weather": ("slt", WEATHER),
    "slt_prompt": ("slt", PROMPT),
    "awb_fox": ("awb", FOX),
    "rms_weather": ("rms", WEATHER),
}


def synthesize(voice: str, text: str, path: Path) -> Path:
    """Speak ``text`` with flite ``voice`` into a 16 kHz wav at ``path``."""
    flite = shutil.which("flite")
    if flite is None:
        pytest.fail("Debian flite is missing: run scripts/install-system-deps (apt flite)")
    subprocess.run([flite, "-voice", voice, "-t", text, "-o", str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def speech_files(tmp_path_factory) -> dict[str, Path]:
    """Name -> wav file of flite speech (see ``SPEECH``), synthesised once per session."""
    folder = tmp_path_factory.mktemp("flite")
    return {name: synthesize(v, t, folder / f"{name}.wav") for name, (v, t) in SPEECH.items()}


@pytest.fixture(scope="session")
def speech(speech_files) -> dict[str, np.ndarray]:
    """Name -> mono float32 audio at 16 kHz."""
    out = {}
    for name, path in speech_files.items():
        audio, rate = soundfile.read(str(path), dtype="float32")
        assert rate == 16_000
        out[name] = audio
    return out


class MuLawCodec:
    """A toy codec for tests: 8-bit mu-law per sample at 24 kHz; codes ``[B, 1, S]``."""

    name = "mulaw"
    sample_rate = 24_000
    frame_rate = 24_000.0
    num_levels = 1
    codebook_size = 256

    def encode(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        assert sample_rate == self.sample_rate and wav.dim() == 3
        x = wav.mean(dim=1, keepdim=True).clamp(-1, 1)
        y = torch.sign(x) * torch.log1p(255 * x.abs()) / np.log(256.0)
        return ((y + 1) / 2 * 255).round().long()

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        y = codes.float() / 255 * 2 - 1
        return torch.sign(y) * ((256.0 ** y.abs()) - 1) / 255


class SilenceCodec(MuLawCodec):
    """A broken codec that decodes everything to silence."""

    name = "silence"

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return torch.zeros(codes.shape[0], 1, codes.shape[-1])
