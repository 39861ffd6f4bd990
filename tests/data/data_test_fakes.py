"""Small deterministic stand-ins for a codec and a semantic tokenizer, plus audio helpers.

They let the data tests run without the real codecs: codes are a quantisation of each
frame's energy and zero-crossing rate, so different audio gives different codes, and the
same audio always gives the same codes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch

from soundstorm.codecs.base import Codec
from soundstorm.semantic.base import SemanticTokenizer


class FakeEnergyCodec(Codec):
    """8 kHz, 50 frames/s, Q levels of K codes from framewise energy quantisation."""

    name = "fake-energy"

    def __init__(self, num_levels: int = 4, codebook_size: int = 16) -> None:
        self._num_levels = num_levels
        self._codebook_size = codebook_size

    sample_rate = 8000
    frame_rate = 50.0

    @property
    def num_levels(self) -> int:
        return self._num_levels

    @property
    def codebook_size(self) -> int:
        return self._codebook_size

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        hop = self.sample_rate // int(self.frame_rate)
        num_frames = -(-wav.shape[-1] // hop)
        padded = torch.nn.functional.pad(wav, (0, num_frames * hop - wav.shape[-1]))
        frames = padded.reshape(wav.shape[0], num_frames, hop)  # (B, T, hop)
        energy = frames.pow(2).mean(-1).sqrt()  # (B, T)
        levels = [
            ((energy * 4.0 * (q + 1) * self.codebook_size).floor()) for q in range(self.num_levels)
        ]
        codes = torch.stack(levels, dim=1).long() % self.codebook_size  # (B, Q, T)
        return codes

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        hop = self.sample_rate // int(self.frame_rate)
        amplitude = codes[:, 0].float() / self.codebook_size  # (B, T)
        t = torch.arange(codes.shape[-1] * hop) / self.sample_rate
        carrier = torch.sin(2 * torch.pi * 220.0 * t)  # (S,)
        return (amplitude.repeat_interleave(hop, dim=-1) * carrier)[:, None]  # (B, 1, S)


class FakeZeroCrossingTokenizer(SemanticTokenizer):
    """25 ids/s: the zero-crossing rate of each 40 ms window, quantised to ``vocab`` ids."""

    name = "fake-zcr"
    frame_rate = 25.0

    def __init__(self, vocab: int = 8) -> None:
        self._vocab = vocab

    @property
    def vocab_size(self) -> int:
        return self._vocab

    def _tokenize(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        mono = wav.float().mean(dim=1)  # (B, S)
        window = int(sample_rate / self.frame_rate)
        num_frames = max(1, -(-mono.shape[-1] // window))
        padded = torch.nn.functional.pad(mono, (0, num_frames * window - mono.shape[-1]))
        frames = padded.reshape(mono.shape[0], num_frames, window)
        crossings = (frames[..., 1:].sign() != frames[..., :-1].sign()).float().mean(-1)
        return (crossings * self._vocab).floor().long().clamp(0, self._vocab - 1)  # (B, T_sem)


def write_tone(
    path: Path, seconds: float, freq: float, sample_rate: int = 8000, seed: int = 0
) -> Path:
    """A tone with a slowly varying envelope plus a little noise, as 16-bit wav."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    envelope = 0.2 + 0.15 * np.sin(2 * np.pi * 1.5 * t + seed)
    wav = envelope * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), wav.astype(np.float32), sample_rate, subtype="PCM_16")
    return path


def write_corpus(root: Path, num_files: int = 10) -> list[Path]:
    """``num_files`` short tones (0.6 to 1.5 s) in two speaker folders."""
    paths = []
    for i in range(num_files):
        seconds = 0.6 + 0.1 * (i % 10)
        speaker = "spk_a" if i % 2 == 0 else "spk_b"
        paths.append(write_tone(root / speaker / f"utt_{i:03d}.wav", seconds, 150 + 40 * i, seed=i))
    return paths


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> content), for identity checks."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
