"""AdamW with decay on matrices only, and the warm-up + cosine learning-rate schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def warmup_cosine_factor(
    step: int,
    warmup_steps: int,
    total_steps: int,
    min_ratio: float,
    anchor: tuple[int, float] | None = None,
) -> float:
    """Learning-rate multiplier at optimizer ``step`` (0-based).

    Linear from ``1/warmup_steps`` to 1 over the warm-up, then cosine from 1 down to
    ``min_ratio`` at ``total_steps``, constant afterwards. ``anchor = (step_a, progress_a)``
    (a schedule refitted at ``step_a``, ``Schedule.refit``): from ``step_a`` on, the decay's
    progress runs on from ``progress_a`` to 1 at ``total_steps``.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = decay_progress(step, warmup_steps, total_steps, anchor)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def decay_progress(
    step: int, warmup_steps: int, total_steps: int, anchor: tuple[int, float] | None = None
) -> float:
    """How far the cosine decay is at ``step``, in ``[0, 1]`` (see ``warmup_cosine_factor``)."""
    if anchor is not None and step >= anchor[0]:
        start, done = anchor
        progress = done + (1.0 - done) * (step - start) / max(1, total_steps - start)
    else:
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min(1.0, max(0.0, progress))


@dataclass
class Schedule:
    """A run's warm-up + cosine schedule (``warmup_cosine_factor``), whose length
    ``run.schedule_by_time`` may change while it runs (``refit``).

    Attributes:
        warmup_steps, total_steps, min_lr_ratio: as ``OptimConfig``'s.
        anchor: ``(step, decay progress there)`` of the last refit past the warm-up, or None.
    """

    warmup_steps: int
    total_steps: int
    min_lr_ratio: float
    anchor: tuple[int, float] | None = None

    @classmethod
    def of(cls, config: OptimConfig) -> Schedule:
        return cls(config.warmup_steps, config.total_steps, config.min_lr_ratio)

    def factor(self, step: int) -> float:
        """The learning-rate multiplier at optimizer ``step``."""
        return warmup_cosine_factor(
            step, self.warmup_steps, self.total_steps, self.min_lr_ratio, self.anchor
        )

    def refit(self, step: int, total_steps: int) -> None:
        """End the schedule at ``total_steps`` instead, after ``step`` optimizer steps.

        Past the warm-up, the rest of the decay is stretched (or shrunk) from where it is:
        the learning rate goes on falling from its current value. (Setting ``total_steps``
        alone would move the cosine's position: a longer schedule would raise the learning
        rate of a run near its end back towards the peak.)
        """
        if step >= self.warmup_steps:
            done = decay_progress(step, self.warmup_steps, self.total_steps, self.anchor)
            self.anchor = (step, done)
        self.total_steps = total_steps


def build_scheduler(
    optimizer: torch.optim.Optimizer, schedule: Schedule | OptimConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` following ``schedule.factor`` (step it once per optimizer step); it reads
    the schedule at every step, so a ``Schedule.refit`` takes effect at once."""
    if isinstance(schedule, OptimConfig):
        schedule = Schedule.of(schedule)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule.factor)
