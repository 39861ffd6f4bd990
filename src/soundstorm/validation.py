"""Checks of values that users give: integers, real numbers, integer tensors, devices, ranks.

Every public entry point (the Python API and the command line) applies the same rules, so a
wrong value fails the same way wherever it is given: an integer argument given ``16.7``,
``True`` or ``"16"`` raises a ``ValueError`` saying what was expected (it is never truncated
by ``int()``), a temperature of ``nan`` is refused, and ``cuda`` on a machine without CUDA
says so (``SoundStormError``) instead of failing deep inside PyTorch. The command line turns
both into a one-line error with exit status 2.
"""

from __future__ import annotations

import math
import numbers

import torch

from soundstorm.errors import SoundStormError


def _expected_range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def describe_value(value: object) -> str:
    """How an error message shows a value: ``16.7 (float)``, ``torch.float32 of shape (2,)``."""
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} of shape {tuple(value.shape)}"
    return f"{value!r} ({type(value).__name__})"


def is_integer_tensor(value: object) -> bool:
    """Whether ``value`` is a tensor of integer ids (not floating, complex or bool)."""
    return (
        isinstance(value, torch.Tensor)
        and not value.is_floating_point()
        and not value.is_complex()
        and value.dtype != torch.bool
    )


def require_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an ``int`` if it is an integer in ``[minimum, maximum]``; else ``ValueError``.

    Python and NumPy integers and one-element integer tensors are accepted. Floats (even
    ``16.0``), bools, strings and floating tensors are refused, never truncated.

    Args:
        name: the argument's name, as the user wrote it (``"steps"``, ``"--batch-size"``).
        value: the value given.
        minimum: smallest allowed value (None: no bound).
        maximum: largest allowed value (None: no bound).

    Returns:
        ``value`` as a Python ``int``.

    Raises:
        ValueError: ``"<name> must be an integer >= <minimum>, got 16.7 (float)"``.
    """
    expected = f"{name} must be an integer{_expected_range(minimum, maximum)}"
    if isinstance(value, torch.Tensor):
        if not is_integer_tensor(value) or value.numel() != 1:
            raise ValueError(
                f"{expected}, got a {value.dtype} tensor of shape {tuple(value.shape)}"
            )
        number = int(value.reshape(()).item())
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)
    else:
        raise ValueError(f"{expected}, got {describe_value(value)}")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"{expected}, got {number}")
    return number


def require_optional_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    """``None`` stays ``None``; anything else goes through ``require_int``."""
    return None if value is None else require_int(name, value, minimum=minimum, maximum=maximum)


def require_real(
    name: str, value: object, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """``value`` as a finite ``float`` in ``[minimum, maximum]``; else ``ValueError``.

    Ints and floats (Python or NumPy) are accepted; bools, strings, ``nan`` and ``inf`` are not.

    Raises:
        ValueError: ``"<name> must be a finite number >= 0, got nan (float)"``.
    """
    expected = f"{name} must be a finite number{_expected_range(minimum, maximum)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{expected}, got {describe_value(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{expected}, got {describe_value(value)}")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"{expected}, got {number!r}")
    return number


def cuda_unavailable_reason() -> str:
    """Why ``torch.cuda.is_available()`` is False, in words."""
    if torch.version.cuda is None:
        return f"this PyTorch ({torch.__version__}) was built without CUDA"
    return f"no CUDA GPU is visible to PyTorch {torch.__version__} (CUDA {torch.version.cuda})"


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The ``torch.device`` for a user's device choice, checked to exist on this machine.

    Every device choice (``--device``, ``map_location``, ``GenerationEngine(device=...)``,
    ``run.device``) goes through here.

    Args:
        device: ``"auto"`` or None (CUDA when available, else CPU), or any torch device
            string or ``torch.device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Returns:
        The device.

    Raises:
        SoundStormError: an unknown device name, or a device this machine lacks (``"CUDA is
            not available on this machine (this PyTorch (2.x+cpu) was built without CUDA):
            use the CPU (--device cpu)"``).
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise SoundStormError(
            f"device must be a name such as 'cpu', 'cuda', 'cuda:0' or 'auto', "
            f"got {describe_value(device)}"
        )
    try:
        resolved = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, ValueError):
        raise SoundStormError(
            f"unknown device {device!r}: expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise SoundStormError(
                f"CUDA is not available on this machine ({cuda_unavailable_reason()}): "
                f"use the CPU (--device cpu)"
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise SoundStormError(
                f"device {str(resolved)!r} does not exist: this machine has {count} CUDA "
                f"device(s) (cuda:0 to cuda:{count - 1})"
            )
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise SoundStormError(
            "MPS (Apple GPU) is not available on this machine: use the CPU (--device cpu)"
        )
    return resolved


def distributed_env() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` of this process, from torchrun's environment.

    The one reader of ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (training, ``prepare``,
    ``generate``); ``(0, 1, 0)`` when they are unset (a single process).

    Raises:
        SoundStormError: a value that is not an integer, ``WORLD_SIZE < 1``, a ``RANK``
            outside ``[0, WORLD_SIZE)`` or a negative ``LOCAL_RANK``.
    """
    import os

    values = {}
    for name, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)):
        text = os.environ.get(name, "").strip()
        try:
            values[name] = int(text) if text else default
        except ValueError:
            raise SoundStormError(
                f"RANK, WORLD_SIZE and LOCAL_RANK must be integers, got {name}={text!r}"
            ) from None
    rank, world_size, local_rank = values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise SoundStormError(
            f"invalid RANK={rank} / WORLD_SIZE={world_size} / LOCAL_RANK={local_rank}"
        )
    return rank, world_size, local_rank


def distributed_group() -> str | None:
    """An id shared by the processes of one torchrun job, and by no other job; None for a
    single process (``WORLD_SIZE`` unset or 1).

    Built from torchrun's rendezvous (``MASTER_ADDR``, ``MASTER_PORT``,
    ``TORCHELASTIC_RUN_ID``): two jobs running at once differ in one of them. The ranks of
    one job share an output folder's lock with it (``soundstorm.files.folder_lock``).
    """
    import os

    if distributed_env()[1] == 1:
        return None
    parts = [
        os.environ.get(name, "") for name in ("MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")
    ]
    return "torchrun:" + ":".join(parts)


def resolve_rank_device(device: str | torch.device | None = "auto") -> torch.device:
    """``resolve_device(device)``, on this rank's GPU under torchrun.

    A CUDA choice without an index (``"cuda"``, or ``"auto"`` on a GPU machine) becomes
    ``cuda:$LOCAL_RANK`` when several processes run (``WORLD_SIZE > 1``); an explicit index
    (``"cuda:1"``) is kept.

    Raises:
        SoundStormError: as ``resolve_device`` and ``distributed_env``.
    """
    resolved = resolve_device(device)
    if resolved.type == "cuda" and resolved.index is None:
        _, world_size, local_rank = distributed_env()
        if world_size > 1:
            resolved = resolve_device(f"cuda:{local_rank}")
    return resolved
