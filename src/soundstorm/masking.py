"""The paper's training masks and the loss on them (SoundStorm §3.3), as pure functions.

For each example of ``length`` frames:

1. prompt delimiter ``prompt_len ~ U{0, ..., length-1}``: frames before it are never masked;
2. current level ``level ~ U{0, ..., Q-1}`` (0-based);
3. at ``level``, each frame ``>= prompt_len`` is masked with probability ``cos(u)``,
   ``u ~ U[0, pi/2]`` (the cosine schedule; mean masked fraction ``2/pi``);
4. every finer level (``> level``) is masked at all frames ``>= prompt_len``; coarser levels
   are left as they are;
5. the loss is the cross-entropy of head ``level`` on the masked tokens of ``level``.

Padding frames (``>= length``) are never masked, and at least one token is masked at ``level``
in every example (the frame with the smallest draw is always masked), so the loss is defined.
Step 5 is :func:`score_masked_tokens`, the one implementation of the loss: ``SoundStorm.loss``
and the training recipe's ``MaskedTokenObjective`` both call it.

Two options, both off by default (then the draws and masks are exactly the paper's):

* **Known suffix** (``known_suffix_fraction``, for speech editing): that fraction of examples
  also keeps a suffix, ``suffix_start ~ U{prompt_len+1, ..., length-1}``; steps 3-4 act on the
  span ``[prompt_len, suffix_start)`` only, so the model learns to fill a span from the frames
  on both sides.
* **Prompt dropout** (``prompt_dropout``, for classifier-free guidance): that fraction of
  examples loses its known frames: the prompt (and the known suffix, if any) is masked at
  every level, as the unconditional pass of guided decoding feeds it; the span is masked as
  usual. The loss scores a masked token of the example's level only where the next coarser
  level is not masked (the paper's masks always satisfy this), so at levels >= 1 a dropped
  prompt is unscored context, and at level 0 it is generated from nothing like the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

from soundstorm.validation import (
    describe_value,
    is_integer_tensor,
    require_int,
    require_optional_int,
    require_real,
)


def sample_training_masks(
    num_levels: int,
    lengths: torch.Tensor,
    generator: torch.Generator | None = None,
    num_frames: int | None = None,
    *,
    known_suffix_fraction: float = 0.0,
    prompt_dropout: float = 0.0,
    level_weights: Sequence[float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw the paper's training masks for a batch (SoundStorm §3.3), with optional options.

    The draws, in order, from ``generator``: prompt length, level, masking ratio (``[B]``
    each), the per-frame uniforms (``[B, T]``); then, only when its fraction is > 0, whether
    an example has a known suffix and where it starts (``[B]`` each), and whether its prompt
    is dropped (``[B]``). With both fractions 0 the result and the generator's state are
    exactly those of the paper's masking.

    Args:
        num_levels: Q, the number of RVQ levels.
        lengths: ``LongTensor[B]``, the number of real frames of each example (>= 1).
        generator: optional random generator (on ``lengths.device``) for reproducible draws.
        num_frames: T; defaults to ``lengths.max()`` (which reads the value back from the device).
        known_suffix_fraction: probability in ``[0, 1]`` that an example also keeps a suffix
            ``[suffix_start, length)`` with ``suffix_start ~ U{prompt_len+1, ..., length-1}``
            (none when ``length - prompt_len < 2``); the masking then acts on the span
            ``[prompt_len, suffix_start)`` only (speech editing).
        prompt_dropout: probability in ``[0, 1]`` that an example's known frames (prompt and
            suffix) are masked at every level (the unconditional behaviour that
            classifier-free guidance contrasts with the prompted one).
        level_weights: relative probabilities of drawing each level (Q non-negative
            numbers, not all 0), from the same uniform draw; None (default): the paper's
            ``U{0, ..., Q-1}``, draw for draw. Weighting the first level up trains the level
            that holds intelligibility back more often (issue 15).

    Returns:
        ``(masked, level, prompt_len)``: ``BoolTensor[B, Q, T]`` (True = replace by the mask id),
        ``LongTensor[B]`` the level of the loss (0-based), ``LongTensor[B]`` the prompt length.

    Raises:
        ValueError: ``lengths`` not a non-empty integer tensor ``[B]`` (float lengths are not
            truncated), ``num_levels`` / ``num_frames`` not integers >= 1, lengths out of
            ``[1, num_frames]``, or a fraction outside ``[0, 1]``.
    """
    if not is_integer_tensor(lengths) or lengths.dim() != 1 or lengths.numel() == 0:
        raise ValueError(
            f"lengths must be a non-empty 1-D integer tensor [B], got {describe_value(lengths)}"
        )
    num_levels = require_int("num_levels", num_levels, minimum=1)
    num_frames = require_optional_int("num_frames", num_frames, minimum=1)
    known_suffix_fraction = require_real(
        "known_suffix_fraction", known_suffix_fraction, minimum=0.0, maximum=1.0
    )
    prompt_dropout = require_real("prompt_dropout", prompt_dropout, minimum=0.0, maximum=1.0)
    cumulative = level_cumulative(level_weights, num_levels)
    device = lengths.device
    lengths = lengths.long()
    if num_frames is None:
        num_frames = int(lengths.max())
    if int(lengths.min()) < 1 or int(lengths.max()) > num_frames:
        raise ValueError(f"lengths must lie in [1, {num_frames}], got {lengths.tolist()}")
    batch = lengths.shape[0]

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=device)

    prompt_len = (uniform(batch) * lengths).long().clamp(max=lengths - 1)  # U{0..length-1}
    if cumulative is None:
        level = (uniform(batch) * num_levels).long().clamp(max=num_levels - 1)  # U{0..Q-1}
    else:  # P(level = q) = level_weights[q] / sum
        edges = torch.tensor(cumulative, device=device)
        level = torch.searchsorted(edges, uniform(batch), right=True).clamp(max=num_levels - 1)
    mask_prob = torch.cos(uniform(batch) * (math.pi / 2))  # cos(u), u ~ U[0, pi/2]

    frames = torch.arange(num_frames, device=device)
    draws = uniform(batch, num_frames)
    span_end = lengths  # (B,): the masking acts on [prompt_len, span_end)
    if known_suffix_fraction > 0:
        with_suffix = uniform(batch) < known_suffix_fraction
        room = (lengths - prompt_len - 1).clamp(min=1)  # span lengths 1..room, suffix >= 1
        span = 1 + (uniform(batch) * room).long().clamp(max=room - 1)
        has_room = lengths - prompt_len >= 2
        span_end = torch.where(with_suffix & has_room, prompt_len + span, lengths)
    maskable = (frames >= prompt_len[:, None]) & (frames < span_end[:, None])  # (B, T)
    at_level = maskable & (draws < mask_prob[:, None])
    # Always mask the maskable frame with the smallest draw: the loss is never empty.
    first = draws.masked_fill(~maskable, 2.0).argmin(dim=-1)  # (B,)
    at_level[torch.arange(batch, device=device), first] = True

    levels = torch.arange(num_levels, device=device)[None, :, None]  # (1, Q, 1)
    current = level[:, None, None]
    masked = torch.where(levels == current, at_level[:, None, :], maskable[:, None, :])
    masked = masked & (levels >= current)  # coarser levels never masked
    if prompt_dropout > 0:
        dropped = uniform(batch) < prompt_dropout
        context = (frames < lengths[:, None]) & ~maskable  # prompt and known suffix
        masked = masked | (dropped[:, None] & context)[:, None, :]  # every level
    return masked, level, prompt_len


def level_cumulative(level_weights: Sequence[float] | None, num_levels: int) -> list[float] | None:
    """Cumulative probabilities of ``level_weights`` (None stays None: uniform levels).

    Raises:
        ValueError: not ``num_levels`` finite numbers >= 0 with a positive sum.
    """
    if level_weights is None:
        return None
    weights = [
        require_real(f"level_weights[{i}]", w, minimum=0.0) for i, w in enumerate(level_weights)
    ]
    if len(weights) != num_levels or sum(weights) <= 0:
        raise ValueError(
            f"level_weights must be {num_levels} numbers >= 0 (one per level) with a positive "
            f"sum, got {list(level_weights)}"
        )
    total, running, edges = sum(weights), 0.0, []
    for weight in weights:
        running += weight
        edges.append(running / total)
    return edges[:-1]  # the last edge (1.0) is implied


def remaining_masked(num_tokens: torch.Tensor, iteration: int, num_iterations: int) -> torch.Tensor:
    """The cosine schedule: tokens still masked after ``iteration`` (0-based) of ``num_iterations``.

    ``floor(N * cos(pi/2 * (iteration+1) / num_iterations))``, and exactly 0 after the last one.

    Args:
        num_tokens: ``LongTensor[B]``, N, the number of positions to generate per example.
        iteration: 0-based iteration index.
        num_iterations: n, iterations at this level.

    Returns:
        ``LongTensor[B]``.

    Raises:
        ValueError: ``iteration`` / ``num_iterations`` not integers (``>= 0`` / ``>= 1``), or
            ``num_tokens`` not an integer tensor.
    """
    num_iterations = require_int("num_iterations", num_iterations, minimum=1)
    iteration = require_int("iteration", iteration, minimum=0)
    if not is_integer_tensor(num_tokens):
        raise ValueError(
            f"num_tokens must be an integer tensor [B], got {describe_value(num_tokens)}"
        )
    if iteration >= num_iterations - 1:
        return torch.zeros_like(num_tokens)
    ratio = math.cos(math.pi / 2 * (iteration + 1) / num_iterations)
    return torch.floor(num_tokens.to(torch.float64) * ratio).long()


class MaskedTokenScores(NamedTuple):
    """The loss terms of a batch (see :func:`score_masked_tokens`).

    Attributes:
        loss_sum: float32 scalar, the cross-entropy summed over the scored tokens.
        num_scored: ``LongTensor[B]``, scored tokens (masked at the example's level).
        num_correct: ``LongTensor[B]``, scored tokens whose argmax prediction is right.
    """

    loss_sum: torch.Tensor
    num_scored: torch.Tensor
    num_correct: torch.Tensor


def scored_positions(masked: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """The tokens the loss is computed on: the masked frames of each example's level whose
    next coarser level is not masked (what decoding asks of the level's head).

    With the paper's masks (coarser levels never masked) these are all the masked frames of
    the level; a dropped prompt (``prompt_dropout``) is masked at every level and so is
    scored at level 0 only.

    Args:
        masked: ``BoolTensor[B, Q, T]``.
        level: ``LongTensor[B]``, 0-based.

    Returns:
        ``BoolTensor[B, T]``.
    """
    batch = torch.arange(masked.shape[0], device=masked.device)
    coarser = masked[batch, (level - 1).clamp(min=0)] & (level > 0)[:, None]  # (B, T)
    return masked[batch, level] & ~coarser


def score_masked_tokens(
    logits: torch.Tensor, codes: torch.Tensor, masked: torch.Tensor, level: torch.Tensor
) -> MaskedTokenScores:
    """The paper's loss (SoundStorm §3.3, step 5): cross-entropy of head ``level`` on the
    masked tokens of ``level``, as a sum, with the counts a recipe logs.

    The cross-entropy is computed in float32 whatever the logits' dtype. Dividing
    ``loss_sum`` by ``num_scored.sum()`` gives the mean over the batch (``SoundStorm.loss``);
    a distributed recipe divides by the count over every rank and micro-batch instead.

    Args:
        logits: ``[B, T, K]``, the output of each example's level head (fed the masked codes).
        codes: ``LongTensor[B, Q, T]``, ground truth in ``[0, K)``.
        masked: ``BoolTensor[B, Q, T]``, the training mask (``sample_training_masks``).
        level: ``LongTensor[B]``, the level trained in each example (0-based).

    Returns:
        ``MaskedTokenScores(loss_sum, num_scored, num_correct)``.
    """
    batch = torch.arange(codes.shape[0], device=codes.device)
    target = codes[batch, level]  # (B, T)
    scored = scored_positions(masked, level)  # (B, T)
    token_loss = F.cross_entropy(logits.float().transpose(1, 2), target, reduction="none")
    loss_sum = (token_loss * scored).sum()
    num_correct = ((logits.argmax(dim=-1) == target) & scored).sum(dim=-1)
    return MaskedTokenScores(loss_sum, scored.sum(dim=-1), num_correct)
