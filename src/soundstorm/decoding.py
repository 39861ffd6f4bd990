"""Level-by-level confidence-based parallel decoding (SoundStorm §3.4, after MaskGIT).

Every non-prompt token of every level starts masked. Levels are decoded coarse to fine;
level ``q`` gets ``steps[q]`` iterations, each exactly one forward pass of the model:

* a level with several iterations samples candidates at all of its masked positions (with
  ``temperature``), scores them by their log-probability plus Gumbel noise annealed to zero
  (scaled by ``choice_temperature``), keeps the most confident and re-masks the rest, so that
  ``floor(N * cos(pi/2 * (i+1)/n))`` of the level's N generated positions stay masked after
  iteration ``i`` (none after the last);
* a level with one iteration is filled greedily (argmax) in one pass.

Finer levels stay masked (fed as the mask id) while a coarser one is decoded. Prompt frames are
never changed and are not counted in the schedule; padding frames are ignored.

Whatever the logits hold (NaN, +-inf from a diverged or fp16-overflowing model, or values that
overflow when divided by a tiny temperature), decoding stays well defined: scores are taken in
float32 with NaN and -inf mapped to the lowest finite value and +inf to the highest
(``finite_scores``), so a NaN never wins the argmax and confidences are always finite. Only
positions still to fill are ranked (the others rank above every candidate), so a prompt, padding
or already decided token is never re-masked, and every returned id lies in ``[0, K)``.

The loop never synchronises with the device: schedules are Python floats computed up front,
per-example counts stay on the device, and the ranking is a sort, not a data-dependent branch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch

from soundstorm.masking import remaining_masked
from soundstorm.validation import require_int, require_real

# forward(codes [B,Q,T], cond [B,T], lengths [B], level) -> logits [B,T,K]
LevelForward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]


def default_steps(num_levels: int) -> tuple[int, ...]:
    """The paper's schedule: 16 iterations for the first level, then one per level."""
    return (16,) + (1,) * (num_levels - 1)


def resolve_steps(steps: Sequence[int] | int | None, num_levels: int) -> tuple[int, ...]:
    """Validate ``steps``: None -> the paper's; an int n -> (n, 1, ..., 1); else Q positive ints.

    Raises:
        ValueError: a value that is not an integer (``16.7``, ``True``, ``"16"``: never
            truncated), a wrong count, or a count below 1.
    """
    num_levels = require_int("num_levels", num_levels, minimum=1)
    if steps is None:
        return default_steps(num_levels)
    scalar = isinstance(steps, (str, bytes)) or not isinstance(steps, Iterable)
    if scalar or (isinstance(steps, torch.Tensor) and steps.dim() == 0):
        first = require_int("steps", steps, minimum=1)
        return (first,) + (1,) * (num_levels - 1)
    steps = tuple(require_int(f"steps[{i}]", s) for i, s in enumerate(steps))
    if len(steps) != num_levels or any(s < 1 for s in steps):
        raise ValueError(
            f"steps must be {num_levels} positive integers (one per RVQ level), got {steps}"
        )
    return steps


def check_temperatures(temperature: float, choice_temperature: float) -> tuple[float, float]:
    """Both as floats; ``ValueError`` unless each is a finite number >= 0.

    Any finite temperature is usable: one so small that ``logits / temperature`` overflows
    acts as argmax (see ``finite_scores``); one so large that it underflows acts as uniform.
    """
    return (
        require_real("temperature", temperature, minimum=0.0),
        require_real("choice_temperature", choice_temperature, minimum=0.0),
    )


_LOWEST = torch.finfo(torch.float32).min
_HIGHEST = torch.finfo(torch.float32).max
_TINY = torch.finfo(torch.float32).tiny  # smallest normal float32: a divisor that is never 0


def finite_scores(logits: torch.Tensor, temperature: float = 0.0) -> torch.Tensor:
    """``logits / temperature`` in float32 with every value finite.

    NaN and -inf become the lowest finite float32, +inf (including overflow of the division)
    the highest, so a NaN logit never wins an argmax and ``log_softmax`` of the result has no
    NaN. Finite logits that do not overflow are unchanged.

    Args:
        logits: ``[..., K]`` of any floating dtype.
        temperature: divisor; 0 means none (argmax decoding).

    Returns:
        float32 ``[..., K]``.
    """
    scores = logits.float()
    if temperature > 0:
        scores = scores / max(temperature, _TINY)
    return torch.nan_to_num(scores, nan=_LOWEST, posinf=_HIGHEST, neginf=_LOWEST)


def gumbel_noise(shape: torch.Size, device: torch.device, generator: torch.Generator | None):
    """Standard Gumbel noise ``-log(-log(U))`` of ``shape`` (float32)."""
    u = torch.rand(shape, device=device, generator=generator)
    return -torch.log(-torch.log(u.clamp_(1e-10, 1.0 - 1e-7)))


def fill_greedy(
    logits: torch.Tensor, level_codes: torch.Tensor, masked: torch.Tensor
) -> torch.Tensor:
    """One-step level: every masked position takes its argmax.

    Args:
        logits: ``[B, T, K]`` (non-finite values allowed: NaN never wins, see
            ``finite_scores``). level_codes: ``LongTensor[B, T]``. masked: ``BoolTensor[B, T]``.

    Returns:
        the level's codes ``[B, T]`` with no position left masked; the others unchanged.
    """
    return torch.where(masked, finite_scores(logits).argmax(dim=-1), level_codes)


def confidence_step(
    logits: torch.Tensor,
    level_codes: torch.Tensor,
    masked: torch.Tensor,
    keep_masked: torch.Tensor,
    mask_id: int,
    temperature: float,
    noise_scale: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One MaskGIT iteration at one level: sample, score, keep the confident, re-mask the rest.

    Args:
        logits: ``[B, T, K]`` for the level being decoded (non-finite values allowed).
        level_codes: ``LongTensor[B, T]``, the level's current codes (``mask_id`` where masked).
        masked: ``BoolTensor[B, T]``, positions still to fill (never prompt or padding); only
            these are filled or re-masked.
        keep_masked: ``LongTensor[B]``, how many positions must stay masked afterwards
            (at most the number currently masked; clipped to it).
        mask_id: the mask id.
        temperature: sampling temperature (0 = argmax).
        noise_scale: scale of the Gumbel noise added to the confidence (0 = none).
        generator: random generator for reproducible sampling.

    Returns:
        the level's new codes ``[B, T]``: positions outside ``masked`` unchanged, exactly
        ``keep_masked`` of the ``masked`` ones holding ``mask_id``, the rest ids in ``[0, K)``.
    """
    scores = finite_scores(logits, temperature)  # (B, T, K) float32, finite
    if temperature > 0:
        sampled = (scores + gumbel_noise(scores.shape, scores.device, generator)).argmax(dim=-1)
    else:
        sampled = scores.argmax(dim=-1)  # (B, T)
    log_probs = torch.log_softmax(scores, dim=-1).gather(-1, sampled[..., None])[..., 0]
    confidence = log_probs
    if noise_scale > 0:
        confidence = confidence + noise_scale * gumbel_noise(
            log_probs.shape, log_probs.device, generator
        )
    # Candidates get finite confidences; everything else (already decided, prompt, padding)
    # gets +inf and so ranks above every candidate: it is never re-masked.
    confidence = torch.nan_to_num(confidence, nan=_LOWEST, posinf=_HIGHEST, neginf=_LOWEST)
    confidence = confidence.masked_fill(~masked, float("inf"))
    rank = confidence.argsort(dim=-1, stable=True).argsort(dim=-1)  # 0 = least confident
    remask = masked & (rank < keep_masked[:, None])
    filled = torch.where(masked, sampled, level_codes)
    return filled.masked_fill(remask, mask_id)


@torch.no_grad()
def decode(
    forward: LevelForward,
    cond: torch.Tensor,
    *,
    num_levels: int,
    mask_id: int,
    prompt: torch.Tensor | None = None,
    lengths: torch.Tensor | None = None,
    prompt_lengths: torch.Tensor | None = None,
    steps: Sequence[int] | int | None = None,
    temperature: float = 1.0,
    choice_temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Generate acoustic tokens level by level. Inputs are assumed validated (see ``SoundStorm``).

    Args:
        forward: ``forward(codes [B,Q,T], cond [B,T], lengths [B], level) -> logits [B,T,K]``;
            called exactly once per iteration, ``sum(steps)`` times in all.
        cond: ``LongTensor[B, T]`` conditioning tokens.
        num_levels: Q.
        mask_id: the mask id (== codebook size K).
        prompt: ``LongTensor[B, Q, P]`` acoustic tokens of frames ``0..P-1``, kept unchanged.
        lengths: ``LongTensor[B]`` real frames per example (default: all T).
        prompt_lengths: ``LongTensor[B]`` prompt frames per example (default: all P).
        steps: iterations per level (default ``(16, 1, ..., 1)``).
        temperature: sampling temperature of multi-iteration levels (finite, >= 0).
        choice_temperature: scale of the annealed Gumbel noise on the confidence (finite, >= 0).
        generator: random generator (on ``cond.device``).

    Returns:
        ``LongTensor[B, Q, T]`` with ids in ``[0, K)`` whatever the logits (NaN, +-inf); the
        prompt unchanged; padding frames hold 0.

    Raises:
        ValueError: bad ``steps`` or temperatures, or ``forward`` returning logits that are not
            ``[B, T, K]`` with ``K == mask_id``.
    """
    steps = resolve_steps(steps, num_levels)
    temperature, choice_temperature = check_temperatures(temperature, choice_temperature)
    batch, num_frames = cond.shape
    device = cond.device
    frames = torch.arange(num_frames, device=device)
    if lengths is None:
        lengths = torch.full((batch,), num_frames, device=device, dtype=torch.long)
    valid = frames < lengths[:, None]  # (B, T)

    codes = torch.full((batch, num_levels, num_frames), mask_id, device=device, dtype=torch.long)
    generate_here = valid
    if prompt is not None:
        prompt_frames = prompt.shape[-1]
        if prompt_lengths is None:
            prompt_lengths = torch.full((batch,), prompt_frames, device=device, dtype=torch.long)
        in_prompt = frames[:prompt_frames] < prompt_lengths[:, None]  # (B, P)
        codes[..., :prompt_frames] = torch.where(in_prompt[:, None, :], prompt, mask_id)
        generate_here = valid & ~(frames < prompt_lengths[:, None])
    num_to_generate = generate_here.sum(dim=-1)  # (B,), stays on the device

    for level, iterations in enumerate(steps):
        for i in range(iterations):
            logits = forward(codes, cond, lengths, level)  # (B, T, K)
            if logits.shape != (batch, num_frames, mask_id):  # shapes only: no device sync
                raise ValueError(
                    f"forward returned logits of shape {tuple(logits.shape)} at level {level}, "
                    f"expected [B, T, K] = [{batch}, {num_frames}, {mask_id}]"
                )
            level_codes = codes[:, level]
            masked = generate_here & (level_codes == mask_id)
            if iterations == 1:
                new_codes = fill_greedy(logits, level_codes, masked)
            else:
                new_codes = confidence_step(
                    logits,
                    level_codes,
                    masked,
                    remaining_masked(num_to_generate, i, iterations),
                    mask_id,
                    temperature,
                    choice_temperature * (1.0 - (i + 1) / iterations),
                    generator,
                )
            codes[:, level] = new_codes
    return codes.masked_fill(~valid[:, None, :], 0)
