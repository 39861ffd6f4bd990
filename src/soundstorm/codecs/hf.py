"""Pretrained neural codecs through Hugging Face ``transformers``: EnCodec, DAC and Mimi.

Each adapter loads a model with ``from_pretrained`` (a hub id such as
``facebook/encodec_24khz``, or a local directory written by ``save_pretrained``) and
exposes it as a ``Codec`` with a chosen number of RVQ levels. ``transformers`` is imported
only when an adapter is built (install the ``hf`` extra).
"""

from __future__ import annotations

import math
import os

import torch

from soundstorm.codecs.base import Codec
from soundstorm.dependencies import missing_dependency_error
from soundstorm.errors import SoundStormError


def _load_pretrained(model_class_name: str, name_or_path: str | os.PathLike, device: str):
    """Import ``transformers`` lazily and load ``model_class_name`` in eval mode."""
    try:
        import transformers
    except ImportError as error:
        raise missing_dependency_error(["transformers"], f"the {model_class_name} codec") from error
    model_class = getattr(transformers, model_class_name)
    try:
        model = model_class.from_pretrained(str(name_or_path))
    except (OSError, ValueError) as error:
        raise SoundStormError(
            f"cannot load {model_class_name} from {name_or_path!r} (a hub id needs network "
            f"access or a cached copy; a local directory needs config.json and weights): "
            f"{str(error).splitlines()[0]}"
        ) from error
    return model.to(device).eval()


def _check_num_levels(num_levels: int | None, default: int, maximum: int, name: str) -> int:
    """Resolve the requested number of RVQ levels against what the model has."""
    num_levels = min(default, maximum) if num_levels is None else int(num_levels)
    if not 1 <= num_levels <= maximum:
        raise SoundStormError(
            f"{name} has {maximum} RVQ levels; num_levels={num_levels} is invalid"
        )
    return num_levels


class HFCodec(Codec):
    """Shared plumbing of the ``transformers`` adapters (device, sizes, input padding)."""

    def __init__(self, model, name_or_path: str, num_levels: int, device: str) -> None:
        self.model = model
        self.name_or_path = str(name_or_path)
        self._num_levels = num_levels
        self.device = torch.device(device)

    @property
    def sample_rate(self) -> int:
        return int(self.model.config.sampling_rate)

    @property
    def num_levels(self) -> int:
        return self._num_levels

    @property
    def codebook_size(self) -> int:
        return int(self.model.config.codebook_size)

    @property
    def hop_length(self) -> int:
        """Audio samples per token frame."""
        return round(self.sample_rate / self.frame_rate)

    def num_frames(self, num_samples: int) -> int:
        return math.ceil(num_samples / self.hop_length)

    def _pad_to_hop(self, wav: torch.Tensor) -> torch.Tensor:
        """Right-pad ``[B, 1, S]`` with zeros to a whole number of frames."""
        padding = self.num_frames(wav.shape[-1]) * self.hop_length - wav.shape[-1]
        return torch.nn.functional.pad(wav, (0, padding)).to(self.device)

    def config_dict(self) -> dict:
        return {**super().config_dict(), "model": self.name_or_path}


class EncodecCodec(HFCodec):
    """Meta's EnCodec (``EncodecModel``). Levels are chosen through the target bandwidth.

    The model is run at the smallest of its ``target_bandwidths`` that gives at least
    ``num_levels`` quantizers; the codes are then cut to ``num_levels``. Chunked models
    (the 48 kHz one) are refused; models with two channels get the mono signal on both.
    """

    name = "encodec"

    def __init__(
        self,
        name_or_path: str = "facebook/encodec_24khz",
        num_levels: int | None = None,
        device: str = "cpu",
    ) -> None:
        """Load an EnCodec model.

        Args:
            name_or_path: hub id or local directory.
            num_levels: RVQ levels kept (default 8, i.e. 6 kbps for the 24 kHz model).
            device: torch device.
        """
        model = _load_pretrained("EncodecModel", name_or_path, device)
        if model.config.chunk_length is not None:
            raise SoundStormError(
                f"{name_or_path}: chunked EnCodec models (chunk_length_s set, e.g. the 48 kHz "
                "one) are not supported: their codes need per-chunk scales"
            )
        quantizer = model.quantizer
        bandwidths = sorted(float(b) for b in model.config.target_bandwidths)
        levels_at = {b: quantizer.get_num_quantizers_for_bandwidth(b) for b in bandwidths}
        num_levels = _check_num_levels(num_levels, 8, max(levels_at.values()), "this EnCodec model")
        self.bandwidth = next(b for b in bandwidths if levels_at[b] >= num_levels)
        super().__init__(model, name_or_path, num_levels, device)

    @property
    def frame_rate(self) -> float:
        return float(self.model.config.frame_rate)

    @property
    def hop_length(self) -> int:
        return int(self.model.config.hop_length)

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        length = wav.shape[-1]
        wav = self._pad_to_hop(wav)
        channels = int(self.model.config.audio_channels)
        if channels > 1:
            wav = wav.expand(-1, channels, -1)
        output = self.model.encode(wav, bandwidth=self.bandwidth, return_dict=True)
        codes = output.audio_codes  # (chunks, B, Q, T_chunk)
        return codes[0, :, : self.num_levels, : self.num_frames(length)].cpu()

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        codes = codes.to(self.device)
        audio = self.model.decode(codes[None], [None], return_dict=True).audio_values  # (B, C, S)
        return audio.mean(dim=1, keepdim=True).cpu()


class DacCodec(HFCodec):
    """Descript Audio Codec (``DacModel``); levels chosen with ``n_quantizers``."""

    name = "dac"

    def __init__(
        self,
        name_or_path: str = "descript/dac_24khz",
        num_levels: int | None = None,
        device: str = "cpu",
    ) -> None:
        """Load a DAC model.

        Args:
            name_or_path: hub id or local directory.
            num_levels: RVQ levels kept (default 12, or all the model has if fewer).
            device: torch device.
        """
        model = _load_pretrained("DacModel", name_or_path, device)
        num_levels = _check_num_levels(
            num_levels, 12, int(model.config.n_codebooks), "this DAC model"
        )
        super().__init__(model, name_or_path, num_levels, device)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / int(self.model.config.hop_length)

    @property
    def hop_length(self) -> int:
        return int(self.model.config.hop_length)

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        length = wav.shape[-1]
        output = self.model.encode(
            self._pad_to_hop(wav), n_quantizers=self.num_levels, return_dict=True
        )
        return output.audio_codes[:, : self.num_levels, : self.num_frames(length)].cpu()

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        audio = self.model.decode(audio_codes=codes.to(self.device), return_dict=True).audio_values
        audio = audio.reshape(codes.shape[0], 1, -1).cpu()  # (B, S) -> (B, 1, S)
        # DAC's decoder convolutions can return a few samples short of T * hop: pad or cut.
        length = codes.shape[-1] * self.hop_length
        return torch.nn.functional.pad(audio, (0, max(0, length - audio.shape[-1])))[..., :length]


class MimiCodec(HFCodec):
    """Kyutai's Mimi (``MimiModel``, 12.5 frames/s); levels chosen with ``num_quantizers``.

    Level 1 is Mimi's semantic (distilled) codebook; the others are acoustic.
    """

    name = "mimi"

    def __init__(
        self, name_or_path: str = "kyutai/mimi", num_levels: int | None = None, device: str = "cpu"
    ) -> None:
        """Load a Mimi model.

        Args:
            name_or_path: hub id or local directory.
            num_levels: RVQ levels kept (default 8, as in Moshi).
            device: torch device.
        """
        model = _load_pretrained("MimiModel", name_or_path, device)
        config = model.config
        num_levels = _check_num_levels(num_levels, 8, int(config.num_quantizers), "this Mimi model")
        if num_levels < int(config.num_semantic_quantizers):
            raise SoundStormError(
                f"Mimi needs at least {config.num_semantic_quantizers} levels (its semantic ones)"
            )
        super().__init__(model, name_or_path, num_levels, device)

    @property
    def frame_rate(self) -> float:
        return float(self.model.config.frame_rate)

    def num_frames(self, num_samples: int) -> int:
        encoded = self.model.get_encoded_length(torch.tensor([num_samples]))
        return int(encoded.reshape(-1)[0])

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        output = self.model.encode(
            wav.to(self.device), num_quantizers=self.num_levels, return_dict=True
        )
        return output.audio_codes[:, : self.num_levels].cpu()

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        audio = self.model.decode(codes.to(self.device), return_dict=True).audio_values  # (B, 1, S)
        return audio.reshape(codes.shape[0], 1, -1).cpu()
