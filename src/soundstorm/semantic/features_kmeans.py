"""Features + k-means: any frame-level feature extractor, quantised by k-means into token ids.

This is the paper's recipe for semantic tokens (AudioLM / SoundStorm section 3: k-means over
the activations of one layer of a self-supervised speech model, w2v-BERT there) with the
speech model left open: a ``FeatureExtractor`` is anything that turns mono audio at its rate
into ``[B, T, D]`` frames at a fixed frame rate. The ``transformers`` HuBERT / w2v-BERT
layer-cut extractors (``soundstorm.semantic.hf_features``) are two of them; another encoder
is one extractor class plus one ``register_feature_extractor`` line in
``soundstorm.semantic.registry``.

Fitting, saving and loading live here, once, for every extractor::

    tokenizer = FeaturesKMeansTokenizer.fit(extractor, wavs, 16000, num_clusters=500)
    tokenizer.save("runs/my_tokenizer")       # semantic_tokenizer.json + kmeans.safetensors
    tokenizer = get_semantic_tokenizer("runs/my_tokenizer")   # dispatched by the saved kind
    tokens = tokenizer.tokenize(wav, 24000)   # [B, C, S] -> [B, T_sem] at extractor.frame_rate

A saved directory holds ``kmeans.safetensors`` (the centroids) and ``semantic_tokenizer.json``:
``kind`` (the extractor's registry kind), ``format_version`` (``soundstorm.formats``),
``name``, ``frame_rate``, ``vocab_size``, ``feature_dim`` and, beside them, the extractor's own
``config_dict()`` entries (e.g. ``model_name_or_path`` and ``layer``), from which the
registered builder rebuilds the extractor. The extractor's weights are referenced, not copied.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import torch

from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_path
from soundstorm.formats import current_version
from soundstorm.kmeans import KMeans
from soundstorm.semantic.base import SemanticTokenizer, mono_resampled

CENTROIDS_NAME = "kmeans.safetensors"
#: Entries of ``semantic_tokenizer.json`` that belong to the tokenizer, not to its extractor.
TOKENIZER_KEYS = ("kind", "format_version", "name", "frame_rate", "vocab_size", "feature_dim")


@runtime_checkable
class FeatureExtractor(Protocol):
    """Mono audio -> frame features; what ``FeaturesKMeansTokenizer`` quantises.

    Attributes:
        kind: Its registry kind (``soundstorm.semantic.registry.register_feature_extractor``),
            recorded in saved tokenizers to rebuild it.
        sample_rate: Rate of the audio ``extract`` takes (Hz); the tokenizer resamples to it.
        frame_rate: Feature frames per second.
        feature_dim: Feature dimension D.
    """

    kind: str

    @property
    def sample_rate(self) -> int: ...

    @property
    def frame_rate(self) -> float: ...

    @property
    def feature_dim(self) -> int: ...

    def extract(self, wav: torch.Tensor) -> torch.Tensor:
        """``FloatTensor[B, S]`` mono audio at ``sample_rate`` -> ``FloatTensor[B, T, D]``.

        ``T ~= S / sample_rate * frame_rate`` (at least 1 for at least one frame of audio);
        the result may stay on the extractor's device. Items must not influence each other.
        """
        ...

    def config_dict(self) -> dict:
        """JSON settings from which the registered builder rebuilds this extractor (paths
        absolute, so that a saved tokenizer can be moved)."""
        ...


def as_batches(wavs: torch.Tensor | Iterable[torch.Tensor]) -> Iterable[torch.Tensor]:
    """Yield ``[B, C, S]`` tensors from a tensor or a list of ``[S]``/``[C, S]``/``[B, C, S]``."""
    items = [wavs] if isinstance(wavs, torch.Tensor) else wavs
    for wav in items:
        if not isinstance(wav, torch.Tensor):
            wav = torch.as_tensor(np.asarray(wav, dtype=np.float32))
        if wav.dim() == 1:
            wav = wav[None, None]
        elif wav.dim() == 2:
            wav = wav[None]
        yield wav


def check_chunk_seconds(chunk_seconds: float | None) -> float | None:
    """Return ``chunk_seconds`` if it is None or at least 1 s, else raise ``SoundStormError``."""
    if chunk_seconds is not None and not chunk_seconds >= 1.0:
        raise SoundStormError(f"chunk_seconds must be >= 1 s or None, got {chunk_seconds!r}")
    return chunk_seconds


class FeaturesKMeansTokenizer(SemanticTokenizer):
    """Semantic ids = nearest k-means centroid of each feature frame of an extractor.

    Args:
        extractor: The ``FeatureExtractor``.
        kmeans: Fitted quantiser (``kmeans.dim == extractor.feature_dim``); None gives a
            feature extractor only (fit it with ``fit_kmeans``).
        chunk_seconds: Audio longer than this is cut into consecutive chunks of this length
            (a whole number of frames) whose features are concatenated: bounds the memory of
            attention on long files, costs about one frame per cut. None: never cut.

    Raises:
        SoundStormError: ``chunk_seconds`` under 1 s, or a k-means of another dimension.
    """

    #: The extractor kind a class is bound to ("" = any); ``load`` refuses other kinds.
    kind: ClassVar[str] = ""

    def __init__(
        self,
        extractor: FeatureExtractor,
        kmeans: KMeans | None = None,
        chunk_seconds: float | None = 30.0,
    ) -> None:
        self.chunk_seconds = check_chunk_seconds(chunk_seconds)
        self.extractor = extractor
        self.kind = self.name = extractor.kind
        self.kmeans = None
        self.set_kmeans(kmeans)

    @classmethod
    def from_parts(
        cls,
        extractor: FeatureExtractor,
        kmeans: KMeans | None = None,
        chunk_seconds: float | None = 30.0,
    ) -> FeaturesKMeansTokenizer:
        """An instance of ``cls`` around a built extractor (subclasses whose constructor
        builds their own extractor are created this way by ``load``)."""
        tokenizer = cls.__new__(cls)
        FeaturesKMeansTokenizer.__init__(tokenizer, extractor, kmeans, chunk_seconds)
        return tokenizer

    def set_kmeans(self, kmeans: KMeans | None) -> None:
        """Use ``kmeans`` (None: none yet), checking its dimension against the extractor's."""
        if kmeans is not None and kmeans.dim != self.extractor.feature_dim:
            raise SoundStormError(
                f"k-means dimension {kmeans.dim} does not match the feature dimension "
                f"{self.extractor.feature_dim} of the {self.extractor.kind} extractor"
            )
        self.kmeans = kmeans

    # -- SemanticTokenizer -------------------------------------------------------------------
    @property
    def frame_rate(self) -> float:
        """Semantic frames per second: the extractor's frame rate."""
        return float(self.extractor.frame_rate)

    @property
    def vocab_size(self) -> int:
        """Number of k-means clusters."""
        if self.kmeans is None:
            raise SoundStormError("this tokenizer has no k-means yet: use .fit(...)")
        return self.kmeans.num_clusters

    def config_dict(self) -> dict:
        """JSON description stored in token files and in ``semantic_tokenizer.json``."""
        return {
            **super().config_dict(),
            **self.extractor.config_dict(),
            "kind": self.extractor.kind,
            "feature_dim": int(self.extractor.feature_dim),
            "format_version": current_version("semantic-tokenizer"),
        }

    def features(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Features of a batch of audio, on the CPU (see :meth:`device_features`)."""
        return self.device_features(wav, sample_rate).cpu()

    def device_features(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Features of a batch of audio, on the extractor's device.

        Args:
            wav: ``FloatTensor[B, C, S]`` (channels are averaged).
            sample_rate: Sample rate of ``wav`` (Hz); resampled to the extractor's rate.

        Returns:
            ``FloatTensor[B, T_sem, D]`` at :attr:`frame_rate` (summed over chunks for audio
            longer than ``chunk_seconds``).
        """
        rate = int(self.extractor.sample_rate)
        audio = mono_resampled(wav, sample_rate, rate)  # (B, S')
        if self.chunk_seconds is None:
            return self.extractor.extract(audio)
        # Chunks are a whole number of frames; a short tail joins the previous chunk.
        hop = max(1, round(rate / self.frame_rate))
        chunk = max(hop, round(self.chunk_seconds * self.frame_rate) * hop)
        starts = list(range(0, audio.shape[-1], chunk))
        if len(starts) > 1 and audio.shape[-1] - starts[-1] < chunk // 4:
            starts.pop()
        ends = starts[1:] + [audio.shape[-1]]
        pieces = [self.extractor.extract(audio[:, a:b]) for a, b in zip(starts, ends)]
        return torch.cat(pieces, dim=1)  # (B, T_sem, D)

    def _tokenize(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Tokenize audio ``[B, C, S]`` into k-means ids ``LongTensor[B, T_sem]``."""
        if self.kmeans is None:
            raise SoundStormError("this tokenizer has no k-means yet: use .fit(...)")
        return self.kmeans.predict(self.device_features(wav, sample_rate)).cpu()

    # -- fit / save / load -------------------------------------------------------------------
    def fit_kmeans(
        self,
        wavs: torch.Tensor | Iterable[torch.Tensor],
        sample_rate: int,
        num_clusters: int,
        num_iters: int = 50,
        max_frames: int | None = 200_000,
        seed: int = 0,
    ) -> FeaturesKMeansTokenizer:
        """Fit the k-means on the features of some audio (replacing any previous one).

        Args:
            wavs: A ``[B, C, S]`` tensor or an iterable of clips (``[S]``, ``[C, S]`` or
                ``[B, C, S]``; lengths may differ).
            sample_rate: Sample rate of ``wavs`` (Hz).
            num_clusters: K (paper-like setups use 500-1024).
            num_iters: Maximum Lloyd iterations.
            max_frames: Fit on a random subset of at most this many frames (None: all).
            seed: Seed of sub-sampling and k-means++.

        Returns:
            ``self``, ready to ``tokenize`` and ``save``.

        Raises:
            SoundStormError: no audio, or fewer frames than ``num_clusters``.
        """
        dim = int(self.extractor.feature_dim)
        chunks = [self.features(wav, sample_rate).reshape(-1, dim) for wav in as_batches(wavs)]
        if not chunks:
            raise SoundStormError("no audio given to fit the k-means on")
        self.set_kmeans(
            KMeans.fit(
                torch.cat(chunks), num_clusters, num_iters=num_iters, seed=seed,
                max_points=max_frames,
            )
        )  # fmt: skip
        return self

    @classmethod
    def fit(
        cls,
        extractor: FeatureExtractor,
        wavs: torch.Tensor | Iterable[torch.Tensor],
        sample_rate: int,
        num_clusters: int,
        num_iters: int = 50,
        max_frames: int | None = 200_000,
        seed: int = 0,
        chunk_seconds: float | None = 30.0,
    ) -> FeaturesKMeansTokenizer:
        """A tokenizer on ``extractor`` with k-means fitted on ``wavs`` (see ``fit_kmeans``)."""
        tokenizer = cls.from_parts(extractor, None, chunk_seconds)
        return tokenizer.fit_kmeans(wavs, sample_rate, num_clusters, num_iters, max_frames, seed)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``semantic_tokenizer.json`` and ``kmeans.safetensors`` into ``directory``.

        The extractor is recorded by its ``config_dict()`` (its weights are not copied).

        Returns:
            The directory.

        Raises:
            SoundStormError: no k-means yet.
        """
        from soundstorm.semantic.registry import CONFIG_NAME

        if self.kmeans is None:
            raise SoundStormError("nothing to save: the tokenizer has no k-means yet")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.kmeans.save(directory / CENTROIDS_NAME)
        with atomic_path(directory / CONFIG_NAME) as temp:
            temp.write_text(json.dumps(self.config_dict(), indent=2) + "\n")
        return directory

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike,
        device: str | torch.device = "cpu",
        chunk_seconds: float | None = 30.0,
        **overrides,
    ) -> FeaturesKMeansTokenizer:
        """Load a tokenizer written by :meth:`save`, of this format version or an older one.

        The extractor is rebuilt by the builder registered for the saved ``kind``; the
        result is an instance of the class registered for that kind (``HubertKMeansTokenizer``
        for ``"hubert"``).

        Args:
            directory: The saved directory.
            device: Torch device of the extractor.
            chunk_seconds: See the class.
            **overrides: Replace saved extractor settings (e.g. ``model_name_or_path=`` after
                moving the speech model).

        Raises:
            SoundStormError: unreadable directory, a kind other than ``cls.kind`` (when the
                class is bound to one), an unknown kind, or an override the extractor lacks.
            FormatVersionError: a newer format version.
        """
        from soundstorm.semantic.registry import feature_extractor_entry, read_saved_config

        config = read_saved_config(directory)
        kind = config["kind"]
        if cls.kind and kind != cls.kind:
            raise SoundStormError(f"{directory} holds a {kind!r} tokenizer, not {cls.kind!r}")
        entry = feature_extractor_entry(kind)
        settings = {k: v for k, v in config.items() if k not in TOKENIZER_KEYS}
        unknown = sorted(set(overrides) - set(settings))
        if unknown:
            raise SoundStormError(
                f"bad option for a saved {kind} tokenizer: {', '.join(unknown)} (it takes "
                f"device, chunk_seconds{''.join(', ' + k for k in sorted(settings))})"
            )
        extractor = entry.build({**settings, **overrides}, device=device)
        kmeans = KMeans.load(Path(directory) / CENTROIDS_NAME)
        tokenizer_class = entry.tokenizer_class()
        if not issubclass(tokenizer_class, cls):
            tokenizer_class = cls
        return tokenizer_class.from_parts(extractor, kmeans, chunk_seconds)


def fit_tokenizer(
    kind: str,
    settings: dict,
    wavs: torch.Tensor | Iterable[torch.Tensor],
    sample_rate: int,
    num_clusters: int,
    device: str | torch.device = "cpu",
    num_iters: int = 50,
    max_frames: int | None = 200_000,
    seed: int = 0,
) -> FeaturesKMeansTokenizer:
    """Fit features + k-means on the registered extractor ``kind`` (``soundstorm semantic fit``).

    Args:
        kind: A registered feature-extractor kind (``feature_extractor_kinds()``).
        settings: The extractor's settings, as in its ``config_dict()`` (the ``transformers``
            ones: ``model_name_or_path`` and ``layer``).
        wavs, sample_rate, num_clusters, num_iters, max_frames, seed: See ``fit_kmeans``.
        device: Torch device of the extractor.

    Returns:
        The fitted tokenizer, an instance of the class registered for ``kind``.

    Raises:
        SoundStormError: unknown kind, settings the extractor cannot use, too little audio.
    """
    from soundstorm.semantic.registry import feature_extractor_entry

    entry = feature_extractor_entry(kind)
    tokenizer = entry.tokenizer_class().from_parts(entry.build(settings, device=device))
    return tokenizer.fit_kmeans(wavs, sample_rate, num_clusters, num_iters, max_frames, seed)
