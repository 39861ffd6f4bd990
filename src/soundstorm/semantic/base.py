"""The semantic-tokenizer interface: audio -> content tokens (one id per semantic frame)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from soundstorm.errors import SoundStormError


class SemanticTokenizer(ABC):
    """Audio -> semantic token ids.

    Shapes:
        wav: ``FloatTensor[B, C, S]`` at ``sample_rate``.
        tokens: ``LongTensor[B, T_sem]`` with values in ``[0, vocab_size)`` at ``frame_rate``.
    """

    name: str = "semantic"

    @property
    @abstractmethod
    def frame_rate(self) -> float:
        """Semantic frames per second."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of distinct token ids."""

    @abstractmethod
    def tokenize(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Tokenize audio ``[B, C, S]`` into ids ``[B, T_sem]``."""

    def config_dict(self) -> dict:
        """JSON-serialisable description stored in token files."""
        return {"name": self.name, "frame_rate": self.frame_rate, "vocab_size": self.vocab_size}


def mono_resampled(wav: torch.Tensor, sample_rate: int, target_rate: int) -> torch.Tensor:
    """Mix audio down to mono and resample it (soxr, high quality) for a tokenizer's model.

    Args:
        wav: ``FloatTensor[B, C, S]`` at ``sample_rate``.
        sample_rate: Sample rate of ``wav`` (Hz).
        target_rate: Sample rate the tokenizer's model expects (Hz).

    Returns:
        ``FloatTensor[B, S']`` (float32, CPU) with ``S' ~= S * target_rate / sample_rate``.

    Raises:
        SoundStormError: if ``wav`` is not 3-D or the sample rate is not positive.
    """
    if not isinstance(wav, torch.Tensor) or wav.dim() != 3:
        shape = tuple(wav.shape) if isinstance(wav, torch.Tensor) else type(wav).__name__
        raise SoundStormError(f"audio must be a tensor of shape [B, C, S], got {shape}")
    if not sample_rate or sample_rate <= 0:
        raise SoundStormError(f"sample_rate must be positive, got {sample_rate!r}")
    mono = wav.detach().float().mean(dim=1).cpu()  # (B, C, S) -> (B, S)
    if sample_rate == target_rate or mono.shape[-1] == 0:
        return mono.contiguous()
    import soxr

    # soxr takes (frames, channels): the batch rides along as channels.
    resampled = soxr.resample(mono.numpy().T, sample_rate, target_rate, quality="HQ")
    return torch.from_numpy(np.ascontiguousarray(resampled.T, dtype=np.float32))
