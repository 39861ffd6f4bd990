"""HuBERT and w2v-BERT 2.0 semantic tokenizers: a hidden layer's features -> k-means ids.

These are the generic features + k-means tokenizer (``soundstorm.semantic.features_kmeans``)
on the ``transformers`` layer extractors of ``soundstorm.semantic.hf_features``, under the
names and signatures they have always had; fit, save and load are the generic ones.

Example::

    tokenizer = HubertKMeansTokenizer.fit("facebook/hubert-base-ls960", wavs, 16000,
                                          layer=6, num_clusters=500)
    tokenizer.save("runs/hubert_l6_k500")
    tokenizer = get_semantic_tokenizer("runs/hubert_l6_k500")
    tokens = tokenizer.tokenize(wav, 24000)  # [B, C, S] -> [B, T_sem], 50 Hz
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import ClassVar

import torch

from soundstorm.kmeans import KMeans
from soundstorm.semantic.features_kmeans import (
    CENTROIDS_NAME,
    FeaturesKMeansTokenizer,
    check_chunk_seconds,
)
from soundstorm.semantic.hf_features import (
    HubertFeatures,
    TransformersLayerFeatures,
    W2VBertFeatures,
)
from soundstorm.semantic.registry import CONFIG_NAME

__all__ = [
    "CENTROIDS_NAME",
    "CONFIG_NAME",
    "KMEANS_TOKENIZERS",
    "HubertKMeansTokenizer",
    "KMeansSemanticTokenizer",
    "TransformersKMeansTokenizer",
    "W2VBertKMeansTokenizer",
]

#: The generic tokenizer under its former name.
KMeansSemanticTokenizer = FeaturesKMeansTokenizer


class TransformersKMeansTokenizer(FeaturesKMeansTokenizer):
    """k-means over one layer of a ``transformers`` speech model (``features_class``).

    Args:
        model_name_or_path: Local directory or hub id of the pretrained speech model.
        layer: Hidden layer whose output is quantised (0 = transformer input,
            ``num_hidden_layers`` = last layer).
        kmeans: Fitted quantiser (``kmeans.dim`` must equal the model's hidden size); None
            gives a feature extractor only (used while fitting).
        device: Torch device the speech model runs on.
        chunk_seconds: See ``FeaturesKMeansTokenizer``.
    """

    features_class: ClassVar[type[TransformersLayerFeatures]] = TransformersLayerFeatures

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        layer: int,
        kmeans: KMeans | None = None,
        device: str | torch.device = "cpu",
        chunk_seconds: float | None = 30.0,
    ) -> None:
        check_chunk_seconds(chunk_seconds)  # before the model loads
        extractor = self.features_class(model_name_or_path, layer, device=device)
        super().__init__(extractor, kmeans, chunk_seconds)

    @property
    def model(self) -> torch.nn.Module:
        """The (cut) speech model."""
        return self.extractor.model

    @property
    def model_name_or_path(self) -> str:
        """Where the speech model was loaded from."""
        return self.extractor.model_name_or_path

    @property
    def layer(self) -> int:
        """The quantised hidden layer."""
        return self.extractor.layer

    @property
    def device(self) -> torch.device:
        """The speech model's device."""
        return self.extractor.device

    @classmethod
    def fit(
        cls,
        model_name_or_path: str | os.PathLike,
        wavs: torch.Tensor | Iterable[torch.Tensor],
        sample_rate: int,
        layer: int,
        num_clusters: int,
        device: str | torch.device = "cpu",
        num_iters: int = 50,
        max_frames: int | None = 200_000,
        seed: int = 0,
    ) -> TransformersKMeansTokenizer:
        """Fit k-means on the features of some audio.

        Args:
            model_name_or_path: Local directory or hub id of the speech model.
            wavs: A ``[B, C, S]`` tensor or an iterable of clips (``[S]``, ``[C, S]`` or
                ``[B, C, S]``; lengths may differ).
            sample_rate: Sample rate of ``wavs`` (Hz).
            layer: Hidden layer to quantise (HuBERT base: 6 or 9; w2v-BERT 2.0: about 17).
            num_clusters: K (paper-like setups use 500-1024).
            device: Torch device for the speech model.
            num_iters: Maximum Lloyd iterations.
            max_frames: Fit on a random subset of at most this many frames (None: all).
            seed: Seed of sub-sampling and k-means++.

        Returns:
            The tokenizer, ready to ``tokenize`` and ``save``.
        """
        tokenizer = cls(model_name_or_path, layer, kmeans=None, device=device)
        return tokenizer.fit_kmeans(wavs, sample_rate, num_clusters, num_iters, max_frames, seed)


class HubertKMeansTokenizer(TransformersKMeansTokenizer):
    """k-means over a HuBERT layer (``transformers.HubertModel``), 50 Hz at 16 kHz."""

    kind = "hubert"
    features_class = HubertFeatures


class W2VBertKMeansTokenizer(TransformersKMeansTokenizer):
    """k-means over a w2v-BERT 2.0 layer (``transformers.Wav2Vec2BertModel``), 50 Hz."""

    kind = "w2v-bert"
    features_class = W2VBertFeatures


#: The ``transformers`` k-means tokenizers by kind (``soundstorm semantic fit --kind``).
KMEANS_TOKENIZERS: dict[str, type[TransformersKMeansTokenizer]] = {
    cls.kind: cls for cls in (HubertKMeansTokenizer, W2VBertKMeansTokenizer)
}
