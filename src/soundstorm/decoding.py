"""Level-by-level confidence-based parallel decoding (SoundStorm §3.4, after MaskGIT).

Every non-prompt token of every level starts masked. Levels are decoded coarse to fine;
level ``q`` gets ``steps[q]`` iterations, each exactly one forward pass of the model:

* a level with several iterations samples candidates at all of its masked positions (with
  ``temperature``), scores them by their log-probability plus Gumbel noise annealed to zero
  (scaled by ``choice_temperature``), keeps the most confident and re-masks the rest, so that
  ``floor(N * cos(pi/2 * (i+1)/n))`` of the level's N generated positions stay masked after
  iteration ``i`` (none after the last);
* a level with one iteration is filled greedily (argmax) in one pass.

Finer levels stay masked (fed as the mask id) while a coarser one is decoded. Known frames (the
prefix prompt, and any other frames given as ``known`` / ``known_frames``: the recording around
an edited span) are never changed and are not counted in the schedule; the model sees them on
both sides of the frames it generates (attention is bidirectional). Padding frames are ignored.

Classifier-free guidance on the prompt (``DecodeOptions.guidance_scale`` = s > 0, after MaskGCT):
every pass runs the network once on a doubled batch, ``[conditional | unconditional]``, the
unconditional half being the same tokens with every known frame replaced by the mask id (the
semantic tokens are kept), and decodes from ``l_c + s * (l_c - l_u)``. The number of passes is
unchanged; each costs about twice the arithmetic and activation memory of an unguided pass. A
model gets an unconditional behaviour from training with ``masking.prompt_dropout`` > 0.

Whatever the logits hold (NaN, +-inf from a diverged or fp16-overflowing model, or values that
overflow when divided by a tiny temperature), decoding stays well defined: scores are taken in
float32 with NaN and -inf mapped to the lowest finite value and +inf to the highest
(``finite_scores``), so a NaN never wins the argmax and confidences are always finite. Only
positions still to fill are ranked (the others rank above every candidate), so a prompt, padding
or already decided token is never re-masked, and every returned id lies in ``[0, K)``.

The loop never synchronises with the device: schedules are Python floats computed up front,
per-example counts stay on the device, and the ranking is a sort, not a data-dependent branch.

How to decode is one object, ``DecodeOptions`` (steps, temperature, choice temperature,
guidance scale),
validated once when it is built and passed whole from the commands (flags derived from its
fields, ``soundstorm.commands.options``) through ``VoicePipeline``, ``GenerationEngine`` and
``SoundStorm.generate`` to ``generate_tokens``. Adding a decoding option touches this file only
(see ``DecodeOptions``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch

from soundstorm.masking import remaining_masked
from soundstorm.validation import require_int, require_real

# forward(codes [B,Q,T], cond [B,T], lengths [B], level) -> logits [B,T,K]
LevelForward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]


def _steps_value(steps: object) -> int | tuple[int, ...] | None:
    """``steps`` as None, a Python int or a tuple of Python ints >= 1 (``ValueError`` if not).

    Python, NumPy and one-element tensor integers are accepted; floats (even ``16.0``), bools
    and strings are refused, never truncated.
    """
    if steps is None:
        return None
    scalar = isinstance(steps, (str, bytes)) or not isinstance(steps, Iterable)
    if scalar or (isinstance(steps, torch.Tensor) and steps.dim() == 0):
        return require_int("steps", steps, minimum=1)
    values = tuple(require_int(f"steps[{i}]", s) for i, s in enumerate(steps))
    if not values or any(s < 1 for s in values):
        raise ValueError(f"steps must be positive integers (one per RVQ level), got {values}")
    return values


def _flag(help_text: str, value_type: type) -> dict:
    """Field metadata read by ``soundstorm.commands.options``: the command-line flag's help and
    the type its text is parsed with (``--steps 8`` -> ``int``)."""
    return {"help": help_text, "type": value_type}


GREEDY_CHOICES = ("argmax", "mbr")


class _Unset:
    """The default of the keyword aliases of ``DecodeOptions`` fields: "not given"."""

    def __repr__(self) -> str:
        return "<unset>"


UNSET = _Unset()


@dataclass(frozen=True)
class DecodeOptions:
    """How acoustic tokens are decoded (SoundStorm §3.4, MaskGIT's confidence decoding).

    One object, validated once here and passed whole by every layer (``SoundStorm.generate``,
    ``GenerationEngine``, ``VoicePipeline``, the training-time validation, the ``generate`` /
    ``demo`` / ``bench`` commands) down to ``generate_tokens``, which is the only reader of its
    fields.

    Attributes:
        steps: iterations per RVQ level. None: the paper's ``(16, 1, ..., 1)`` (or, through
            ``VoicePipeline``, the model's recommended first-level passes); an int ``n``:
            ``(n, 1, ..., 1)``; a sequence: one positive int per level. Resolved against the
            number of levels by ``level_steps``. Each iteration is exactly one forward pass.
        temperature: sampling temperature of the levels decoded in several iterations (finite,
            >= 0; 0 = argmax). One so small that ``logits / temperature`` overflows acts as
            argmax (see ``finite_scores``); one so large that it underflows acts as uniform.
        choice_temperature: scale of the Gumbel noise added to the confidence when choosing
            which candidates to keep, annealed linearly to 0 over a level's iterations
            (finite, >= 0; 0 = pure confidence ranking).
        guidance_scale: classifier-free guidance on the acoustic prompt and every other known
            frame (finite, >= 0; 0 = off, exactly the unguided decoding). With s > 0 each pass
            runs the network on a doubled batch (the request, and the request with its known
            frames masked) and decodes from ``l_c + s * (l_c - l_u)``: the same number of
            passes, each about twice the work. Meant for models trained with prompt dropout
            (``TrainConfig.masking.prompt_dropout``).
        greedy_choice: how a level decoded in one pass (the finer levels, SoundStorm §3.4)
            picks each code: ``"argmax"`` (the paper) or ``"mbr"``, minimum Bayes risk under
            squared error in the codec's vector space: the code ``j`` minimising
            ``sum_k p(k) |c_j - c_k|^2``, i.e. the code nearest the expected vector
            ``sum_k p(k) c_k``. Where the model is unsure it picks a code near the mean of
            its candidates instead of its single most likely one. Needs the codec's
            codebooks (``codebooks=`` of ``generate_tokens``; ``VoicePipeline`` passes the
            embedded codec's).

    Raises:
        ValueError: a value of the wrong type or range, naming the field (``"steps must be an
            integer >= 1, got 16.7 (float)"``, ``"temperature must be a finite number >= 0,
            got nan (float)"``).

    Adding an option (the next one: ``top_k``) is a change to this file and a test: a field
    with a default that keeps today's behaviour and ``metadata=_flag(help, type)`` (the
    commands then gain ``--top-k`` from ``dataclasses.fields``), its check in
    ``__post_init__``, and its use in ``generate_tokens`` (top-k: restrict ``scores`` before
    sampling in ``confidence_step``). Every layer above passes the object whole and needs no
    change; ``tests/test_decode_options.py`` checks it. ``guidance_scale`` was added so.
    """

    steps: int | tuple[int, ...] | None = field(
        default=None,
        metadata=_flag(
            "decoding passes of the first RVQ level, one for each finer level (default: the "
            "model's pipeline.json, else the paper's 16)",
            int,
        ),
    )
    temperature: float = field(
        default=1.0,
        metadata=_flag(
            "sampling temperature of the first level (0: argmax; default 1); a level decoded "
            "in one pass takes its argmax (the shipped model recommends one: add --steps 16 "
            "to sample)",
            float,
        ),
    )
    choice_temperature: float = field(
        default=1.0,
        metadata=_flag(
            "scale of the annealed Gumbel noise on the confidence ranking (0: none; default 1)",
            float,
        ),
    )
    guidance_scale: float = field(
        default=0.0,
        metadata=_flag(
            "classifier-free guidance on the prompt: logits + SCALE x (logits - logits without "
            "the prompt); each pass runs a doubled batch (0: off; default 0)",
            float,
        ),
    )

    greedy_choice: str = field(
        default="argmax",
        metadata=_flag(
            "how each one-pass (finer) level picks its codes: argmax (the paper) or mbr "
            "(minimum Bayes risk: the code nearest the expected codebook vector under the "
            "model's distribution; needs the codec's codebooks; default argmax)",
            str,
        ),
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", _steps_value(self.steps))
        if self.greedy_choice not in GREEDY_CHOICES:
            raise ValueError(
                f"greedy_choice must be one of {', '.join(GREEDY_CHOICES)}, got "
                f"{self.greedy_choice!r}"
            )
        object.__setattr__(
            self, "temperature", require_real("temperature", self.temperature, minimum=0.0)
        )
        object.__setattr__(
            self,
            "choice_temperature",
            require_real("choice_temperature", self.choice_temperature, minimum=0.0),
        )
        object.__setattr__(
            self, "guidance_scale", require_real("guidance_scale", self.guidance_scale, minimum=0.0)
        )

    def level_steps(self, num_levels: int) -> tuple[int, ...]:
        """Iterations per level for a model of ``num_levels`` RVQ levels.

        Returns:
            ``num_levels`` positive ints: the paper's ``(16, 1, ..., 1)`` when ``steps`` is
            None, ``(n, 1, ..., 1)`` for an int ``n``, else ``steps`` itself.

        Raises:
            ValueError: ``num_levels`` not an integer >= 1, or a ``steps`` sequence whose
                length is not ``num_levels``.
        """
        num_levels = require_int("num_levels", num_levels, minimum=1)
        if self.steps is None:
            return default_steps(num_levels)
        if isinstance(self.steps, int):
            return (self.steps,) + (1,) * (num_levels - 1)
        if len(self.steps) != num_levels:
            raise ValueError(
                f"steps must be {num_levels} positive integers (one per RVQ level), "
                f"got {self.steps}"
            )
        return self.steps

    def replace(self, **changes) -> DecodeOptions:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def merge(cls, options: DecodeOptions | None = None, **aliases) -> DecodeOptions:
        """``options`` (default: ``DecodeOptions()``) with the keyword aliases that were given.

        The generation entry points keep their old keywords (``steps=``, ``temperature=``,
        ``choice_temperature=``) as aliases of the fields: an alias left at ``UNSET`` (or
        ``steps=None``) keeps the value of ``options``; one given replaces it.

        Raises:
            ValueError: ``options`` not a ``DecodeOptions``, an unknown alias, or a bad value.
        """
        if options is None:
            options = cls()
        elif not isinstance(options, cls):
            raise ValueError(
                f"options must be a DecodeOptions, got {type(options).__name__}; build one "
                f"with soundstorm.decoding.DecodeOptions(steps=..., temperature=...)"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(aliases) - names)
        if unknown:
            raise ValueError(f"unknown decoding option(s) {unknown}; known: {sorted(names)}")
        given = {
            name: value
            for name, value in aliases.items()
            if value is not UNSET and not (name == "steps" and value is None)
        }
        return options.replace(**given) if given else options


def default_steps(num_levels: int) -> tuple[int, ...]:
    """The paper's schedule: 16 iterations for the first level, then one per level."""
    return (16,) + (1,) * (num_levels - 1)


def level_steps(steps: Sequence[int] | int | None, num_levels: int) -> tuple[int, ...]:
    """``DecodeOptions(steps=steps).level_steps(num_levels)``: iterations per level.

    Raises:
        ValueError: a value that is not an integer (``16.7``, ``True``, ``"16"``: never
            truncated), a wrong count, or a count below 1.
    """
    return DecodeOptions(steps=steps).level_steps(num_levels)


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


def fill_mbr(
    logits: torch.Tensor, codebook: torch.Tensor, level_codes: torch.Tensor, masked: torch.Tensor
) -> torch.Tensor:
    """One-pass level by minimum Bayes risk: each masked position takes the code nearest the
    expected codebook vector ``softmax(logits) @ codebook`` (see ``DecodeOptions.greedy_choice``).

    Args:
        logits: ``[B, T, K]`` (non-finite values allowed, as ``finite_scores``).
        codebook: ``[K, D]`` float, the level's code vectors.
        level_codes: ``LongTensor[B, T]``. masked: ``BoolTensor[B, T]``.

    Returns:
        the level's codes ``[B, T]`` with no position left masked; the others unchanged.
    """
    codebook = codebook.to(device=logits.device, dtype=torch.float32)
    probs = torch.softmax(finite_scores(logits), dim=-1)  # (B, T, K)
    expected = probs @ codebook  # (B, T, D)
    # argmin_j |c_j - e|^2 = argmax_j (2 e.c_j - |c_j|^2)
    score = 2 * expected @ codebook.T - (codebook * codebook).sum(dim=-1)
    return torch.where(masked, score.argmax(dim=-1), level_codes)


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


def known_frame_mask(
    batch: int,
    num_frames: int,
    device: torch.device,
    prompt: torch.Tensor | None = None,
    prompt_lengths: torch.Tensor | None = None,
    known_frames: torch.Tensor | None = None,
) -> torch.Tensor:
    """Which frames are given rather than generated: the prompt's and the other known ones.

    Args:
        batch, num_frames: B and T.
        device: where the mask goes.
        prompt: ``LongTensor[B, Q, P]`` prefix prompt (only its length P is read), or None.
        prompt_lengths: ``LongTensor[B]`` prompt frames per example (default: P for all).
        known_frames: ``BoolTensor[B, T]`` further known frames, or None.

    Returns:
        ``BoolTensor[B, T]``: frames ``< prompt_lengths[b]``, or-ed with ``known_frames``.
    """
    frames = torch.arange(num_frames, device=device)
    known = torch.zeros(batch, num_frames, dtype=torch.bool, device=device)
    if prompt is not None:
        if prompt_lengths is None:
            prompt_lengths = torch.full((batch,), prompt.shape[-1], device=device)
        known = frames < prompt_lengths.to(device)[:, None]
    if known_frames is not None:
        known = known | known_frames.to(device=device, dtype=torch.bool)
    return known


def guided_logits(logits: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: ``l_c + scale * (l_c - l_u)`` from the doubled batch's logits.

    Args:
        logits: ``[2B, T, K]``: the conditional half first, then the unconditional one.
        scale: the guidance scale s (> 0).

    Returns:
        float32 ``[B, T, K]`` (non-finite values are left to ``finite_scores``).
    """
    conditional, unconditional = logits.float().chunk(2, dim=0)
    return conditional + scale * (conditional - unconditional)


@torch.no_grad()
def generate_tokens(
    forward: LevelForward,
    cond: torch.Tensor,
    *,
    num_levels: int,
    mask_id: int,
    prompt: torch.Tensor | None = None,
    lengths: torch.Tensor | None = None,
    prompt_lengths: torch.Tensor | None = None,
    known: torch.Tensor | None = None,
    known_frames: torch.Tensor | None = None,
    options: DecodeOptions | None = None,
    generator: torch.Generator | None = None,
    codebooks: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generate acoustic tokens level by level (SoundStorm §3.4). Inputs are assumed validated.

    The one token-generating loop, shared by ``SoundStorm.generate``, ``GenerationEngine`` and
    the benchmarks (the audio decoders are ``Codec.decode`` and ``VoicePipeline.decode``).

    Known frames, kept unchanged and never counted in the schedule, are the prefix prompt
    (``prompt``, ``prompt_lengths``) together with any frames marked in ``known_frames`` (e.g.
    the recording before and after an edited span, whose codes ``known`` holds). The prefix
    prompt is the common case; ``known_frames`` = "frame < P" with ``known[..., :P] = prompt``
    gives exactly the same tokens.

    Args:
        forward: ``forward(codes [B',Q,T], cond [B',T], lengths [B'], level) -> logits
            [B',T,K]``; called exactly once per iteration, ``sum(options.level_steps(Q))``
            times in all, with ``B' = B``, or ``B' = 2B`` under guidance
            (``options.guidance_scale > 0``: the request, then the request with its known
            frames masked).
        cond: ``LongTensor[B, T]`` conditioning tokens.
        num_levels: Q.
        mask_id: the mask id (== codebook size K).
        prompt: ``LongTensor[B, Q, P]`` acoustic tokens of frames ``0..P-1``, kept unchanged.
        lengths: ``LongTensor[B]`` real frames per example (default: all T).
        prompt_lengths: ``LongTensor[B]`` prompt frames per example (default: all P).
        known: ``LongTensor[B, Q, T]`` codes of the known frames (values elsewhere ignored).
        known_frames: ``BoolTensor[B, T]`` frames whose codes ``known`` gives (any pattern:
            prefix, suffix, both sides of a span); where a prompt frame is also known, the
            prompt's codes are used. Known frames beyond ``lengths`` are padding (ignored).
        options: how to decode (default ``DecodeOptions()``: the paper's ``(16, 1, ..., 1)``
            steps, temperatures 1, no guidance).
        generator: random generator (on ``cond.device``).
        codebooks: ``[Q, K, D]`` float code vectors of the codec's levels, read by
            ``options.greedy_choice="mbr"`` only (``Codec.code_vectors``).

    Returns:
        ``LongTensor[B, Q, T]`` with ids in ``[0, K)`` whatever the logits (NaN, +-inf); known
        frames (prompt included) unchanged; padding frames hold 0.

    Raises:
        ValueError: ``options`` that is not a ``DecodeOptions`` or whose ``steps`` do not fit
            ``num_levels``, ``known`` without ``known_frames`` (or the reverse), ``"mbr"``
            without ``codebooks`` of shape ``[>= Q, K, D]``, or ``forward`` returning logits
            that are not ``[B', T, K]`` with ``K == mask_id``.
    """
    if not isinstance(options, DecodeOptions):
        options = DecodeOptions.merge(options)  # None -> defaults; anything else: ValueError
    if (known is None) != (known_frames is None):
        raise ValueError("known and known_frames go together: give both or neither")
    steps = options.level_steps(num_levels)
    mbr = options.greedy_choice == "mbr"
    if mbr and (
        codebooks is None
        or codebooks.dim() != 3
        or codebooks.shape[0] < num_levels
        or codebooks.shape[1] != mask_id
    ):
        shape = None if codebooks is None else tuple(codebooks.shape)
        raise ValueError(
            f"greedy_choice='mbr' needs the codec's codebooks [Q >= {num_levels}, K = {mask_id}, "
            f"D] (an embedded codec's code_vectors), got {shape}"
        )
    temperature, choice_temperature = options.temperature, options.choice_temperature
    guidance = options.guidance_scale  # a Python float: the branch below never reads the device
    batch, num_frames = cond.shape
    device = cond.device
    frames = torch.arange(num_frames, device=device)
    if lengths is None:
        lengths = torch.full((batch,), num_frames, device=device, dtype=torch.long)
    valid = frames < lengths[:, None]  # (B, T)

    codes = torch.full((batch, num_levels, num_frames), mask_id, device=device, dtype=torch.long)
    if known is not None:
        codes = torch.where(known_frames[:, None, :], known, codes)
    if prompt is not None:
        prompt_frames = prompt.shape[-1]
        if prompt_lengths is None:
            prompt_lengths = torch.full((batch,), prompt_frames, device=device, dtype=torch.long)
        in_prompt = frames[:prompt_frames] < prompt_lengths[:, None]  # (B, P)
        codes[..., :prompt_frames] = torch.where(
            in_prompt[:, None, :], prompt, codes[..., :prompt_frames]
        )
    given = known_frame_mask(batch, num_frames, device, prompt, prompt_lengths, known_frames)
    generate_here = valid & ~given  # (B, T): the frames the schedule counts
    num_to_generate = generate_here.sum(dim=-1)  # (B,), stays on the device
    if guidance > 0:  # the unconditional half: the same request without its known frames
        cond_pair, lengths_pair = torch.cat([cond, cond]), torch.cat([lengths, lengths])
        hide = given[:, None, :]  # (B, 1, T)
    expected = (2 * batch if guidance > 0 else batch, num_frames, mask_id)

    for level, iterations in enumerate(steps):
        for i in range(iterations):
            if guidance > 0:
                pair = torch.cat([codes, codes.masked_fill(hide, mask_id)])  # (2B, Q, T)
                logits = forward(pair, cond_pair, lengths_pair, level)  # (2B, T, K)
            else:
                logits = forward(codes, cond, lengths, level)  # (B, T, K)
            if logits.shape != expected:  # shapes only: no device sync
                raise ValueError(
                    f"forward returned logits of shape {tuple(logits.shape)} at level {level}, "
                    f"expected [B, T, K] = {list(expected)}"
                )
            if guidance > 0:
                logits = guided_logits(logits, guidance)  # (B, T, K) float32
            level_codes = codes[:, level]
            masked = generate_here & (level_codes == mask_id)
            if iterations == 1 and mbr:
                new_codes = fill_mbr(logits, codebooks[level], level_codes, masked)
            elif iterations == 1:
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
    """Deprecated name of ``generate_tokens`` (it makes tokens; ``Codec.decode`` makes audio).

    ``decode(..., steps=s, temperature=t, choice_temperature=c)`` is
    ``generate_tokens(..., options=DecodeOptions(s, t, c))``.
    """
    warnings.warn(
        "soundstorm.decoding.decode is deprecated: use generate_tokens(..., "
        "options=DecodeOptions(...))",
        DeprecationWarning,
        stacklevel=2,
    )
    return generate_tokens(
        forward,
        cond,
        num_levels=num_levels,
        mask_id=mask_id,
        prompt=prompt,
        lengths=lengths,
        prompt_lengths=prompt_lengths,
        options=DecodeOptions(steps, temperature, choice_temperature),
        generator=generator,
    )


def resolve_steps(steps: Sequence[int] | int | None, num_levels: int) -> tuple[int, ...]:
    """Deprecated name of ``level_steps`` (``DecodeOptions(steps=...).level_steps(Q)``)."""
    warnings.warn(
        "soundstorm.decoding.resolve_steps is deprecated: use "
        "DecodeOptions(steps=...).level_steps(num_levels)",
        DeprecationWarning,
        stacklevel=2,
    )
    return level_steps(steps, num_levels)
