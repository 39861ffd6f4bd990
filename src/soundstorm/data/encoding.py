"""Audio -> tokens for one file: codec codes plus semantic ids aligned to the codec frames.

Shared by ``soundstorm prepare`` (in worker processes) and ``soundstorm encode``. Files that
cannot be used raise ``BadAudioError`` with a short reason, which ``prepare`` records in its
bad-file report instead of stopping.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from soundstorm.audio import naming_audio_errors
from soundstorm.data.inputs import AudioInput
from soundstorm.data.token_format import CODES_DTYPE, SEMANTIC_DTYPE, TokenUtterance
from soundstorm.errors import AudioInputError, SoundStormError
from soundstorm.tokens import check_token_range


class BadAudioError(SoundStormError):
    """An input file that cannot be turned into tokens (unreadable, empty, too short...)."""


def load_semantic_tokenizer(name: str):
    """A semantic tokenizer by name (``soundstorm.semantic.get_semantic_tokenizer``)."""
    from soundstorm.semantic import get_semantic_tokenizer

    return get_semantic_tokenizer(name)


def read_audio(path: str | os.PathLike) -> tuple[torch.Tensor, int]:
    """Read an audio file as mono ``FloatTensor[1, S]`` at its own sample rate.

    Raises:
        BadAudioError: if the file is missing, unreadable, not audio or empty.
    """
    from soundstorm.audio import load_audio

    try:
        wav, sample_rate = load_audio(path, sample_rate=None, mono=True)
    except SoundStormError as error:
        raise BadAudioError(str(error)) from None
    if wav.numel() == 0:
        raise BadAudioError(f"audio file {path} holds no samples")
    return wav, sample_rate


def encode_waveform(
    codec, tokenizer, wav: torch.Tensor, sample_rate: int, transcript: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Codes and aligned semantic ids of one waveform.

    Args:
        codec: A ``soundstorm.codecs.Codec``.
        tokenizer: A ``soundstorm.semantic.SemanticTokenizer``.
        wav: ``FloatTensor[C, S]`` audio.
        sample_rate: Sample rate of ``wav`` (Hz); codec and tokenizer resample as needed.
        transcript: the words said, for a tokenizer that aligns them (``accepts_transcripts``).

    Returns:
        ``codes uint16[Q, T]`` and ``semantic int32[T]`` (semantic ids at the codec frame
        rate: repeated or nearest-frame aligned from the tokenizer's rate).

    Raises:
        AudioTooShortError: shorter than one codec or semantic frame.
        AudioInputError: NaN or infinite samples.
        SoundStormError: if the codec or tokenizer returns ids out of range or no frame.
    """
    from soundstorm.semantic import align

    batch = wav[None]  # (C, S) -> (1, C, S)
    with torch.inference_mode():
        codes = codec.encode(batch, sample_rate)[0]  # (Q, T)
        transcripts = None if transcript is None else [transcript]
        semantic = tokenizer.tokenize(batch, sample_rate, transcripts)[0]  # (T_sem,)
    num_frames = int(codes.shape[-1])
    if num_frames == 0 or semantic.numel() == 0:
        raise BadAudioError("audio too short: the codec or tokenizer produced no frame")
    semantic = align(semantic, tokenizer.frame_rate, codec.frame_rate, num_frames)  # (T,)
    codes = codes.cpu().numpy()
    semantic = semantic.cpu().numpy()
    check_token_range(codes, codec.codebook_size, "code", where=f"codec {codec.name} output")
    check_token_range(
        semantic, tokenizer.vocab_size, "semantic id", where=f"tokenizer {tokenizer.name} output"
    )
    return codes.astype(CODES_DTYPE), semantic.astype(SEMANTIC_DTYPE)


def encode_file(codec, tokenizer, item: AudioInput, min_duration: float = 0.0) -> TokenUtterance:
    """Read and encode one audio file.

    Args:
        codec: A ``Codec``.
        tokenizer: A ``SemanticTokenizer``.
        item: The file and its utterance id; its ``text``, if any, goes to the tokenizer
            (``prepare`` keeps it only with ``transcripts=True``).
        min_duration: Files shorter than this (seconds) are rejected.

    Returns:
        The utterance's tokens.

    Raises:
        BadAudioError: unreadable, not audio, empty, or shorter than ``min_duration``.
        AudioInputError: (naming the file) shorter than one codec or semantic frame
            (``AudioTooShortError``), or non-finite samples.
    """
    wav, sample_rate = read_audio(item.path)  # (1, S)
    duration = wav.shape[-1] / sample_rate
    if duration < min_duration:
        raise BadAudioError(f"too short: {duration:.3f} s < --min-duration {min_duration} s")
    with naming_audio_errors(item.path):
        if not torch.isfinite(wav).all():
            raise AudioInputError("audio holds NaN or infinite samples")
        codes, semantic = encode_waveform(codec, tokenizer, wav, sample_rate, item.text)
    return TokenUtterance(item.id, codes, semantic, duration=duration, source=item.path)


# Worker-process state for ``prepare``'s pool: the codec and tokenizer are built once per worker.
_WORKER: dict = {}


def init_worker(
    codec, tokenizer, min_duration: float, num_threads: int | None = 1, device: str = "cpu"
) -> None:
    """Pool initializer: keep the codec / tokenizer (objects or spec strings) for the tasks.

    ``num_threads`` sets torch's intra-op threads of the worker (``None``: unchanged);
    ``device`` is where a codec given by name is loaded.
    """
    from soundstorm.codecs import get_codec

    if num_threads is not None:
        torch.set_num_threads(num_threads)
    _WORKER["codec"] = get_codec(codec, device=device) if isinstance(codec, str) else codec
    _WORKER["tokenizer"] = (
        load_semantic_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
    )
    _WORKER["min_duration"] = min_duration


def encode_task(item: AudioInput) -> tuple[AudioInput, TokenUtterance | None, str | None]:
    """Encode one file with the worker's codec; never raises for a bad file.

    Returns:
        ``(item, utterance, None)`` on success, ``(item, None, reason)`` for a bad file.
    """
    try:
        utterance = encode_file(
            _WORKER["codec"], _WORKER["tokenizer"], item, _WORKER["min_duration"]
        )
        return item, utterance, None
    except (BadAudioError, AudioInputError) as error:  # too short, NaN, unreadable...
        return item, None, str(error)
    except (SoundStormError, RuntimeError, ValueError, OSError) as error:
        return item, None, f"{type(error).__name__}: {error}"
