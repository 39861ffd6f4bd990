"""Acoustic consistency over time: does the generated voice drift away from the prompt?

The SoundStorm paper checks that long generations keep the prompt's voice and
recording conditions by measuring speaker similarity between the prompt and successive segments
of the generated audio. Here: split the generated audio into windows of ``segment_seconds``,
embed each with the Resemblyzer speaker encoder (without silence trimming, so each point keeps
its place in time), take its cosine similarity to the prompt's embedding, and fit a line through
the curve: a slope near zero means no drift. Windows quieter than ``min_level_dbfs`` (pauses)
give no point. Similarities of short windows are lower than those of whole utterances; compare
curves with curves measured the same way (e.g. of the reference audio).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from soundstorm.evaluate.audio import EVAL_SAMPLE_RATE, prepare_audio, rms_dbfs
from soundstorm.evaluate.speaker import cosine_similarity, speaker_embedding, speaker_embeddings


def segment_bounds(num_samples: int, segment_samples: int) -> list[tuple[int, int]]:
    """Successive ``[start, end)`` windows covering ``num_samples``.

    Full windows of ``segment_samples``; a last partial window is kept when it holds at least
    half a window, otherwise dropped. So the count is ``round(num_samples / segment_samples)``
    (halves rounded up) and the windows span the whole duration to within half a window.

    Args:
        num_samples: length of the audio.
        segment_samples: window length (> 0).

    Returns:
        The windows, in order.
    """
    if segment_samples <= 0:
        raise ValueError(f"segment length must be positive, got {segment_samples}")
    full, rest = divmod(num_samples, segment_samples)
    bounds = [(i * segment_samples, (i + 1) * segment_samples) for i in range(full)]
    if rest * 2 >= segment_samples:
        bounds.append((full * segment_samples, num_samples))
    return bounds


@dataclass(frozen=True)
class ConsistencyCurve:
    """Speaker similarity to the prompt of successive segments of generated audio.

    Attributes:
        segment_seconds: window length (s).
        times: centre of each window (s), ``[N]``.
        similarities: similarity of each window to the prompt, ``[N]``; ``None`` for windows
            too quiet to embed.
        slope_per_second: least-squares slope of similarity over time (per second); ``None``
            with fewer than two scored windows. Negative: the voice drifts from the prompt.
        mean: mean similarity over scored windows (``None`` if none).
    """

    segment_seconds: float
    times: list[float]
    similarities: list[float | None]
    slope_per_second: float | None
    mean: float | None

    def to_dict(self) -> dict:
        """Plain dict for JSON (``None`` for missing points)."""
        return asdict(self)


def fit_slope(times: list[float], values: list[float | None]) -> float | None:
    """Least-squares slope of ``values`` over ``times``, skipping ``None``; ``None`` if < 2 points."""
    points = [(t, v) for t, v in zip(times, values) if v is not None]
    if len(points) < 2:
        return None
    t, v = np.array(points, dtype=np.float64).T
    if np.ptp(t) == 0:
        return None
    return float(np.polyfit(t, v, 1)[0])


def acoustic_consistency(
    generated: np.ndarray | torch.Tensor,
    prompt: np.ndarray | torch.Tensor | None,
    sample_rate: int = EVAL_SAMPLE_RATE,
    segment_seconds: float = 1.0,
    min_level_dbfs: float = -50.0,
    prompt_embedding: np.ndarray | None = None,
) -> ConsistencyCurve:
    """Speaker similarity to the prompt of each successive segment of the generated audio.

    Args:
        generated: ``[S]``/``[C, S]``/``[1, C, S]`` generated audio at ``sample_rate``.
        prompt: the same for the prompt (the voice to keep); ignored if ``prompt_embedding``.
        sample_rate: sample rate of both (Hz).
        segment_seconds: window length (s).
        min_level_dbfs: windows with a lower RMS level get no similarity (``None``).
        prompt_embedding: precomputed ``float32[256]`` embedding of the prompt.

    Returns:
        The curve: ``round(duration / segment_seconds)`` points (see :func:`segment_bounds`).
    """
    if segment_seconds <= 0:
        raise ValueError(f"segment_seconds must be positive, got {segment_seconds}")
    audio = prepare_audio(generated, sample_rate)
    if prompt_embedding is None:
        if prompt is None:
            raise ValueError("give the prompt audio or its embedding")
        prompt_embedding = speaker_embedding(prompt, sample_rate)
    segment_samples = max(1, round(segment_seconds * EVAL_SAMPLE_RATE))
    bounds = segment_bounds(audio.size, segment_samples)
    times = [(start + end) / 2 / EVAL_SAMPLE_RATE for start, end in bounds]
    loud = [
        i for i, (start, end) in enumerate(bounds) if rms_dbfs(audio[start:end]) >= min_level_dbfs
    ]
    similarities: list[float | None] = [None] * len(bounds)
    if loud:
        windows = [audio[bounds[i][0] : bounds[i][1]] for i in loud]
        embeddings = speaker_embeddings(windows, EVAL_SAMPLE_RATE, trim_silence=False)
        for i, embedding in zip(loud, embeddings):
            similarities[i] = cosine_similarity(embedding, prompt_embedding)
    scored = [s for s in similarities if s is not None]
    return ConsistencyCurve(
        segment_seconds=float(segment_seconds),
        times=times,
        similarities=similarities,
        slope_per_second=fit_slope(times, similarities),
        mean=float(np.mean(scored)) if scored else None,
    )


def real_time_factor(generation_seconds: float, audio_seconds: float) -> float:
    """Real-time factor: seconds of compute per second of audio (below 1: faster than real time).

    Args:
        generation_seconds: wall-clock time spent generating (s).
        audio_seconds: duration of the generated audio (s).

    Returns:
        ``generation_seconds / audio_seconds``; its inverse is the "x real time" speed.
    """
    if audio_seconds <= 0:
        raise ValueError(f"audio duration must be positive, got {audio_seconds}")
    if generation_seconds < 0:
        raise ValueError(f"generation time must be non-negative, got {generation_seconds}")
    return float(generation_seconds) / float(audio_seconds)
