"""Semantic tokens: audio -> content ids, and their alignment to codec frames.

- :func:`get_semantic_tokenizer` builds a tokenizer by name (``"default"``: embedded
  PocketSphinx phone ids, 50 Hz) or from a saved HuBERT / w2v-BERT k-means directory.
- :class:`HubertKMeansTokenizer` / :class:`W2VBertKMeansTokenizer` fit k-means on a hidden
  layer of a ``transformers`` speech model (imported lazily).
- :func:`align` resamples tokens to the codec's frame rate (repetition / nearest frame time).
"""

from soundstorm.kmeans import KMeans
from soundstorm.semantic.align import align, num_frames_at
from soundstorm.semantic.base import SemanticTokenizer
from soundstorm.semantic.kmeans_tokenizer import (
    HubertKMeansTokenizer,
    KMeansSemanticTokenizer,
    W2VBertKMeansTokenizer,
)
from soundstorm.semantic.phones import PhoneTokenizer
from soundstorm.semantic.registry import get_semantic_tokenizer
from soundstorm.semantic.text import text_to_semantic

__all__ = [
    "HubertKMeansTokenizer",
    "KMeans",
    "KMeansSemanticTokenizer",
    "PhoneTokenizer",
    "SemanticTokenizer",
    "W2VBertKMeansTokenizer",
    "align",
    "get_semantic_tokenizer",
    "num_frames_at",
    "text_to_semantic",
]
