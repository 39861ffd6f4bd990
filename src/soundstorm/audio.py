"""Audio file input/output, resampling and mono mix-down: the one home of each.

Waveforms are float tensors ``[C, S]`` (channels, samples) in ``[-1, 1]``; batched code
elsewhere uses ``[B, C, S]``. Files are read and written with ``soundfile`` and resampled
with ``soxr`` (both core dependencies). Every reader of audio files (``encode``, ``prepare``,
``generate``, ``demo``, ``semantic``, ``evaluate``, the corpus builder) goes through
:func:`load_audio`, every resampler through :func:`resample_array` (numpy) or
:func:`resample` (tensors), every folder listing through :data:`AUDIO_SUFFIXES`.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from soundstorm.errors import (
    AudioInputError,
    AudioTooShortError,
    SoundStormError,
    os_error_message,
)
from soundstorm.files import atomic_path

AUDIO_SUFFIXES = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".w64"
)  # fmt: skip
"""File suffixes (lower case) treated as audio when a folder is listed: formats libsndfile
reads."""


def is_audio_file(path: str | os.PathLike) -> bool:
    """True when ``path``'s suffix (any case) is one of :data:`AUDIO_SUFFIXES`."""
    return Path(path).suffix.lower() in AUDIO_SUFFIXES


def load_audio(
    path: str | os.PathLike, sample_rate: int | None = None, mono: bool = True
) -> tuple[torch.Tensor, int]:
    """Read an audio file.

    Args:
        path: any format libsndfile reads (wav, flac, ogg, ...).
        sample_rate: resample to this rate; ``None`` keeps the file's rate.
        mono: average the channels into one.

    Returns:
        ``(wav, sr)``: ``FloatTensor[C, S]`` (``C == 1`` when ``mono``) and its sample rate.

    Raises:
        SoundStormError: the file is missing, a folder, unreadable or not audio (one line
            naming the file, whatever libsndfile or the operating system raised).
        AudioInputError: the file holds no samples, or NaN / infinite ones.
    """
    import soundfile

    path = Path(path)
    if path.is_dir():
        raise SoundStormError(f"{path} is a folder, not an audio file")
    if not path.is_file():
        raise SoundStormError(f"audio file not found: {path}")
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (S, C)
    except Exception as error:  # libsndfile raises several types (RuntimeError, LibsndfileError)
        reason = " ".join(str(error).split())  # one line, whatever the library said
        reason = reason.replace(f"Error opening {str(path)!r}: ", "")  # the path is said once
        raise SoundStormError(f"cannot read audio file {path}: {reason}") from error
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise AudioInputError("the file holds no samples", source=path)
    if not np.isfinite(data).all():  # float files can: no reader downstream copes
        raise AudioInputError("the file holds NaN or infinite samples", source=path)
    wav = torch.from_numpy(np.ascontiguousarray(data.T))  # (C, S)
    if mono:
        wav = to_mono(wav)
    if sample_rate is not None and sample_rate != file_rate:
        wav = resample(wav, file_rate, sample_rate)
        file_rate = sample_rate
    return wav, int(file_rate)


def save_audio(
    path: str | os.PathLike, wav: torch.Tensor, sample_rate: int, subtype: str | None = None
) -> None:
    """Write audio atomically (to a temporary file in the same folder, then renamed).

    Args:
        path: destination; the format follows the extension (``.wav``, ``.flac``, ...).
        wav: ``[S]`` or ``[C, S]`` float in ``[-1, 1]`` (values outside are clipped).
        sample_rate: sample rate in Hz.
        subtype: libsndfile subtype (default: the format's default, PCM_16 for wav).

    Raises:
        SoundStormError: bad shape or the file cannot be written.
    """
    import soundfile

    if wav.dim() == 1:
        wav = wav[None]
    if wav.dim() != 2:
        raise SoundStormError(f"save_audio expects [C, S] audio, got shape {tuple(wav.shape)}")
    path = Path(path)
    data = wav.detach().to("cpu", torch.float32).clamp(-1.0, 1.0).T.numpy()  # (S, C)
    file_format = path.suffix.lstrip(".").upper() or "WAV"
    encoded = io.BytesIO()  # encoded in memory: libsndfile reports a full disk as "System error."
    try:
        soundfile.write(encoded, data, int(sample_rate), subtype=subtype, format=file_format)
    except Exception as error:  # an unknown format or subtype
        raise SoundStormError(f"cannot write audio file {path}: {error}") from error
    try:
        with atomic_path(path) as temp:
            temp.write_bytes(encoded.getvalue())
    except OSError as error:  # no space left, permission denied...: the cause, in one line
        cause = os_error_message(OSError(error.errno, error.strerror))
        raise SoundStormError(f"cannot write audio file {path}: {cause}") from error


def resample_array(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample with soxr (high quality), keeping the leading dimensions and the dtype.

    Args:
        samples: ``[..., S]`` float32 or float64 audio at ``source_rate``.
        source_rate: input rate (Hz).
        target_rate: output rate (Hz).

    Returns:
        ``[..., S']`` of the input's dtype, ``S' ~= S * target_rate / source_rate``; the
        input itself when the rates are equal.

    Raises:
        AudioInputError: a rate that is not positive.
    """
    if not source_rate > 0 or not target_rate > 0:
        raise AudioInputError(f"sample rates must be positive, got {source_rate} -> {target_rate}")
    if source_rate == target_rate:
        return samples
    leading, length = samples.shape[:-1], samples.shape[-1]
    if samples.size == 0:  # no channel, or no sample
        size = int(round(length * target_rate / source_rate))
        return np.zeros((*leading, size), dtype=samples.dtype)
    flat = samples.reshape(-1, length)  # (N, S)
    import soxr

    if flat.shape[0] == 1:
        out = soxr.resample(np.ascontiguousarray(flat[0]), source_rate, target_rate, quality="HQ")
        return out.reshape(*leading, out.shape[-1])
    # soxr takes (S, channels) and resamples all channels together (each as if alone).
    out = soxr.resample(np.ascontiguousarray(flat.T), source_rate, target_rate, quality="HQ")
    return np.ascontiguousarray(out.T).reshape(*leading, out.shape[0])


def resample(wav: torch.Tensor, src_sr: int, dst_sr: int) -> torch.Tensor:
    """Resample with soxr (high quality), keeping the leading dimensions.

    Args:
        wav: ``[..., S]`` float audio at ``src_sr``.
        src_sr: input rate (Hz).
        dst_sr: output rate (Hz).

    Returns:
        ``[..., S']`` float32 on the input's device, ``S' ~= S * dst_sr / src_sr``; ``wav``
        itself when the rates are equal.

    Raises:
        AudioInputError: a rate that is not positive.
    """
    if src_sr > 0 and src_sr == dst_sr:
        return wav
    samples = wav.detach().to("cpu", torch.float32).numpy()
    out = resample_array(samples, src_sr, dst_sr)
    return torch.from_numpy(np.ascontiguousarray(out)).to(wav.device)


def to_mono(wav: torch.Tensor) -> torch.Tensor:
    """Average the channel dimension (second to last) into one channel.

    Args:
        wav: ``[C, S]`` or ``[B, C, S]``.

    Returns:
        ``[1, S]`` or ``[B, 1, S]``.
    """
    if wav.dim() < 2:
        raise SoundStormError(f"to_mono expects [C, S] or [B, C, S] audio, got {tuple(wav.shape)}")
    if wav.shape[-2] == 1:
        return wav
    return wav.mean(dim=-2, keepdim=True)


def spectrogram_db(
    wav: torch.Tensor, n_fft: int = 1024, hop: int = 256, floor_db: float = 80.0
) -> torch.Tensor:
    """Magnitude spectrogram in dB relative to its loudest bin, for figures and TensorBoard.

    Hann window, centred frames; audio shorter than ``n_fft`` is zero-padded to it.

    Args:
        wav: ``[S]`` mono audio.
        n_fft: window and FFT length (samples).
        hop: hop between frames (samples).
        floor_db: the dynamic range kept: values lie in ``[-floor_db, 0]``.

    Returns:
        ``FloatTensor[n_fft // 2 + 1, frames]`` on ``wav``'s device, low frequencies first,
        maximum 0 dB.
    """
    audio = wav.float()
    if audio.numel() < n_fft:
        audio = torch.nn.functional.pad(audio, (0, n_fft - audio.numel()))
    window = torch.hann_window(n_fft, device=audio.device)
    spec = torch.stft(audio, n_fft, hop, window=window, return_complex=True).abs()  # (F, N)
    db = 20.0 * torch.log10(spec.clamp_min(1e-5))
    return (db - db.max()).clamp_min(-floor_db)


def check_audio_samples(
    wav: torch.Tensor, sample_rate: float, frame_rate: float, frame: str = "codec frame"
) -> None:
    """Refuse audio that a frame-based model cannot read: shorter than one frame, or NaN/inf.

    Shared by ``Codec.encode`` and ``SemanticTokenizer.tokenize``, so every path that takes
    audio from a user (encode, prepare, generate, demo, evaluate) gives the same one-line
    error instead of a failure deep inside an STFT or a convolution.

    Args:
        wav: ``[..., S]`` audio.
        sample_rate: its rate (Hz).
        frame_rate: frames per second of the model that reads it.
        frame: the frame's name in the message (``"codec frame"``, ``"semantic frame"``).

    Raises:
        AudioTooShortError: ``S / sample_rate < 1 / frame_rate`` (empty audio included).
        AudioInputError: some samples are NaN or infinite.
    """
    num_samples = wav.shape[-1]
    if num_samples * frame_rate < sample_rate:
        raise AudioTooShortError(num_samples / sample_rate, 1.0 / frame_rate, frame)
    if not bool(torch.isfinite(wav).all()):
        raise AudioInputError("audio holds NaN or infinite samples")


@contextlib.contextmanager
def naming_audio_errors(source: str | os.PathLike | None) -> Iterator[None]:
    """Name ``source`` (a file, or a role such as ``"prompt"``) in the ``AudioInputError``
    raised inside the block: the codec and tokenizers see samples, not files.

    Example::

        with naming_audio_errors(path):
            codes = codec.encode(wav, rate)  # "x.wav: audio is 10.0 ms long, shorter than ..."
    """
    try:
        yield
    except AudioInputError as error:
        named = error.named(source)
        if named is error:
            raise
        raise named from None
