"""Semantic tokens: audio -> content ids, and their alignment to codec frames.

- :func:`get_semantic_tokenizer` builds a tokenizer by name (``"phones-words"``,
  ``"phones-moonshine"``, ``"phones"``: PocketSphinx phone ids, 50 Hz; the second takes its
  words from Moonshine tiny-en) or from a saved directory, dispatched by its
  recorded kind (one registry: ``soundstorm.semantic.registry``). The default tokenizer,
  Moonshine encoder features + k-means, is fitted by ``soundstorm prepare`` on your audio
  (``OUT_DIR/semantic_tokenizer``).
- :class:`FeaturesKMeansTokenizer` quantises the frames of any :class:`FeatureExtractor` with
  k-means (fit, save, load); :class:`HubertKMeansTokenizer` / :class:`W2VBertKMeansTokenizer`
  are it on a hidden layer of a ``transformers`` speech model (imported lazily).
- :func:`align` resamples tokens to the codec's frame rate (repetition / nearest frame time).
"""

from soundstorm.kmeans import KMeans
from soundstorm.semantic.align import align, num_frames_at
from soundstorm.semantic.base import SemanticTokenizer
from soundstorm.semantic.features_kmeans import FeatureExtractor, FeaturesKMeansTokenizer
from soundstorm.semantic.kmeans_tokenizer import (
    HubertKMeansTokenizer,
    KMeansSemanticTokenizer,
    W2VBertKMeansTokenizer,
)
from soundstorm.semantic.phones import PhoneTokenizer
from soundstorm.semantic.registry import (
    get_semantic_tokenizer,
    register_feature_extractor,
    register_saved_kind,
    register_semantic_tokenizer,
    semantic_choices,
)

__all__ = [
    "FeatureExtractor",
    "FeaturesKMeansTokenizer",
    "HubertKMeansTokenizer",
    "KMeans",
    "KMeansSemanticTokenizer",
    "PhoneTokenizer",
    "SemanticTokenizer",
    "W2VBertKMeansTokenizer",
    "align",
    "get_semantic_tokenizer",
    "num_frames_at",
    "register_feature_extractor",
    "register_saved_kind",
    "register_semantic_tokenizer",
    "semantic_choices",
    "text_to_semantic",
]


def __getattr__(name: str):
    """``text_to_semantic`` on first use: it imports the corpus voices (and ``soundfile``),
    which reading or exporting a model must not need (the GPU recipe has no ``soundfile``)."""
    if name == "text_to_semantic":
        from soundstorm.semantic.text import text_to_semantic

        return text_to_semantic
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
