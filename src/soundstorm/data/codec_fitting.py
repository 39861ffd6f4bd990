"""Fit the embedded codec on a sample of a corpus, for ``soundstorm prepare``.

The embedded codec (``soundstorm.codecs.EmbeddedCodec``) has no pretrained weights: its
RVQ codebooks are fitted by k-means on the audio it will encode. ``prepare`` fits it once,
on up to ``max_files`` files spread evenly over the sorted input list, and saves it in the
output folder so that every shard, every rank and every re-run uses the same codebooks.
``preset`` chooses the codec version (``EmbeddedCodecConfig.preset``): ``"v1"`` (16 kHz
log-mel, Griffin-Lim) or ``"v2"`` (HiFi-GAN mel features and decoder); ``DEFAULT_PRESET``
is the one ``soundstorm prepare`` fits unless told otherwise (docs/bench/codec_v2.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from soundstorm.audio import resample
from soundstorm.data.inputs import AudioInput
from soundstorm.errors import SoundStormError

#: The embedded codec version ``soundstorm prepare`` fits by default (``--embedded-codec``):
#: v2 measured more natural (DNSMOS) and lost fewer words than v1 at 4 levels, on synthetic,
#: natural-TTS and recorded speech (docs/bench/codec_v2.md).
DEFAULT_PRESET = "v2"
#: The versions it can fit.
PRESETS = ("v1", "v2")


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
    log: Callable[[str], None] | None = None,
    preset: str = DEFAULT_PRESET,
) -> Path:
    """Fit the embedded codec on a sample of ``inputs`` and save it to ``path`` (atomically).

    Unreadable files of the sample are passed over (they are reported later, when encoded).

    Args:
        inputs: The corpus, sorted by id.
        path: Where to save the fitted codec (``.safetensors``).
        num_levels: RVQ levels ``Q``.
        codebook_size: Codebook size ``K`` (the sample needs at least ``K`` frames).
        max_files: Files sampled for fitting.
        log: Called with one-line progress messages (``None``: silent).
        preset: Codec version, ``"v1"`` or ``"v2"`` (``EmbeddedCodecConfig.preset``).

    Returns:
        ``path``.

    Raises:
        SoundStormError: if the sample holds too little readable audio, or an unknown preset.
    """
    from soundstorm.codecs import EmbeddedCodec, EmbeddedCodecConfig
    from soundstorm.data.encoding import BadAudioError, read_audio

    sample_rate = EmbeddedCodecConfig.preset(preset).sample_rate
    sample = sample_evenly(inputs, max_files)

    def readable_audio() -> Iterator[torch.Tensor]:  # read lazily, one file at a time
        for item in sample:
            try:
                wav, rate = read_audio(item.path)  # (1, S)
            except BadAudioError:
                continue
            yield resample(wav, rate, sample_rate) if rate != sample_rate else wav

    if log is not None:
        log(
            f"fitting the embedded codec {preset} ({num_levels} x {codebook_size}) on "
            f"{len(sample)} files"
        )
    try:
        codec = EmbeddedCodec.fit(
            readable_audio(),
            sample_rate,
            num_levels=num_levels,
            codebook_size=codebook_size,
            progress=log,
            preset=preset,
        )
    except SoundStormError as error:
        raise SoundStormError(
            f"cannot fit the embedded codec on the input: {error} (use fewer --codebook-size "
            "codes, more audio, or --codec with a fitted codec file)"
        ) from None
    codec.save(path)  # atomic
    return Path(path)
