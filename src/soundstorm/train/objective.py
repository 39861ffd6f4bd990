"""The training objective on pre-drawn masks, with per-level token statistics.

``SoundStorm.loss`` draws its masks inside; the recipe instead draws them in the data
pipeline (a pure function of seed, epoch and utterance), so that the masks do not depend on
the rank, the micro-batch or the resume point. This module applies them: replace the masked
tokens by the mask id, run the head of each example's level, and score the masked tokens of
that level with ``soundstorm.masking.score_masked_tokens`` (the paper's loss, SoundStorm §3.3,
the same function ``SoundStorm.loss`` calls).

The loss is returned as a *sum* over scored tokens; the recipe divides it by the number of
scored tokens in the whole global batch (all micro-batches, all ranks), so one optimizer
step averages over the same tokens whatever the number of ranks or accumulation steps.
"""

from __future__ import annotations

import torch
from torch import nn

from soundstorm.masking import score_masked_tokens, scored_positions


class MaskedTokenObjective(nn.Module):
    """Wraps a SoundStorm model so that ``forward`` computes the loss (DDP/FSDP hook into
    ``forward``; calling ``model.loss`` on a wrapped model would bypass them).

    Args:
        model: a ``SoundStorm`` (``forward(codes, cond, lengths, level=LongTensor[B])``
            returns ``[B, T, K]`` logits).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.num_levels = model.config.num_levels
        self.mask_id = model.config.mask_id

    def forward(
        self,
        codes: torch.Tensor,
        cond: torch.Tensor,
        lengths: torch.Tensor,
        masked: torch.Tensor,
        level: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Cross-entropy sum and per-level counts on one micro-batch.

        Args:
            codes: ``LongTensor[B, Q, T]`` ground truth in ``[0, K)``.
            cond: ``LongTensor[B, T]``.
            lengths: ``LongTensor[B]``.
            masked: ``BoolTensor[B, Q, T]`` (True: fed as the mask id).
            level: ``LongTensor[B]`` level scored in each example.

        Returns:
            ``(loss_sum, num_correct, num_scored)``: float32 scalar, sum of the cross-entropy
            over scored tokens; ``LongTensor[Q]`` argmax-correct scored tokens per level;
            ``LongTensor[Q]`` scored tokens per level.
        """
        inputs = codes.masked_fill(masked, self.mask_id)  # (B, Q, T)
        logits = self.model(inputs, cond, lengths, level=level, validate=False)  # (B, T, K)
        scores = score_masked_tokens(logits, codes, masked, level)
        per_level = torch.zeros(2, self.num_levels, dtype=torch.long, device=codes.device)
        per_level[0].scatter_add_(0, level, scores.num_correct)
        per_level[1].scatter_add_(0, level, scores.num_scored)
        return scores.loss_sum, per_level[0], per_level[1]


def count_scored_tokens(masked: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """Tokens the loss is computed on: masked tokens of each example's level (LongTensor scalar).

    Args:
        masked: ``BoolTensor[B, Q, T]``. level: ``LongTensor[B]``.
    """
    return scored_positions(masked, level).sum()


@torch.no_grad()
def level_accuracy_from_generation(
    generated: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor, prompt_frames: int
) -> torch.Tensor:
    """Fraction of generated tokens equal to the ground truth, per level, outside the prompt.

    Args:
        generated, target: ``LongTensor[B, Q, T]``. lengths: ``LongTensor[B]``.
        prompt_frames: frames given as prompt (excluded).

    Returns:
        ``FloatTensor[Q]``.
    """
    frames = torch.arange(target.shape[-1], device=target.device)
    region = (frames[None] >= prompt_frames) & (frames[None] < lengths[:, None])  # (B, T)
    hits = ((generated == target) & region[:, None]).sum(dim=(0, 2)).double()
    return hits / region.sum().clamp(min=1).double()
