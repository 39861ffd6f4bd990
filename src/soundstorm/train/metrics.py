"""Training metrics: TensorBoard scalars/audio/images, progress bar, throughput and MFU.

The FLOP count per frame and the device peak that MFU divides come from ``soundstorm.flops``
(``training_flops_per_frame``, ``guess_peak_flops``), shared with ``soundstorm bench``.

Only rank 0 writes. TensorBoard is optional (``pip install soundstorm[train]``): without it
the scalars still reach the progress bar and the text log.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from soundstorm.audio import spectrogram_db
from soundstorm.dependencies import install_command

logger = logging.getLogger("soundstorm.train")


def spectrogram_image(wav: torch.Tensor, n_fft: int = 1024, hop: int = 256) -> torch.Tensor:
    """Log-magnitude spectrogram of a mono waveform as an image ``[1, F, frames]`` in [0, 1]
    (low frequencies at the bottom).

    Args:
        wav: ``FloatTensor[S]``.
    """
    db = spectrogram_db(wav, n_fft, hop)  # (F, N), in [-80, 0]
    image = (db - db.min()) / (db.max() - db.min()).clamp(min=1e-6)
    return image.flip(0)[None]


class MetricsLogger:
    """Writes scalars, audio and images to TensorBoard (rank 0 only) and the text log.

    ``history`` keeps every ``(step, scalars)`` logged, for callers and tests.

    Args:
        output_dir: run directory; events go to ``output_dir/tensorboard``.
        enabled: False on ranks other than 0.
        tensorboard: write TensorBoard events (ignored with a warning if not installed).
    """

    def __init__(self, output_dir: str | Path, enabled: bool, tensorboard: bool) -> None:
        self.enabled = enabled
        self.writer = None
        self.history: list[tuple[int, dict[str, float]]] = []  # (step, scalars) on rank 0
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning(
                    "tensorboard is not installed (%s); metrics go to the text log only",
                    install_command(["tensorboard"]),
                )
            else:
                self.writer = SummaryWriter(str(Path(output_dir) / "tensorboard"))

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Log ``{"train/loss": 1.2, ...}`` at ``step`` (non-finite values included)."""
        if not self.enabled:
            return
        self.history.append((step, dict(values)))
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)
        shown = " ".join(f"{k}={_fmt(v)}" for k, v in values.items() if "/level_" not in k)
        logger.info("step %d %s", step, shown)

    def audio(self, tag: str, wav: torch.Tensor, sample_rate: int, step: int) -> None:
        """Log a mono waveform ``[S]`` and its spectrogram image."""
        if not self.enabled or self.writer is None:
            return
        wav = wav.detach().float().cpu()
        peak = wav.abs().max().clamp(min=1.0)
        self.writer.add_audio(tag, wav / peak, step, sample_rate=sample_rate)
        self.writer.add_image(tag + "_spectrogram", spectrogram_image(wav), step)

    def text(self, tag: str, value: str, step: int) -> None:
        if self.enabled and self.writer is not None:
            self.writer.add_text(tag, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None


def _fmt(value: float) -> str:
    if isinstance(value, float) and (
        not math.isfinite(value) or abs(value) >= 1e4 or abs(value) < 1e-3
    ):
        return f"{value:.3g}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


class MetricsWindow:
    """Sums of training-step results between two log lines; ``scalars`` turns them into
    losses, per-level accuracies, throughput and MFU."""

    def __init__(self, num_levels: int) -> None:
        self.start = time.perf_counter()
        self.paused = 0.0  # seconds spent outside training steps (validation, checkpoints)
        self.steps = self.finite = 0
        self.loss = self.frames = 0.0
        self.grad_norm = float("nan")
        self.correct = torch.zeros(num_levels, dtype=torch.float64)
        self.scored = torch.zeros(num_levels, dtype=torch.float64)

    def add(self, result: dict[str, Any]) -> None:
        self.steps += 1
        self.frames += result["frames"]
        self.grad_norm = result["grad_norm"]
        if result["finite"]:
            self.finite += 1
            self.loss += result["loss"]
            self.correct += result["correct"]
            self.scored += result["scored"]

    def scalars(
        self, flops_per_frame: float, peak_flops: float, world_size: int, num_levels: int
    ) -> dict[str, float]:
        seconds = max(time.perf_counter() - self.start - self.paused, 1e-9)
        frames_per_s = self.frames / seconds
        out = {
            "train/loss": self.loss / self.finite if self.finite else float("nan"),
            "train/grad_norm": self.grad_norm,
            "perf/frames_per_s": frames_per_s,
            "perf/tokens_per_s": frames_per_s * num_levels,
            "perf/steps_per_s": self.steps / seconds,
        }
        total = self.scored.sum()
        if total > 0:
            out["train/accuracy"] = float(self.correct.sum() / total)
        for level, (hit, seen) in enumerate(zip(self.correct, self.scored)):
            if seen > 0:
                out[f"train/accuracy/level_{level}"] = float(hit / seen)
        if peak_flops > 0:
            out["perf/mfu"] = flops_per_frame * frames_per_s / (peak_flops * world_size)
        return out
