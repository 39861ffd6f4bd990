"""Fit the default semantic tokenizer on a sample of a corpus, for ``soundstorm prepare``.

The default semantic tokens are k-means ids of Moonshine tiny-en encoder frames
(``soundstorm.semantic.moonshine_features``, 41.67 frames/s), the paper's recipe (section 3:
k-means over a speech model's activations) with an ASR encoder that ships inside a PyPI wheel.
The encoder is pretrained; the k-means is fitted here, on the audio the model will be trained
on, like the embedded codec's codebooks (``soundstorm.data.codec_fitting``): once, on up to
``max_files`` files spread evenly over the sorted input list, saved in the output folder
(``OUT_DIR/semantic_tokenizer/``), so that every shard, every rank and every re-run uses the
same centroids, and an exported model carries the same directory.

The vocabulary size (``DEFAULT_SEMANTIC_CLUSTERS``) was chosen by measurement
(docs/benchmarks.md, "Semantic tokenizer").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from soundstorm.data.codec_fitting import sample_evenly
from soundstorm.data.inputs import AudioInput
from soundstorm.errors import SoundStormError

#: The feature-extractor kind of the default semantic tokenizer (``semantic.registry``).
DEFAULT_SEMANTIC_KIND = "moonshine"
#: k-means ids of the default semantic tokenizer (``soundstorm prepare --semantic-clusters``).
DEFAULT_SEMANTIC_CLUSTERS = 128
#: Frames needed per cluster: with fewer, K is lowered to ``frames // MIN_FRAMES_PER_CLUSTER``.
MIN_FRAMES_PER_CLUSTER = 4


def fit_default_semantic_tokenizer(
    inputs: list[AudioInput],
    directory: str | os.PathLike,
    num_clusters: int = DEFAULT_SEMANTIC_CLUSTERS,
    max_files: int = 200,
    log: Callable[[str], None] | None = None,
    seed: int = 0,
):
    """Fit Moonshine features + k-means on a sample of ``inputs`` and save it in ``directory``.

    Unreadable files of the sample are passed over (they are reported later, when encoded).
    With fewer than ``MIN_FRAMES_PER_CLUSTER * num_clusters`` frames of audio, K is lowered
    to fit the audio (and said in the log): a model's conditioning vocabulary only has to be
    at least the tokenizer's.

    Args:
        inputs: The corpus, sorted by id.
        directory: Where to save the tokenizer (``semantic_tokenizer.json`` and
            ``kmeans.safetensors``; the JSON file is written last, so its presence means the
            directory is complete).
        num_clusters: K, the number of semantic ids.
        max_files: Files sampled for fitting.
        log: Called with one-line progress messages (``None``: silent).
        seed: Seed of the k-means.

    Returns:
        The fitted ``FeaturesKMeansTokenizer``.

    Raises:
        SoundStormError: ``moonshine-voice`` or ``onnxruntime`` is missing (one line with the
            install command), ``num_clusters < 2``, or the sample holds less than
            ``2 * MIN_FRAMES_PER_CLUSTER`` frames of readable audio.
    """
    from soundstorm.data.encoding import BadAudioError, read_audio
    from soundstorm.kmeans import KMeans
    from soundstorm.semantic.features_kmeans import FeaturesKMeansTokenizer
    from soundstorm.semantic.registry import feature_extractor_entry

    if num_clusters < 2:
        raise SoundStormError(f"--semantic-clusters must be >= 2, got {num_clusters}")
    extractor = feature_extractor_entry(DEFAULT_SEMANTIC_KIND).build({})
    tokenizer = FeaturesKMeansTokenizer.from_parts(extractor)
    sample = sample_evenly(inputs, max_files)

    def readable_audio() -> Iterator[tuple[torch.Tensor, int]]:  # one file at a time
        for item in sample:
            try:
                yield read_audio(item.path)  # ((1, S), rate)
            except BadAudioError:
                continue

    if log is not None:
        log(f"fitting the semantic tokenizer ({DEFAULT_SEMANTIC_KIND} features + k-means "
            f"{num_clusters}) on {len(sample)} files")  # fmt: skip
    frames = []
    for wav, sample_rate in readable_audio():
        if not torch.isfinite(wav).all():
            continue  # reported when encoded
        if wav.shape[-1] * extractor.frame_rate >= sample_rate:  # at least one frame
            frames.append(tokenizer.features(wav[None], sample_rate)[0])  # (T, 288)
    points = torch.cat(frames) if frames else torch.zeros(0, extractor.feature_dim)
    clusters = min(num_clusters, points.shape[0] // MIN_FRAMES_PER_CLUSTER)
    if clusters < 2:
        raise SoundStormError(
            f"cannot fit the semantic tokenizer: {points.shape[0]} frames of readable audio "
            f"({points.shape[0] / extractor.frame_rate:.1f} s) in the {len(sample)} files "
            "sampled; give more audio or --semantic with a saved tokenizer or a name (phones)"
        )
    if clusters < num_clusters and log is not None:
        log(f"only {points.shape[0]} semantic frames: k-means with {clusters} ids, not "
            f"{num_clusters}")  # fmt: skip
    tokenizer.set_kmeans(KMeans.fit(points, clusters, seed=seed))
    tokenizer.save(Path(directory))
    return tokenizer
