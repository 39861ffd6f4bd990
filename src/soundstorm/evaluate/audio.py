"""Audio loading and conversion shared by the evaluation metrics.

Every metric of the suite works on mono ``float32`` numpy arrays at 16 kHz
(:data:`EVAL_SAMPLE_RATE`): the rate of the PocketSphinx acoustic model, of the Resemblyzer
speaker encoder and of DNSMOS. This module turns files and ``[B, C, S]`` tensors into that form;
reading, mixing down and resampling are :mod:`soundstorm.audio`'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from soundstorm.audio import AUDIO_SUFFIXES, is_audio_file, resample_array, to_mono
from soundstorm.audio import load_audio as read_audio
from soundstorm.errors import SoundStormError

EVAL_SAMPLE_RATE = 16_000
"""Sample rate (Hz) every evaluation metric works at."""


def to_mono_numpy(wav: np.ndarray | torch.Tensor) -> np.ndarray:
    """Convert audio of any common layout into a mono ``float32`` array.

    Args:
        wav: ``[S]``, ``[C, S]`` or ``[1, C, S]`` samples (numpy or torch). Channels are averaged
            (:func:`soundstorm.audio.to_mono`).

    Returns:
        ``float32[S]``.

    Raises:
        ValueError: a batch of several waveforms, or another number of dimensions.
    """
    wav = torch.as_tensor(wav).detach().to("cpu", torch.float32)
    if wav.dim() == 3:
        if wav.shape[0] != 1:
            raise ValueError(f"expected one waveform, got a batch of {wav.shape[0]}")
        wav = wav[0]
    if wav.dim() == 2:
        wav = to_mono(wav)[0]
    if wav.dim() != 1:
        raise ValueError(f"expected audio [S], [C, S] or [1, C, S], got shape {tuple(wav.shape)}")
    return np.ascontiguousarray(wav.numpy())


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

    Raises:
        ValueError: a layout :func:`to_mono_numpy` refuses, or a rate that is not positive.
    """
    return resample_array(to_mono_numpy(wav), sample_rate, target_rate)


def load_eval_audio(path: str | Path, target_rate: int = EVAL_SAMPLE_RATE) -> np.ndarray:
    """Read an audio file as mono ``float32`` at ``target_rate`` (the metrics' form).

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
    files = sorted(p for p in directory.iterdir() if is_audio_file(p))
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
