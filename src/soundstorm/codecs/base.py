"""The codec interface: audio <-> residual-vector-quantized (RVQ) tokens.

Modelled on audiocraft's ``CompressionModel``. Every adapter (embedded default, EnCodec,
DAC, Mimi) implements this class; the rest of the project only talks to ``Codec``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from soundstorm.audio import check_audio_samples, resample, to_mono
from soundstorm.errors import AudioInputError, SoundStormError
from soundstorm.tokens import check_token_range


class Codec(ABC):
    """Audio <-> RVQ codes.

    Shapes:
        wav: ``FloatTensor[B, C, S]`` at ``sample_rate`` (any C; mixed down to mono).
        codes: ``LongTensor[B, Q, T]`` with values in ``[0, codebook_size)``,
            ``T ~= S / sample_rate * frame_rate``.
    """

    name: str = "codec"

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Sample rate of the audio the codec works at (Hz)."""

    @property
    @abstractmethod
    def frame_rate(self) -> float:
        """Token frames per second."""

    @property
    @abstractmethod
    def num_levels(self) -> int:
        """Number of RVQ levels Q produced by ``encode``."""

    @property
    @abstractmethod
    def codebook_size(self) -> int:
        """Codebook size K of every level."""

    def encode(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Encode audio ``[B, C, S]`` at ``sample_rate`` into codes ``[B, Q, T]``.

        The base class refuses audio shorter than one frame (``1 / frame_rate`` seconds) or
        holding NaN/inf samples, mixes the channels down to mono and resamples to
        ``self.sample_rate`` (see ``prepare_audio``), then calls ``_encode``. Adapters
        implement ``_encode``, which may rely on at least one frame of finite samples.

        Args:
            wav: ``FloatTensor[B, C, S]`` (``[C, S]`` and ``[S]`` are taken as ``B = 1``).
            sample_rate: rate of ``wav`` in Hz.

        Returns:
            ``LongTensor[B, Q, T]`` with values in ``[0, codebook_size)``, ``T >= 1``.

        Raises:
            AudioTooShortError: the audio is shorter than one codec frame (or empty).
            AudioInputError: it holds NaN or infinite samples.
            SoundStormError: it is not a float tensor of audio, or the rate is not positive.
        """
        with torch.no_grad():
            codes = self._encode(self.prepare_audio(wav, sample_rate))
        return codes.long()

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Decode codes ``[B, Q', T]`` (Q' <= Q: coarse levels only) into audio ``[B, 1, S]``.

        The base class checks the shape, the number of levels and the code range, then
        calls ``_decode``. Adapters implement ``_decode``.

        Args:
            codes: ``LongTensor[B, Q', T]`` with ``1 <= Q' <= num_levels``.

        Returns:
            ``FloatTensor[B, 1, S]`` at ``self.sample_rate``, ``S ~= T / frame_rate * sample_rate``.
        """
        self.check_codes(codes)
        with torch.no_grad():
            wav = self._decode(codes.long())
        return wav.float()

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        """Encode mono audio ``[B, 1, S]`` already at ``self.sample_rate`` into ``[B, Q, T]``."""
        raise NotImplementedError(f"{type(self).__name__} implements neither encode nor _encode")

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Decode validated codes ``[B, Q', T]`` into audio ``[B, 1, S]``."""
        raise NotImplementedError(f"{type(self).__name__} implements neither decode nor _decode")

    def prepare_audio(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Bring audio to the codec's input format: ``[B, 1, S]`` float at ``self.sample_rate``.

        Args:
            wav: ``[B, C, S]``, ``[C, S]`` or ``[S]`` float audio.
            sample_rate: its rate in Hz.

        Returns:
            ``FloatTensor[B, 1, S']`` (channels averaged, resampled with soxr when needed).

        Raises:
            AudioTooShortError, AudioInputError, SoundStormError: as ``encode``.
        """
        if not torch.is_tensor(wav) or not wav.is_floating_point():
            raise SoundStormError("codec input must be a float tensor of audio samples")
        if wav.dim() == 1:
            wav = wav[None, None]
        elif wav.dim() == 2:
            wav = wav[None]
        if wav.dim() != 3:
            raise SoundStormError(f"codec input must be [B, C, S] audio, got {tuple(wav.shape)}")
        if not sample_rate > 0:
            raise SoundStormError(f"sample_rate must be positive, got {sample_rate!r}")
        if wav.shape[1] == 0:
            raise AudioInputError("codec input has no channel")
        check_audio_samples(wav, sample_rate, self.frame_rate, "codec frame")
        wav = to_mono(wav.float())
        if int(sample_rate) != self.sample_rate:
            wav = resample(wav, int(sample_rate), self.sample_rate)
        return wav

    def check_codes(self, codes: torch.Tensor) -> None:
        """Raise ``SoundStormError`` unless ``codes`` is ``[B, Q', T]`` integers in range, T >= 1."""
        if not torch.is_tensor(codes) or codes.is_floating_point() or codes.dim() != 3:
            raise SoundStormError(
                f"codes must be an integer tensor [B, Q, T], got "
                f"{getattr(codes, 'dtype', type(codes))} {tuple(getattr(codes, 'shape', ()))}"
            )
        if codes.shape[-1] == 0:
            raise SoundStormError("codes have no frame (T = 0): there is nothing to decode")
        num_used = codes.shape[1]
        if not 1 <= num_used <= self.num_levels:
            raise SoundStormError(
                f"codes have {num_used} levels; this codec decodes 1 to {self.num_levels}"
            )
        check_token_range(codes, self.codebook_size, "code", source=f"codec {self.name}")

    def num_frames(self, num_samples: int) -> int:
        """Frames ``T`` that ``encode`` gives for ``num_samples`` samples at ``sample_rate``."""
        return math.ceil(num_samples * self.frame_rate / self.sample_rate)

    def code_vectors(self) -> torch.Tensor | None:
        """The vector each code stands for, ``[Q, K, D]`` float (level 0 first), or None.

        Residual codecs decode the sum of one vector per level; minimum-Bayes-risk decoding
        (``DecodeOptions.greedy_choice="mbr"``) measures distances between codes with them.
        None (the base class) when the codec does not expose them.
        """
        return None

    def content_digest(self) -> str | None:
        """Hex digest of what this codec computes (settings and weights), or None.

        ``prepare`` records it to resume only with the same codec. Codecs saved as a file of
        their own (``EmbeddedCodec``) hash their content, never the file's incidental bytes,
        so re-saving keeps the digest; codecs named by a hub id or directory return None (the
        name and ``config_dict`` identify them).
        """
        return None

    def config_dict(self) -> dict:
        """JSON-serialisable description stored in token files (name, rates, sizes)."""
        return {
            "name": self.name,
            "sample_rate": self.sample_rate,
            "frame_rate": self.frame_rate,
            "num_levels": self.num_levels,
            "codebook_size": self.codebook_size,
        }
