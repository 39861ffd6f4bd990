"""FLOP accounting: the model's FLOP formulas and the peak FLOP/s that MFU is measured against.

One home for both, used by ``soundstorm bench`` (``soundstorm.bench``), the benchmarks and the
training recipe's MFU (``soundstorm.train.metrics``):

- :func:`forward_flops`: one forward pass of one example of ``T`` frames,
  ``2 x N x T + 4 x depth x T^2 x D`` (the matrix products of the ``N`` parameters a frame
  uses, plus attention's two ``T x T x D`` products per layer); ``N`` counts no embedding table
  (a lookup is not a matrix product) and, when one level is decoded, one output head;
- :func:`training_flops_per_frame`: ``6 x N`` (forward and backward, nanoGPT's estimate
  without the attention term);
- :data:`PEAK_BF16_FLOPS` and :func:`guess_peak_flops`: a GPU's datasheet peak (bf16, dense);
  ``soundstorm.bench.peak_flops`` falls back to a measured matmul rate where it is unknown.

The paper's size (SoundStorm §4) at 30 s (``T = 1500``): about ``2 x 3.2e8 x 1500 ~ 1e12``
FLOP per pass plus attention.
"""

from __future__ import annotations

import torch
from torch import nn

from soundstorm.validation import require_int

PEAK_BF16_FLOPS = {
    "GH200": 989e12,
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "A10G": 70e12,
    "A10": 125e12,
    "L40S": 362e12,
    "L4": 121e12,
    "RTX 4090": 165e12,
    "RTX 3090": 71e12,
}
"""Dense bf16 tensor-core peaks (no sparsity), FLOP/s, keyed by a substring of
``torch.cuda.get_device_name()``; the first key found in the name wins (so longer names that
contain a shorter key, ``A100`` / ``A10``, come first)."""


def matmul_parameters(model: nn.Module, level_only: bool = True) -> int:
    """Parameters that take part in matrix products for one frame.

    Args:
        model: a ``SoundStorm`` (its ``config`` gives ``num_levels``, ``codebook_size``, ``dim``).
        level_only: count one output head (weights and bias), as when one level is decoded
            or trained; ``False``: all ``Q`` heads.

    Returns:
        The parameter count ``N``: no embedding table, and ``Q - 1`` heads fewer with
        ``level_only``.
    """
    config = model.config
    params = sum(p.numel() for name, p in model.named_parameters() if "embedding" not in name)
    if level_only:
        params -= (config.num_levels - 1) * config.codebook_size * (config.dim + 1)
    return params


def forward_flops(model: nn.Module, num_frames: int, level_only: bool = True) -> float:
    """Approximate FLOPs of one forward pass of one example of ``num_frames`` frames.

    ``2 x N x T`` for the matrix products (``N`` from :func:`matmul_parameters`) plus
    ``4 x T^2 x D`` per layer for attention.

    Raises:
        ValueError: ``num_frames`` is not an integer ``>= 0``.
    """
    num_frames = require_int("num_frames", num_frames, minimum=0)
    config = model.config
    attention = 4.0 * config.depth * num_frames**2 * config.dim
    return 2.0 * matmul_parameters(model, level_only) * num_frames + attention


def training_flops_per_frame(model: nn.Module) -> float:
    """``6 x N``: forward and backward FLOPs per training frame, ``N`` the parameters a frame
    uses (no embedding tables, one output head: :func:`matmul_parameters`)."""
    return 6.0 * matmul_parameters(model, level_only=True)


def guess_peak_flops(device: torch.device) -> float:
    """The datasheet peak of ``device`` (:data:`PEAK_BF16_FLOPS`), or 0 when unknown (CPU
    included): the training recipe then logs no MFU rather than a guess."""
    if device.type != "cuda":
        return 0.0
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), 0.0)
