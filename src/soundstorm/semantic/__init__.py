"""Semantic tokens: audio -> content ids, and their alignment to codec frames."""

from soundstorm.semantic.align import align, num_frames_at
from soundstorm.semantic.base import SemanticTokenizer

__all__ = ["SemanticTokenizer", "align", "num_frames_at"]
