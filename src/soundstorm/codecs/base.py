"""The codec interface: audio <-> residual-vector-quantized (RVQ) tokens.

Modelled on audiocraft's ``CompressionModel``. Every adapter (embedded default, EnCodec,
DAC, Mimi) implements this class; the rest of the project only talks to ``Codec``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class Codec(ABC):
    """Audio <-> RVQ codes.

    Shapes:
        wav: ``FloatTensor[B, C, S]`` at ``sample_rate`` (any C; mixed down to mono).
        codes: ``LongTensor[B, Q, T]`` with values in ``[0, codebook_size)``,
            ``T ~= S / sample_rate * frame_rate``.
    """

    name: str = "codec"

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Sample rate of the audio the codec works at (Hz)."""

    @property
    @abstractmethod
    def frame_rate(self) -> float:
        """Token frames per second."""

    @property
    @abstractmethod
    def num_levels(self) -> int:
        """Number of RVQ levels Q produced by ``encode``."""

    @property
    @abstractmethod
    def codebook_size(self) -> int:
        """Codebook size K of every level."""

    @abstractmethod
    def encode(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Encode audio ``[B, C, S]`` at ``sample_rate`` into codes ``[B, Q, T]``."""

    @abstractmethod
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Decode codes ``[B, Q', T]`` (Q' <= Q: coarse levels only) into audio ``[B, 1, S]``."""

    def config_dict(self) -> dict:
        """JSON-serialisable description stored in token files (name, rates, sizes)."""
        return {
            "name": self.name,
            "sample_rate": self.sample_rate,
            "frame_rate": self.frame_rate,
            "num_levels": self.num_levels,
            "codebook_size": self.codebook_size,
        }
