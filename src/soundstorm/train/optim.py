"""AdamW with decay on matrices only, and the warm-up + cosine learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from soundstorm.train.config import OptimConfig


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Split parameters into a decayed group (weight matrices of linear/conv layers) and
    a group without decay (norms, biases, embedding tables, any 1-D parameter).

    Args:
        model: the model (possibly wrapped; names are only used to find embeddings).
        weight_decay: decay of the first group.

    Returns:
        Two AdamW parameter groups: ``[{"params": decayed, ...}, {"params": others, ...}]``.
    """
    embedding_params = {
        id(p)
        for module in model.modules()
        if isinstance(module, nn.Embedding)
        for p in module.parameters()
    }
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_embedding = id(param) in embedding_params or "embed" in name
        if param.ndim < 2 or is_embedding or name.endswith("bias"):
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(
    model: nn.Module, config: OptimConfig, fused: bool = False
) -> torch.optim.AdamW:
    """AdamW over ``parameter_groups(model)`` with the config's lr, betas, eps and decay."""
    kwargs = {"fused": True} if fused else {}
    return torch.optim.AdamW(
        parameter_groups(model, config.weight_decay),
        lr=config.lr,
        betas=tuple(config.betas),
        eps=config.eps,
        **kwargs,
    )


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Learning-rate multiplier at optimizer ``step`` (0-based).

    Linear from ``1/warmup_steps`` to 1 over the warm-up, then cosine from 1 down to
    ``min_ratio`` at ``total_steps``, constant afterwards.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: OptimConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` following ``warmup_cosine_factor`` (step it once per optimizer step)."""

    def factor(step: int) -> float:
        return warmup_cosine_factor(
            step, config.warmup_steps, config.total_steps, config.min_lr_ratio
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
