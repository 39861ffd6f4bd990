"""Feature extractors on ``transformers`` speech models: one hidden layer of HuBERT / w2v-BERT.

Two ``FeatureExtractor`` kinds of ``soundstorm.semantic.features_kmeans`` (registered in
``soundstorm.semantic.registry`` as ``"hubert"`` and ``"w2v-bert"``): the model is loaded
from a local directory or a hub id (``transformers`` is imported only here; install the
``hf`` extra) and cut after the chosen layer, so tokenizing with layer 6 of a 12-layer HuBERT
costs about half a forward pass. For models with a final encoder layer norm
(``do_stable_layer_norm``), that norm is applied to the chosen layer's output, the same way at
fit and at tokenize time. Both work on 16 kHz audio and give 50 frames per second.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import torch

from soundstorm.dependencies import missing_dependency_error
from soundstorm.errors import SoundStormError

_MODEL_SAMPLE_RATE = 16000


def _import_transformers():
    try:
        import transformers
    except ImportError as error:
        raise missing_dependency_error(["transformers"], "HuBERT / w2v-BERT tokenizers") from error
    return transformers


class TransformersLayerFeatures:
    """The hidden states of one layer of a ``transformers`` speech model (a ``FeatureExtractor``).

    Subclasses name the model class, its input processor and the model's input key.

    Args:
        model_name_or_path: Local directory or hub id of the pretrained speech model.
        layer: Hidden layer whose output is returned (0 = transformer input,
            ``num_hidden_layers`` = last layer); the layers above it are dropped.
        device: Torch device the model runs on.

    Raises:
        SoundStormError: no directory at a local-looking path, a model that cannot be loaded,
            or a layer outside ``[0, num_hidden_layers]``.
    """

    kind: ClassVar[str] = ""
    model_class_name: ClassVar[str] = ""
    sample_rate: ClassVar[int] = _MODEL_SAMPLE_RATE
    frame_rate: ClassVar[float] = 50.0

    def __init__(
        self, model_name_or_path: str | os.PathLike, layer: int, device: str | torch.device = "cpu"
    ) -> None:
        self.model_name_or_path = str(model_name_or_path)
        self.layer = int(layer)
        self.device = torch.device(device)
        self.model, self.processor = self._load_model()

    @classmethod
    def from_config(cls, config: dict, device: str | torch.device = "cpu"):
        """Rebuild from ``config_dict()`` entries (``model_name_or_path``, ``layer``).

        Raises:
            SoundStormError: an entry is missing.
        """
        missing = [key for key in ("model_name_or_path", "layer") if key not in config]
        if missing:
            raise SoundStormError(f"saved {cls.kind} tokenizer lacks {', '.join(missing)}")
        return cls(config["model_name_or_path"], int(config["layer"]), device=device)

    def _load_model(self):
        """Load the speech model (first ``layer`` layers only) and its input processor."""
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
        return model, self._load_processor(transformers)

    def _load_processor(self, transformers):
        raise NotImplementedError

    def _model_inputs(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @property
    def feature_dim(self) -> int:
        """The model's hidden size."""
        return int(self.model.config.hidden_size)

    def extract(self, wav: torch.Tensor) -> torch.Tensor:
        """``FloatTensor[B, S]`` at 16 kHz -> ``FloatTensor[B, T, D]`` on the model's device.

        ``T = floor((S - 400) / 320) + 1`` for HuBERT, about ``floor(S / 320)`` for w2v-BERT;
        audio under 40 ms is zero-padded to 40 ms (the models give no frame below it).
        """
        min_samples = _MODEL_SAMPLE_RATE // 25
        if wav.shape[-1] < min_samples:
            wav = torch.nn.functional.pad(wav, (0, min_samples - wav.shape[-1]))
        inputs = {key: value.to(self.device) for key, value in self._model_inputs(wav).items()}
        with torch.inference_mode():
            output = self.model(**inputs, output_hidden_states=True)
        return output.hidden_states[self.layer].float()

    def config_dict(self) -> dict:
        """``model_name_or_path`` (absolute for a local directory) and ``layer``."""
        path = Path(self.model_name_or_path).expanduser()
        location = str(path.resolve()) if path.is_dir() else self.model_name_or_path
        return {"model_name_or_path": location, "layer": self.layer}


class HubertFeatures(TransformersLayerFeatures):
    """A HuBERT layer (``transformers.HubertModel``), 50 Hz at 16 kHz."""

    kind = "hubert"
    model_class_name = "HubertModel"

    def _load_processor(self, transformers):
        try:
            return transformers.Wav2Vec2FeatureExtractor.from_pretrained(self.model_name_or_path)
        except OSError:  # model saved without preprocessor_config.json: fairseq defaults
            return transformers.Wav2Vec2FeatureExtractor(
                sampling_rate=_MODEL_SAMPLE_RATE, do_normalize=False, return_attention_mask=False
            )

    def _model_inputs(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        # Same-length batch: no padding, so no attention mask is needed.
        inputs = self.processor(
            list(audio.numpy()), sampling_rate=_MODEL_SAMPLE_RATE, return_tensors="pt"
        )
        return {"input_values": inputs["input_values"]}


class W2VBertFeatures(TransformersLayerFeatures):
    """A w2v-BERT 2.0 layer (``transformers.Wav2Vec2BertModel``), 50 Hz.

    Input features: 80-bin log-mel filterbanks at 100 Hz stacked in pairs
    (``SeamlessM4TFeatureExtractor``, stride 2) -> 160-dim vectors at 50 Hz.
    """

    kind = "w2v-bert"
    model_class_name = "Wav2Vec2BertModel"

    def _load_processor(self, transformers):
        try:
            return transformers.SeamlessM4TFeatureExtractor.from_pretrained(self.model_name_or_path)
        except OSError:
            return transformers.SeamlessM4TFeatureExtractor()

    def _model_inputs(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        inputs = self.processor(
            list(audio.numpy()), sampling_rate=_MODEL_SAMPLE_RATE, return_tensors="pt"
        )
        return {"input_features": inputs["input_features"]}
