"""Rate alignment of semantic tokens to acoustic frames.

SoundStorm conditions every acoustic frame on one semantic token. Semantic tokenizers and
codecs run at different frame rates (paper: w2v-BERT at 25 Hz, SoundStream at 50 Hz), so the
semantic sequence is resampled to the codec's frames:

- integer ratio (25 -> 50 Hz): every token is repeated ``dst_rate / src_rate`` times;
- any other ratio (50 -> 75 Hz for EnCodec, 50 -> 12.5 Hz for Mimi): each destination frame
  takes the source frame whose time span contains the destination frame's centre.

Both cases are one rule: destination frame ``j`` (centre ``(j + 1/2) / dst_rate`` seconds)
takes source frame ``floor((j + 1/2) * src_rate / dst_rate)``, computed with exact rational
arithmetic so that no float rounding shifts a frame. Frames past the end of the source
repeat its last token; ``num_frames`` fixes the output length exactly.
"""

from __future__ import annotations

from fractions import Fraction

import torch

from soundstorm.errors import SoundStormError

_MAX_RATE_DENOMINATOR = 1_000_000


def _as_fraction(rate: float, what: str) -> Fraction:
    """Exact rational form of a frame rate (``44100 / 512`` stays exact)."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, Fraction)):
        raise SoundStormError(f"{what} must be a number, got {rate!r}")
    if not rate > 0 or rate == float("inf"):
        raise SoundStormError(f"{what} must be a positive finite frame rate, got {rate!r}")
    return Fraction(rate).limit_denominator(_MAX_RATE_DENOMINATOR)


def source_indices(
    num_frames: int, src_rate: float, dst_rate: float, num_src_frames: int | None = None
) -> torch.Tensor:
    """Source frame index for each destination frame.

    Args:
        num_frames: Number of destination frames ``T_dst``.
        src_rate: Source frame rate (Hz).
        dst_rate: Destination frame rate (Hz).
        num_src_frames: If given, indices past the end are clamped to ``num_src_frames - 1``
            (repeat the last token).

    Returns:
        ``LongTensor[T_dst]``: index ``i`` of the source frame that destination frame ``j``
        takes, ``i = floor((2j + 1) * src_rate / (2 * dst_rate))``.
    """
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 0:
        raise SoundStormError(f"num_frames must be a non-negative integer, got {num_frames!r}")
    src = _as_fraction(src_rate, "src_rate")
    dst = _as_fraction(dst_rate, "dst_rate")
    # (2j + 1) * src / (2 * dst) as one integer floor division: no float rounding.
    numerator = src.numerator * dst.denominator
    denominator = 2 * src.denominator * dst.numerator
    centres = 2 * torch.arange(num_frames, dtype=torch.int64) + 1  # (T_dst,)
    indices = torch.div(centres * numerator, denominator, rounding_mode="floor")
    if num_src_frames is not None:
        indices = indices.clamp_(max=num_src_frames - 1)
    return indices


def align(tokens: torch.Tensor, src_rate: float, dst_rate: float, num_frames: int) -> torch.Tensor:
    """Resample semantic tokens from ``src_rate`` to ``dst_rate`` frames.

    Integer up-sampling ratios repeat each token (25 -> 50 Hz: ``a b`` -> ``a a b b``); other
    ratios pick the source frame under each destination frame's centre time. The output has
    exactly ``num_frames`` frames: a source that is too short is padded by repeating its last
    token, one that is too long is truncated.

    Args:
        tokens: ``LongTensor[T_sem]`` or ``LongTensor[B, T_sem]`` (any leading dims) at
            ``src_rate``.
        src_rate: Frame rate of ``tokens`` (Hz), e.g. ``25`` or ``50``.
        dst_rate: Target frame rate (Hz), e.g. the codec's ``50`` or ``75``.
        num_frames: Number of target frames ``T`` (usually the codec's frame count).

    Returns:
        ``LongTensor[..., num_frames]`` with the same leading dims, dtype and device.

    Raises:
        SoundStormError: on a non-positive rate, negative ``num_frames``, a 0-d tensor or an
            empty source sequence with ``num_frames > 0``.
    """
    if not isinstance(tokens, torch.Tensor) or tokens.dim() == 0:
        raise SoundStormError("tokens must be a tensor of shape [T_sem] or [B, T_sem]")
    num_src_frames = tokens.shape[-1]
    indices = source_indices(num_frames, src_rate, dst_rate, num_src_frames)
    if num_frames > 0 and num_src_frames == 0:
        raise SoundStormError("cannot align an empty semantic token sequence to frames")
    return tokens.index_select(-1, indices.to(tokens.device))


def num_frames_at(num_src_frames: int, src_rate: float, dst_rate: float) -> int:
    """Number of ``dst_rate`` frames covering ``num_src_frames`` frames at ``src_rate``.

    Args:
        num_src_frames: Length of the source sequence.
        src_rate: Source frame rate (Hz).
        dst_rate: Destination frame rate (Hz).

    Returns:
        ``round(num_src_frames * dst_rate / src_rate)`` (exact for rational rates, halves
        rounded up).
    """
    if isinstance(num_src_frames, bool) or not isinstance(num_src_frames, int):
        raise SoundStormError(f"num_src_frames must be an integer, got {num_src_frames!r}")
    if num_src_frames < 0:
        raise SoundStormError(f"num_src_frames must be >= 0, got {num_src_frames}")
    ratio = _as_fraction(dst_rate, "dst_rate") / _as_fraction(src_rate, "src_rate")
    return int((2 * num_src_frames * ratio + 1) // 2)
