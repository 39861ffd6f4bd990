"""Semantic tokens: audio -> content ids, and their alignment to codec frames.

- :func:`get_semantic_tokenizer` builds a tokenizer by name (``"default"``: embedded
  PocketSphinx phone ids) or from a saved HuBERT / w2v-BERT k-means directory.
- :func:`align` resamples tokens to the codec's frame rate (repetition / nearest frame time).
"""

from soundstorm.semantic.align import align, num_frames_at
from soundstorm.semantic.base import SemanticTokenizer
from soundstorm.semantic.registry import get_semantic_tokenizer

__all__ = ["SemanticTokenizer", "align", "get_semantic_tokenizer", "num_frames_at"]
