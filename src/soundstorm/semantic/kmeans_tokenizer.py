"""HuBERT and w2v-BERT 2.0 semantic tokenizers: hidden-layer features -> k-means ids.

This is the paper's recipe (AudioLM / SoundStorm: k-means over the activations of one
layer of a self-supervised speech model). The speech model comes from ``transformers``
(``pip install transformers``, imported only here), loaded from a local directory or a hub
id; the k-means is fitted on features of YOUR audio and saved next to a small JSON file.

Example::

    tokenizer = HubertKMeansTokenizer.fit("facebook/hubert-base-ls960", wavs, 16000,
                                          layer=6, num_clusters=500)
    tokenizer.save("runs/hubert_l6_k500")
    tokenizer = get_semantic_tokenizer("runs/hubert_l6_k500")
    tokens = tokenizer.tokenize(wav, 24000)  # [B, C, S] -> [B, T_sem], 50 Hz

Only the first ``layer`` transformer layers run (the rest are dropped after loading), so
tokenizing with layer 6 of a 12-layer HuBERT costs about half a forward pass. For models with
a final encoder layer norm (``do_stable_layer_norm``), that norm is applied to the chosen
layer's output, the same way at fit and at tokenize time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from soundstorm.dependencies import missing_dependency_error
from soundstorm.errors import SoundStormError
from soundstorm.kmeans import KMeans
from soundstorm.semantic.base import SemanticTokenizer, mono_resampled

CONFIG_NAME = "semantic_tokenizer.json"
CENTROIDS_NAME = "kmeans.safetensors"
FORMAT_VERSION = 1
_MODEL_SAMPLE_RATE = 16000


def _import_transformers():
    try:
        import transformers
    except ImportError as error:
        raise missing_dependency_error(["transformers"], "HuBERT / w2v-BERT tokenizers") from error
    return transformers


def _as_batches(wavs: torch.Tensor | Iterable[torch.Tensor]) -> Iterable[torch.Tensor]:
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


class KMeansSemanticTokenizer(SemanticTokenizer):
    """Features of one hidden layer of a ``transformers`` speech model, quantised by k-means.

    Subclasses say how to load the model and turn 16 kHz audio into hidden states.

    Args:
        model_name_or_path: Local directory or hub id of the pretrained speech model.
        layer: Hidden layer whose output is quantised (0 = transformer input,
            ``num_hidden_layers`` = last layer).
        kmeans: Fitted quantiser (``kmeans.dim`` must equal the model's hidden size); None
            gives a feature extractor only (used while fitting).
        device: Torch device the speech model runs on.
        chunk_seconds: Audio longer than this is cut into consecutive chunks of this length
            whose features are concatenated (bounds attention memory on long files; costs
            about one frame per cut). None: never cut.
    """

    kind: ClassVar[str] = ""
    model_class_name: ClassVar[str] = ""
    _frame_rate: ClassVar[float] = 50.0

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        layer: int,
        kmeans: KMeans | None = None,
        device: str | torch.device = "cpu",
        chunk_seconds: float | None = 30.0,
    ) -> None:
        if chunk_seconds is not None and not chunk_seconds >= 1.0:
            raise SoundStormError(f"chunk_seconds must be >= 1 s or None, got {chunk_seconds!r}")
        self.chunk_seconds = chunk_seconds
        self.model_name_or_path = str(model_name_or_path)
        self.layer = int(layer)
        self.kmeans = kmeans
        self.device = torch.device(device)
        self.model, self.feature_extractor = self._load_model()
        if kmeans is not None and kmeans.dim != self.model.config.hidden_size:
            raise SoundStormError(
                f"k-means dimension {kmeans.dim} does not match the hidden size "
                f"{self.model.config.hidden_size} of {self.model_name_or_path}"
            )

    # -- model -------------------------------------------------------------------------------
    def _load_model(self):
        """Load the speech model (first ``layer`` layers only) and its feature extractor."""
        transformers = _import_transformers()
        model_class = getattr(transformers, self.model_class_name)
        looks_like_path = self.model_name_or_path.startswith((".", "/", "~")) or (
            os.sep != "/" and os.sep in self.model_name_or_path
        )
        if looks_like_path and not Path(self.model_name_or_path).expanduser().is_dir():
            raise SoundStormError(f"no model directory at {self.model_name_or_path}")
        try:
            model = model_class.from_pretrained(self.model_name_or_path)
        except OSError as error:
            raise SoundStormError(
                f"cannot load {self.model_class_name} from {self.model_name_or_path!r}: "
                f"{str(error).splitlines()[0]}"
            ) from error
        num_layers = len(model.encoder.layers)
        if not 0 <= self.layer <= num_layers:
            raise SoundStormError(
                f"layer must be in [0, {num_layers}] for {self.model_name_or_path}, "
                f"got {self.layer}"
            )
        model.encoder.layers = model.encoder.layers[: self.layer]  # drop unused layers
        model.eval().to(self.device)
        return model, self._load_feature_extractor(transformers)

    def _load_feature_extractor(self, transformers):
        raise NotImplementedError

    def _hidden_states(self, audio: torch.Tensor) -> torch.Tensor:
        """``FloatTensor[B, S16]`` at 16 kHz -> ``FloatTensor[B, T, D]`` on the model's device."""
        inputs = self._model_inputs(audio)
        inputs = {key: value.to(self.device) for key, value in inputs.items()}
        with torch.inference_mode():
            output = self.model(**inputs, output_hidden_states=True)
        return output.hidden_states[self.layer].float()

    def _model_inputs(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # -- SemanticTokenizer -------------------------------------------------------------------
    @property
    def frame_rate(self) -> float:
        """Semantic frames per second (50 for HuBERT and w2v-BERT 2.0 at 16 kHz)."""
        return self._frame_rate

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
            "kind": self.kind,
            "model_name_or_path": self.model_name_or_path,
            "layer": self.layer,
            "feature_dim": int(self.model.config.hidden_size),
            "format_version": FORMAT_VERSION,
        }

    def features(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Hidden-layer features of a batch of audio, on the CPU (see :meth:`device_features`)."""
        return self.device_features(wav, sample_rate).cpu()

    def device_features(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Hidden-layer features of a batch of audio, on the model's device.

        Args:
            wav: ``FloatTensor[B, C, S]`` (channels are averaged).
            sample_rate: Sample rate of ``wav``; resampled to 16 kHz.

        Returns:
            ``FloatTensor[B, T_sem, D]`` at :attr:`frame_rate` (HuBERT:
            ``T_sem = floor((S16 - 400) / 320) + 1``; w2v-BERT: ``floor(S16 / 320)``, about;
            summed over chunks for audio longer than ``chunk_seconds``).
        """
        audio = mono_resampled(wav, sample_rate, _MODEL_SAMPLE_RATE)  # (B, S16)
        min_samples = _MODEL_SAMPLE_RATE // 25  # 40 ms: below this the models have no frame
        if audio.shape[-1] < min_samples:
            audio = torch.nn.functional.pad(audio, (0, min_samples - audio.shape[-1]))
        if self.chunk_seconds is None:
            return self._hidden_states(audio)
        # Chunks are a whole number of 20 ms frames; a short tail joins the previous chunk.
        hop = _MODEL_SAMPLE_RATE // int(self._frame_rate)
        chunk = max(hop, round(self.chunk_seconds * self._frame_rate) * hop)
        starts = list(range(0, audio.shape[-1], chunk))
        if len(starts) > 1 and audio.shape[-1] - starts[-1] < chunk // 4:
            starts.pop()
        ends = starts[1:] + [audio.shape[-1]]
        pieces = [self._hidden_states(audio[:, a:b]) for a, b in zip(starts, ends)]
        return torch.cat(pieces, dim=1)  # (B, T_sem, D)

    def _tokenize(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Tokenize audio ``[B, C, S]`` into k-means ids ``LongTensor[B, T_sem]``."""
        if self.kmeans is None:
            raise SoundStormError("this tokenizer has no k-means yet: use .fit(...)")
        return self.kmeans.predict(self.device_features(wav, sample_rate)).cpu()

    # -- fit / save / load -------------------------------------------------------------------
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
    ) -> KMeansSemanticTokenizer:
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
        chunks = [
            tokenizer.features(wav, sample_rate).reshape(-1, tokenizer.model.config.hidden_size)
            for wav in _as_batches(wavs)
        ]
        if not chunks:
            raise SoundStormError("no audio given to fit the k-means on")
        features = torch.cat(chunks)  # (N, D)
        tokenizer.kmeans = KMeans.fit(
            features, num_clusters, num_iters=num_iters, seed=seed, max_points=max_frames
        )
        return tokenizer

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``semantic_tokenizer.json`` and ``kmeans.safetensors`` into ``directory``.

        The speech model itself is referenced by ``model_name_or_path`` (made absolute for a
        local directory), not copied.

        Returns:
            The directory.
        """
        if self.kmeans is None:
            raise SoundStormError("nothing to save: the tokenizer has no k-means yet")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = self.config_dict()
        if Path(self.model_name_or_path).is_dir():
            config["model_name_or_path"] = str(Path(self.model_name_or_path).resolve())
        self.kmeans.save(directory / CENTROIDS_NAME)
        tmp = directory / (CONFIG_NAME + ".tmp")
        tmp.write_text(json.dumps(config, indent=2) + "\n")
        os.replace(tmp, directory / CONFIG_NAME)
        return directory

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike,
        model_name_or_path: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        chunk_seconds: float | None = 30.0,
    ) -> KMeansSemanticTokenizer:
        """Load a tokenizer written by :meth:`save`.

        Args:
            directory: The saved directory.
            model_name_or_path: Use this copy of the speech model instead of the recorded one
                (e.g. after moving it).
            device: Torch device for the speech model.
            chunk_seconds: See the class.
        """
        config = read_config(directory)
        if config.get("kind") != cls.kind:
            raise SoundStormError(
                f"{directory} holds a {config.get('kind')!r} tokenizer, not {cls.kind!r}"
            )
        kmeans = KMeans.load(Path(directory) / CENTROIDS_NAME)
        model = model_name_or_path or config["model_name_or_path"]
        return cls(model, int(config["layer"]), kmeans, device=device, chunk_seconds=chunk_seconds)


class HubertKMeansTokenizer(KMeansSemanticTokenizer):
    """k-means over a HuBERT layer (``transformers.HubertModel``), 50 Hz at 16 kHz."""

    kind = name = "hubert"
    model_class_name = "HubertModel"

    def _load_feature_extractor(self, transformers):
        try:
            return transformers.Wav2Vec2FeatureExtractor.from_pretrained(self.model_name_or_path)
        except OSError:  # model saved without preprocessor_config.json: fairseq defaults
            return transformers.Wav2Vec2FeatureExtractor(
                sampling_rate=_MODEL_SAMPLE_RATE, do_normalize=False, return_attention_mask=False
            )

    def _model_inputs(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        # Same-length batch: no padding, so no attention mask is needed.
        inputs = self.feature_extractor(
            list(audio.numpy()), sampling_rate=_MODEL_SAMPLE_RATE, return_tensors="pt"
        )
        return {"input_values": inputs["input_values"]}


class W2VBertKMeansTokenizer(KMeansSemanticTokenizer):
    """k-means over a w2v-BERT 2.0 layer (``transformers.Wav2Vec2BertModel``), 50 Hz.

    Input features: 80-bin log-mel filterbanks at 100 Hz stacked in pairs
    (``SeamlessM4TFeatureExtractor``, stride 2) -> 160-dim vectors at 50 Hz.
    """

    kind = name = "w2v-bert"
    model_class_name = "Wav2Vec2BertModel"

    def _load_feature_extractor(self, transformers):
        try:
            return transformers.SeamlessM4TFeatureExtractor.from_pretrained(self.model_name_or_path)
        except OSError:
            return transformers.SeamlessM4TFeatureExtractor()

    def _model_inputs(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        inputs = self.feature_extractor(
            list(audio.numpy()), sampling_rate=_MODEL_SAMPLE_RATE, return_tensors="pt"
        )
        return {"input_features": inputs["input_features"]}


KMEANS_TOKENIZERS: dict[str, type[KMeansSemanticTokenizer]] = {
    cls.kind: cls for cls in (HubertKMeansTokenizer, W2VBertKMeansTokenizer)
}


def read_config(directory: str | os.PathLike) -> dict:
    """Read and check ``semantic_tokenizer.json`` of a saved directory."""
    path = Path(directory) / CONFIG_NAME
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SoundStormError(f"cannot read saved semantic tokenizer {path}: {error}") from error
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise SoundStormError(
            f"{path} was written by a newer soundstorm (format {config['format_version']})"
        )
    for key in ("kind", "model_name_or_path", "layer"):
        if key not in config:
            raise SoundStormError(f"{path} lacks the field {key!r}")
    return config


def load_kmeans_tokenizer(directory: str | os.PathLike, **kwargs) -> KMeansSemanticTokenizer:
    """Load a saved HuBERT / w2v-BERT k-means tokenizer, whatever its kind."""
    kind = read_config(directory)["kind"]
    if kind not in KMEANS_TOKENIZERS:
        raise SoundStormError(
            f"{directory}: unknown tokenizer kind {kind!r}; known: {', '.join(KMEANS_TOKENIZERS)}"
        )
    try:
        return KMEANS_TOKENIZERS[kind].load(directory, **kwargs)
    except TypeError as error:
        raise SoundStormError(f"bad option for a saved tokenizer: {error}") from error
