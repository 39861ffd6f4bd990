"""Token-range checks: one rule and one message for every place that takes token ids.

Acoustic codes (``[B, Q, T]`` or ``[Q, T]``, ids in ``[0, K)``, plus the mask id ``K`` where a
model input allows it) and semantic / conditioning ids (``[B, T]`` or ``[T]``, ids in
``[0, V)``) reach the package from token files, shard directories, codecs and users. Every one
of those places checks them with :func:`check_token_range` (or, where several tensors are read
back from a device in one synchronisation, builds the message with :func:`out_of_range_message`),
so the rule and the wording are the same everywhere::

    data/x.tokens: code 1030 out of range: codes must be in [0, 1024) (codebook_size)
    utterance 'u7' (shard train-00002): semantic id -1 out of range: semantic ids must be in
        [0, 500) (model.cond_vocab_size)

The message names the first offending value found (a negative one before a too large one), the
allowed range and where the limit comes from.
"""

from __future__ import annotations

import numpy as np
import torch

from soundstorm.errors import SoundStormError


def out_of_range_message(
    name: str,
    low: int,
    high: int,
    limit: int,
    *,
    plural: str | None = None,
    source: str | None = None,
    where: str | None = None,
) -> str | None:
    """The message for ids whose minimum is ``low`` and maximum ``high``; ``None`` if all are
    in ``[0, limit)``.

    Args:
        name: what one id is, singular (``"code"``, ``"semantic id"``, ``"cond id"``).
        low: the smallest id found.
        high: the largest id found.
        limit: ids must be below it.
        plural: the plural of ``name`` (default ``name + "s"``).
        source: where ``limit`` comes from, in brackets (``"codebook_size"``,
            ``"mask id 1024 allowed"``).
        where: a prefix naming the file, the utterance or the argument.

    Returns:
        ``"{where}: {name} {bad} out of range: {plural} must be in [0, {limit}) ({source})"``
        or ``None``.
    """
    if 0 <= low and high < limit:
        return None
    bad = low if low < 0 else high
    text = f"{name} {bad} out of range: {plural or name + 's'} must be in [0, {limit})"
    if source:
        text += f" ({source})"
    return f"{where}: {text}" if where else text


def id_bounds(ids: np.ndarray | torch.Tensor) -> tuple[int, int] | None:
    """``(min, max)`` of ``ids`` as Python ints (one device read for a tensor), ``None`` if
    empty."""
    if ids.size == 0 if isinstance(ids, np.ndarray) else ids.numel() == 0:
        return None
    if isinstance(ids, torch.Tensor):
        low, high = torch.stack([ids.min(), ids.max()]).tolist()
        return int(low), int(high)
    return int(ids.min()), int(ids.max())


def check_token_range(
    ids: np.ndarray | torch.Tensor,
    limit: int,
    name: str,
    *,
    plural: str | None = None,
    source: str | None = None,
    where: str | None = None,
    error: type[Exception] = SoundStormError,
) -> None:
    """Raise ``error`` unless every id of ``ids`` lies in ``[0, limit)``.

    Reads the minimum and the maximum only (for a tensor: one synchronisation with its
    device). Empty arrays pass.

    Args:
        ids: integer ids, any shape (numpy or torch).
        limit: ids must be below it (``K``, ``K + 1`` where the mask id is allowed, ``V``).
        name, plural, source, where: the message's words (see :func:`out_of_range_message`).
        error: the exception type (``SoundStormError`` for files and data, ``ValueError``
            for arguments of the model's methods).

    Raises:
        error: an id below 0 or at or above ``limit``, with the message above.
    """
    bounds = id_bounds(ids)
    if bounds is None:
        return
    message = out_of_range_message(name, *bounds, limit, plural=plural, source=source, where=where)
    if message is not None:
        raise error(message)
