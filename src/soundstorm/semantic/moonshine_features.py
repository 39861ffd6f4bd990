"""Moonshine tiny-en encoder features: the default semantic tokenizer's extractor.

Moonshine (Jeffries et al., 2024) is a small English ASR model. Its encoder turns raw 16 kHz
audio into ``[T, 288]`` frames at 16000 / 384 = 41.67 frames per second (three strided
convolutions: 64 x 3 x 2 = 384 samples per frame, then 6 transformer layers). Those frames,
quantised by k-means fitted on the user's audio (``soundstorm prepare``), are the default
semantic tokens: they follow what is said much more than who says it (docs/benchmarks.md,
"Semantic tokens"), the role w2v-BERT plays in the paper (section 3).

The encoder ships inside the ``moonshine-voice==0.1.0`` wheel
(``moonshine_voice/assets/tiny-en/encoder_model.ort``, 13 MB, MIT licence; later versions no
longer bundle it) and runs with ``onnxruntime`` on the CPU. The file is located through
``importlib`` without importing ``moonshine_voice`` (whose ``__init__`` loads its native
library and audio-device bindings)::

    extractor = MoonshineFeatures()
    frames = extractor.extract(wav)   # FloatTensor[B, S] at 16 kHz -> FloatTensor[B, T, 288]

Framing: the encoder's convolutions give frame ``t`` the window of samples
``[384 t, 384 t + 895)`` (centred at ``384 t + 447``; the transformer layers above them then
see the whole utterance), so the first frame needs 895 samples. The audio is zero-padded by 255 samples in
front and 639 behind, so that frame ``t`` is centred at ``(t + 1/2) / frame_rate`` seconds (the
convention of ``soundstorm.semantic.align``) and ``T = ceil(S / 384)`` for every length
``S >= 1``.

In the exported encoder the items of a batch influence each other (features of one item move
by up to 0.6, against a mean magnitude of 0.25, when other audio shares its batch; a batch of
copies of one item gives that item's features exactly), so ``extract`` runs the items one by
one: a batch gives exactly the tokens of its items.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from soundstorm.dependencies import missing_dependency_error
from soundstorm.errors import SoundStormError

#: Where the encoder lies inside the installed ``moonshine_voice`` package.
ENCODER_RELATIVE_PATH = Path("assets") / "tiny-en" / "encoder_model.ort"
#: Where the decoder of its speech recogniser lies (``soundstorm.evaluate.asr``).
DECODER_RELATIVE_PATH = Path("assets") / "tiny-en" / "decoder_model_merged.ort"
_HOP = 384  # samples per encoder frame at 16 kHz (conv strides 64 x 3 x 2)
_FIRST = 895  # samples the first frame needs (receptive field of the convolutions)
_PAD_LEFT = 255  # centres frame t at 384 t + 192 samples: (t + 1/2) / frame_rate seconds
_PAD_RIGHT = _FIRST - 1 - _PAD_LEFT  # with it, T = ceil(S / 384)
_DIGEST_BYTES = 1 << 20


def bundled_model_file(relative_path: Path, what: str, purpose: str) -> Path:
    """A file of the Moonshine tiny-en model in the installed ``moonshine-voice`` wheel.

    Args:
        relative_path: its path inside the package (e.g. :data:`ENCODER_RELATIVE_PATH`).
        what: what it is, for the error (``"encoder"``).
        purpose: what needs it, for the install hint (``"the Moonshine semantic tokenizer"``).

    Returns:
        Its path.

    Raises:
        SoundStormError: ``moonshine-voice`` is not installed (one line with the install
            command), or it is a version that does not bundle the model (pin 0.1.0).
    """
    spec = importlib.util.find_spec("moonshine_voice")  # finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        raise missing_dependency_error(["moonshine_voice"], purpose)
    path = Path(list(spec.submodule_search_locations)[0]) / relative_path
    if not path.is_file():
        raise SoundStormError(
            f"no Moonshine {what} at {path}: this moonshine-voice does not bundle it "
            "(pip install moonshine-voice==0.1.0)"
        )
    return path


def bundled_encoder_path() -> Path:
    """The Moonshine tiny-en encoder file of the installed ``moonshine-voice`` wheel.

    Returns:
        The path of ``encoder_model.ort``.

    Raises:
        SoundStormError: as :func:`bundled_model_file`.
    """
    return bundled_model_file(ENCODER_RELATIVE_PATH, "encoder", "the Moonshine semantic tokenizer")


def file_digest(path: str | os.PathLike) -> str:
    """SHA-1 of the first MiB and the size of a file: identifies the encoder cheaply."""
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(_DIGEST_BYTES)
    return hashlib.sha1(head + str(path.stat().st_size).encode()).hexdigest()


def num_frames(num_samples: int) -> int:
    """Frames ``extract`` gives for ``num_samples`` samples at 16 kHz: ``ceil(S / 384)``."""
    return math.ceil(num_samples / _HOP)


class MoonshineFeatures:
    """The last hidden state of the Moonshine tiny-en encoder (a ``FeatureExtractor``).

    Args:
        model_path: An ``encoder_model.ort`` / ``.onnx`` file (None: the one bundled in
            ``moonshine-voice``, :func:`bundled_encoder_path`).
        expected_digest: The :func:`file_digest` the encoder must have (a saved tokenizer
            records it); None: not checked.
        num_threads: onnxruntime intra-op threads (None: torch's thread count when the
            session starts, so that ``prepare``'s worker processes use one each).

    Raises:
        SoundStormError: ``moonshine-voice`` or ``onnxruntime`` is missing (one line with the
            install command), the file is missing, or its digest is not ``expected_digest``.
    """

    kind: ClassVar[str] = "moonshine"
    sample_rate: ClassVar[int] = 16_000
    frame_rate: ClassVar[float] = 16_000 / _HOP  # 41.67 Hz
    feature_dim: ClassVar[int] = 288

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        expected_digest: str | None = None,
        num_threads: int | None = None,
    ) -> None:
        if importlib.util.find_spec("onnxruntime") is None:
            raise missing_dependency_error(["onnxruntime"], "the Moonshine semantic tokenizer")
        self.bundled = model_path is None
        path = bundled_encoder_path() if model_path is None else Path(model_path).expanduser()
        if not path.is_file():
            raise SoundStormError(f"no Moonshine encoder file at {path}")
        self.model_path = path.resolve()
        self.digest = file_digest(self.model_path)
        if expected_digest is not None and expected_digest != self.digest:
            raise SoundStormError(
                f"the Moonshine encoder {self.model_path} is not the one this tokenizer was "
                f"fitted with (digest {self.digest}, expected {expected_digest}): install "
                "moonshine-voice==0.1.0"
            )
        self.num_threads = num_threads
        self._session = None

    @classmethod
    def from_config(cls, config: dict, device: str | torch.device = "cpu") -> MoonshineFeatures:
        """Rebuild from ``config_dict()`` entries (``encoder_digest``, optional ``model_path``).

        ``device`` is accepted for the registry's signature; the encoder runs on the CPU.
        """
        del device  # onnxruntime on the CPU whatever the torch device
        return cls(config.get("model_path"), expected_digest=config.get("encoder_digest"))

    def _get_session(self):
        """The onnxruntime session, started on first use."""
        if self._session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            threads = self.num_threads or torch.get_num_threads()
            options.intra_op_num_threads = max(1, int(threads))
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # errors only
            self._session = onnxruntime.InferenceSession(
                str(self.model_path), options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def extract(self, wav: torch.Tensor) -> torch.Tensor:
        """``FloatTensor[B, S]`` at 16 kHz -> ``FloatTensor[B, T, 288]`` on the CPU.

        ``T = ceil(S / 384)``; frame ``t`` is centred at ``(t + 1/2) * 384`` samples. Items are
        encoded one by one (see the module docstring), so none influences another.

        Raises:
            SoundStormError: ``wav`` is not ``[B, S]`` or holds no sample.
        """
        if wav.dim() != 2 or wav.shape[-1] == 0:
            raise SoundStormError(f"expected audio [B, S] with S > 0, got {tuple(wav.shape)}")
        session = self._get_session()
        audio = wav.detach().to("cpu", torch.float32).numpy()
        audio = np.pad(audio, ((0, 0), (_PAD_LEFT, _PAD_RIGHT)))  # (B, S + 894)
        mask = np.ones((1, audio.shape[1]), dtype=np.int64)
        frames = [
            session.run(None, {"input_values": item[None], "attention_mask": mask})[0]
            for item in np.ascontiguousarray(audio)
        ]  # B x (1, T, 288)
        return torch.from_numpy(np.concatenate(frames, axis=0))  # (B, T, 288)

    def config_dict(self) -> dict:
        """``encoder`` (``"moonshine tiny-en"``), ``encoder_digest`` and, for an encoder other
        than the bundled one, its absolute ``model_path``."""
        config = {"encoder": "moonshine tiny-en", "encoder_digest": self.digest}
        if not self.bundled:
            config["model_path"] = str(self.model_path)
        return config
