"""Audio loading and conversion shared by the evaluation metrics.

Every metric of the suite works on mono ``float32`` numpy arrays at 16 kHz
(:data:`EVAL_SAMPLE_RATE`): the rate of the PocketSphinx acoustic model, of the Resemblyzer
speaker encoder and of DNSMOS. This module turns files and ``[B, C, S]`` tensors into that form.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from soundstorm.errors import SoundStormError

EVAL_SAMPLE_RATE = 16_000
"""Sample rate (Hz) every evaluation metric works at."""

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
"""File suffixes treated as audio when a directory is listed."""


def to_mono_numpy(wav: np.ndarray | torch.Tensor) -> np.ndarray:
    """Convert audio of any common layout into a mono ``float32`` array.

    Args:
        wav: ``[S]``, ``[C, S]`` or ``[1, C, S]`` samples (numpy or torch). Channels are averaged.

    Returns:
        ``float32[S]``.
    """
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().to("cpu", torch.float32).numpy()
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 3:
        if wav.shape[0] != 1:
            raise ValueError(f"expected one waveform, got a batch of {wav.shape[0]}")
        wav = wav[0]
    if wav.ndim == 2:
        wav = wav.mean(axis=0)
    if wav.ndim != 1:
        raise ValueError(f"expected audio [S], [C, S] or [1, C, S], got shape {tuple(wav.shape)}")
    return np.ascontiguousarray(wav)


def resample(wav: np.ndarray, source_rate: int, target_rate: int = EVAL_SAMPLE_RATE) -> np.ndarray:
    """Resample mono audio with soxr (high quality).

    Args:
        wav: ``float32[S]`` at ``source_rate``.
        source_rate: sample rate of ``wav`` (Hz).
        target_rate: wanted sample rate (Hz).

    Returns:
        ``float32[S * target_rate / source_rate]``.
    """
    if source_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {source_rate}")
    if source_rate == target_rate or wav.size == 0:
        return wav.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(wav, source_rate, target_rate, quality="HQ").astype(np.float32)


def prepare_audio(
    wav: np.ndarray | torch.Tensor, sample_rate: int, target_rate: int = EVAL_SAMPLE_RATE
) -> np.ndarray:
    """Mono, ``float32``, resampled to ``target_rate``: the form every metric takes.

    Args:
        wav: ``[S]``, ``[C, S]`` or ``[1, C, S]`` audio at ``sample_rate``.
        sample_rate: its sample rate (Hz).
        target_rate: wanted sample rate (Hz).

    Returns:
        ``float32[S']`` at ``target_rate``.
    """
    return resample(to_mono_numpy(wav), sample_rate, target_rate)


def load_audio(path: str | Path, target_rate: int = EVAL_SAMPLE_RATE) -> np.ndarray:
    """Read an audio file as mono ``float32`` at ``target_rate``.

    Reading, mixing down and resampling are :func:`soundstorm.audio.load_audio`'s, so a bad
    file gives the same one-line error here as in ``soundstorm encode`` or ``generate``.

    Args:
        path: a file soundfile can read (wav, flac, ogg, ...).
        target_rate: wanted sample rate (Hz).

    Returns:
        ``float32[S]``.

    Raises:
        FileNotFoundError: the file does not exist.
        SoundStormError: the file is a folder, not readable audio or holds no samples
            (one line naming the file).
    """
    from soundstorm.audio import load_audio as read_audio

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"audio file not found: {path}")
    wav, _ = read_audio(path, sample_rate=target_rate, mono=True)  # (1, S)
    return np.ascontiguousarray(wav[0].numpy(), dtype=np.float32)


def list_audio_files(directory: str | Path) -> list[Path]:
    """Audio files directly inside ``directory``, sorted by name.

    Raises:
        SoundStormError: the directory holds no audio file.
    """
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise SoundStormError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {directory}")
    return files


def duration_seconds(wav: np.ndarray, sample_rate: int = EVAL_SAMPLE_RATE) -> float:
    """Duration of mono audio ``float32[S]`` in seconds."""
    return float(wav.shape[-1]) / float(sample_rate)


def rms_dbfs(wav: np.ndarray) -> float:
    """Root-mean-square level of ``float32[S]`` in dB relative to full scale (-inf if silent)."""
    if wav.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")
