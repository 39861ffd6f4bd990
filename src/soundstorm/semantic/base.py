"""The semantic-tokenizer interface: audio -> content tokens (one id per semantic frame)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


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
