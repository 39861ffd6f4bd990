"""Fit the embedded codec on a sample of a corpus, for ``soundstorm prepare``.

The embedded codec (``soundstorm.codecs.EmbeddedCodec``) has no pretrained weights: its
RVQ codebooks are fitted by k-means on the audio it will encode. ``prepare`` fits it once,
on up to ``max_files`` files spread evenly over the sorted input list, and saves it in the
output folder so that every shard, every rank and every re-run uses the same codebooks.
"""

from __future__ import annotations

import os
from pathlib import Path

from soundstorm.data.inputs import AudioInput
from soundstorm.errors import SoundStormError


def sample_evenly(inputs: list[AudioInput], max_files: int) -> list[AudioInput]:
    """Up to ``max_files`` inputs spread evenly over ``inputs`` (deterministic)."""
    if max_files < 1:
        raise SoundStormError(f"--fit-files must be >= 1, got {max_files}")
    if len(inputs) <= max_files:
        return list(inputs)
    step = len(inputs) / max_files
    return [inputs[int(i * step)] for i in range(max_files)]


def fit_embedded_codec(
    inputs: list[AudioInput],
    path: str | os.PathLike,
    num_levels: int = 12,
    codebook_size: int = 1024,
    max_files: int = 200,
    min_duration: float = 0.0,
) -> Path:
    """Fit the embedded codec on a sample of ``inputs`` and save it to ``path`` atomically.

    Unreadable files of the sample are passed over (they are reported later, when encoded).

    Args:
        inputs: The corpus, sorted by id.
        path: Where to save the fitted codec.
        num_levels: RVQ levels ``Q``.
        codebook_size: Codebook size ``K``.
        max_files: Files sampled for fitting.
        min_duration: Sampled files shorter than this (seconds) are passed over.

    Returns:
        ``path``.

    Raises:
        SoundStormError: if no sampled file is readable.
    """
    from soundstorm.codecs import EmbeddedCodec
    from soundstorm.data.encoding import BadAudioError, read_audio

    wavs, sample_rate = [], None
    for item in sample_evenly(inputs, max_files):
        try:
            wav, rate = read_audio(item.path)  # (1, S) at the file's rate
        except BadAudioError:
            continue
        if wav.shape[-1] < min_duration * rate:
            continue
        if sample_rate is None:
            sample_rate = rate
        elif rate != sample_rate:
            from soundstorm.audio import resample

            wav = resample(wav, rate, sample_rate)
        wavs.append(wav)
    if not wavs:
        raise SoundStormError("cannot fit the embedded codec: no readable audio among the inputs")
    codec = EmbeddedCodec.fit(wavs, sample_rate, num_levels=num_levels, codebook_size=codebook_size)
    path = Path(path)
    temp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        codec.save(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path
