"""The semantic-tokenizer interface: audio -> content tokens (one id per semantic frame)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch

from soundstorm.audio import check_audio_samples, resample, to_mono
from soundstorm.errors import SoundStormError


class SemanticTokenizer(ABC):
    """Audio -> semantic token ids.

    Tokenizers implement ``_tokenize``; the base class's ``tokenize`` checks the audio first
    (as ``Codec.encode`` does for codecs).

    Shapes:
        wav: ``FloatTensor[B, C, S]`` at ``sample_rate``.
        tokens: ``LongTensor[B, T_sem]`` with values in ``[0, vocab_size)`` at ``frame_rate``.
    """

    name: str = "semantic"

    @property
    @abstractmethod
    def frame_rate(self) -> float:
        """Semantic frames per second."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of distinct token ids."""

    #: Whether ``tokenize`` can use transcripts of the audio (the words said, placed by
    #: forced alignment instead of recognised): the phone tokenizers can.
    accepts_transcripts: bool = False

    def tokenize(
        self,
        wav: torch.Tensor,
        sample_rate: int,
        transcripts: Sequence[str | None] | None = None,
    ) -> torch.Tensor:
        """Tokenize audio ``[B, C, S]`` into ids ``[B, T_sem]``.

        The base class refuses audio that is not ``[B, C, S]``, a rate that is not positive,
        audio shorter than one semantic frame (``1 / frame_rate`` seconds) and NaN/inf
        samples, then calls ``_tokenize``.

        Args:
            wav: ``FloatTensor[B, C, S]`` at ``sample_rate``.
            sample_rate: rate of ``wav`` in Hz.
            transcripts: the words said in each clip (``B`` strings; None for a clip whose
                words are unknown), for tokenizers with ``accepts_transcripts``.

        Returns:
            ``LongTensor[B, T_sem]``, ``T_sem >= 1``.

        Raises:
            AudioTooShortError: the audio is shorter than one semantic frame (or empty).
            AudioInputError: it holds NaN or infinite samples.
            SoundStormError: wrong shape or sample rate; transcripts given to a tokenizer
                that cannot use them, or not one per clip.
        """
        check_audio_batch(wav, sample_rate)
        check_audio_samples(wav, sample_rate, self.frame_rate, "semantic frame")
        if transcripts is None:
            return self._tokenize(wav, sample_rate)
        if not self.accepts_transcripts:
            raise SoundStormError(
                f"the {self.name!r} semantic tokenizer cannot use transcripts (the phone "
                "tokenizers can)"
            )
        if isinstance(transcripts, str) or len(transcripts) != wav.shape[0]:
            raise SoundStormError(
                f"transcripts must be a sequence of {wav.shape[0]} strings (one per clip)"
            )
        return self._tokenize(wav, sample_rate, transcripts=list(transcripts))

    def _tokenize(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Tokenize checked audio ``[B, C, S]`` (at least one frame long) into ``[B, T_sem]``."""
        raise NotImplementedError(
            f"{type(self).__name__} implements neither tokenize nor _tokenize"
        )

    def config_dict(self) -> dict:
        """JSON-serialisable description stored in token files."""
        return {"name": self.name, "frame_rate": self.frame_rate, "vocab_size": self.vocab_size}


def mono_resampled(wav: torch.Tensor, sample_rate: int, target_rate: int) -> torch.Tensor:
    """Mix audio down to mono and resample it for a tokenizer's model (``soundstorm.audio``'s
    :func:`~soundstorm.audio.to_mono` and :func:`~soundstorm.audio.resample`: soxr, high quality).

    Args:
        wav: ``FloatTensor[B, C, S]`` at ``sample_rate``.
        sample_rate: Sample rate of ``wav`` (Hz).
        target_rate: Sample rate the tokenizer's model expects (Hz).

    Returns:
        ``FloatTensor[B, S']`` (float32, CPU) with ``S' ~= S * target_rate / sample_rate``.

    Raises:
        SoundStormError: if ``wav`` is not 3-D or the sample rate is not positive.
    """
    check_audio_batch(wav, sample_rate)
    mono = to_mono(wav.detach().to("cpu", torch.float32))[:, 0]  # (B, C, S) -> (B, S)
    return resample(mono, sample_rate, target_rate).contiguous()  # (B, S')


def check_audio_batch(wav: torch.Tensor, sample_rate: int) -> None:
    """Raise ``SoundStormError`` unless ``wav`` is a ``[B, C, S]`` tensor and the rate positive."""
    if not isinstance(wav, torch.Tensor) or wav.dim() != 3:
        shape = tuple(wav.shape) if isinstance(wav, torch.Tensor) else type(wav).__name__
        raise SoundStormError(f"audio must be a tensor of shape [B, C, S], got {shape}")
    if not sample_rate or not sample_rate > 0:
        raise SoundStormError(f"sample_rate must be positive, got {sample_rate!r}")
