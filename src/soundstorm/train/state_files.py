"""Trainer and RNG state files without pickle: JSON for structure, safetensors for tensors.

A checkpoint written by someone else must never run code when it is resumed, so nothing in
it is unpickled (``torch.load(weights_only=False)`` would execute whatever a crafted file
asks for). A checkpoint directory holds::

    trainer.json           progress, scheduler state, optimizer hyper-parameters (parameter
                           groups with parameter names), config, global batch size, the
                           SHA-256 of optimizer.safetensors and its own checksum
    optimizer.safetensors  the optimizer's per-parameter tensors, named
                           ``state/<parameter name>/<key>`` (e.g. ``.../exp_avg``)
    rng/rank_00000.json    one rank's torch / CUDA (bytes as hex), numpy and python RNG
                           states, and its checksum

The JSON files carry a ``checksum`` entry (``soundstorm.checksums.seal_json``): a flipped
digit of a step or a learning rate still parses, and is found by it. Files written before
it existed have none and are read as they are.

Floats go through JSON with Python's shortest round-trip repr and tensors through
safetensors byte for byte, so a resumed run is bit-identical to an uninterrupted one.

Checkpoints of the older format (``trainer.pt``, ``rng/rank_*.pt``, written with
``torch.save``) are still read, with ``torch.load(weights_only=True)``: only tensors,
containers, numbers and strings (plus numpy's plain arrays, for the numpy RNG state) are
accepted. Anything else, a damaged or truncated file, a wrong checksum or a malformed state
is a ``SoundStormError`` with a one-line message naming the file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from soundstorm.checksums import JSON_KEY, check_json, seal_json, sha256_file
from soundstorm.errors import SoundStormError
from soundstorm.formats import check_format_version, current_version

#: Version of trainer.json and rng/rank_*.json (``soundstorm.formats``, kind ``trainer-state``):
#: older ones are read, newer ones refused in one line.
FORMAT_VERSION = current_version("trainer-state")
TRAINER_JSON = "trainer.json"
#: a run's ``best/``: trainer.json's progress and configuration, without optimizer state
TRAINER_RECORD = "trainer_record.json"
OPTIMIZER_TENSORS = "optimizer.safetensors"
LEGACY_TRAINER = "trainer.pt"
_STATE_PREFIX = "state/"


# ---------------------------------------------------------------------------- RNG states
def encode_rng_state(state: dict[str, Any]) -> dict[str, Any]:
    """JSON-able form of ``checkpoint.rng_state()``'s dict (exact round trip).

    Args:
        state: ``{"torch": ByteTensor, "numpy": np.random.get_state(), "python":
            random.getstate(), "cuda"?: ByteTensor}``.
    """
    kind, key, pos, has_gauss, cached = state["numpy"]
    version, internal, gauss_next = state["python"]
    out: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "torch": _tensor_hex(state["torch"]),
        "numpy": {
            "kind": str(kind),
            "key": [int(v) for v in np.asarray(key, dtype=np.uint32)],
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": int(version), "state": list(internal), "gauss_next": gauss_next},
    }
    if "cuda" in state:
        out["cuda"] = _tensor_hex(state["cuda"])
    return out


def decode_rng_state(data: Any, where: str) -> dict[str, Any]:
    """Inverse of ``encode_rng_state``, checking every field.

    Raises:
        SoundStormError: a field is missing or of the wrong type (names ``where``).
        FormatVersionError: a newer format version (upgrade soundstorm).
    """
    if isinstance(data, dict):  # converted legacy states carry it too
        check_format_version(where, "trainer-state", data.get("format"))
    try:
        numpy_state = data["numpy"]
        key = numpy_state["key"]
        python_state = data["python"]
        internal = python_state["state"]
        gauss_next = python_state["gauss_next"]
        checks = [
            isinstance(numpy_state["kind"], str),
            isinstance(key, list) and len(key) == 624 and all(_is_int(v) for v in key),
            all(_is_int(numpy_state[k]) for k in ("pos", "has_gauss")),
            isinstance(numpy_state["cached_gaussian"], (int, float)),
            _is_int(python_state["version"]),
            isinstance(internal, list) and all(_is_int(v) for v in internal),
            gauss_next is None or isinstance(gauss_next, (int, float)),
        ]
        if not all(checks):
            raise ValueError("a field has the wrong type")
        state = {
            "torch": _tensor_from_hex(data["torch"]),
            "numpy": (
                numpy_state["kind"],
                np.array(key, dtype=np.uint32),
                numpy_state["pos"],
                numpy_state["has_gauss"],
                float(numpy_state["cached_gaussian"]),
            ),
            "python": (python_state["version"], tuple(internal), gauss_next),
        }
        if "cuda" in data:
            state["cuda"] = _tensor_from_hex(data["cuda"])
        # Validate by applying to scratch generators (the global ones are set by the caller).
        np.random.RandomState().set_state(state["numpy"])
        random.Random().setstate(state["python"])
        torch.Generator().set_state(state["torch"])
    except (KeyError, TypeError, ValueError, OverflowError, RuntimeError) as error:
        raise SoundStormError(f"{where}: not a valid RNG state ({_short(error)})") from None
    return state


def write_rng_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (see ``encode_rng_state``) as JSON to ``path``."""
    Path(path).write_text(json.dumps(seal_json(encode_rng_state(state))))


def read_rng_state(path: str | Path) -> dict[str, Any]:
    """Read an RNG state file: ``.json`` (this format) or a legacy ``.pt``.

    Raises:
        SoundStormError: unreadable, damaged or malformed file.
    """
    path = Path(path)
    if path.suffix == ".pt":
        return _legacy_rng_state(path)
    data = _read_json(path)
    if isinstance(data, dict):
        check_format_version(path, "trainer-state", data.get("format"))
    check_json(data, path)  # a changed value would still decode: the checksum tells
    return decode_rng_state(data, str(path))


def _legacy_rng_state(path: Path) -> dict[str, Any]:
    data = _weights_only_load(path, allow_numpy=True)
    try:
        kind, key, pos, has_gauss, cached = data["numpy"]
        version, internal, gauss_next = data["python"]
        encoded = encode_rng_state(
            {
                "torch": data["torch"],
                "numpy": (kind, key, pos, has_gauss, cached),
                "python": (version, internal, gauss_next),
                **({"cuda": data["cuda"]} if "cuda" in data else {}),
            }
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise SoundStormError(f"{path}: not a valid RNG state ({_short(error)})") from None
    return decode_rng_state(encoded, str(path))


def _tensor_hex(tensor: torch.Tensor) -> str:
    return tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes().hex()


def _tensor_from_hex(text: Any) -> torch.Tensor:
    if not isinstance(text, str):
        raise TypeError("expected a hex string")
    return torch.frombuffer(bytearray.fromhex(text), dtype=torch.uint8).clone()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------------------- trainer state
def write_trainer_state(directory: str | Path, trainer: dict[str, Any]) -> None:
    """Write ``trainer`` (``optimizer``: a full state dict keyed by parameter name, other
    items JSON-able) as ``trainer.json`` + ``optimizer.safetensors`` in ``directory``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    optimizer = trainer["optimizer"]
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for name, values in optimizer["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{_STATE_PREFIX}{name}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(name), {})[key] = value
    tensor_file = directory / OPTIMIZER_TENSORS
    save_file(tensors, str(tensor_file), metadata={"format": "soundstorm-optimizer"})
    body = {k: v for k, v in trainer.items() if k != "optimizer"}
    body["optimizer"] = {
        "param_groups": optimizer["param_groups"],
        "scalars": scalars,
        "tensors": OPTIMIZER_TENSORS,
        "sha256": sha256_file(tensor_file),
    }
    _write_trainer_json(directory / TRAINER_JSON, body)


def write_trainer_record(directory: str | Path, record: dict[str, Any]) -> None:
    """``trainer_record.json``: a ``trainer.json`` without optimizer state (``record``:
    ``progress``, ``config``, ..., JSON-able), sealed and versioned like a checkpoint's. A
    run's ``best/`` keeps one so that the model card of its weights can say how they were
    trained (``soundstorm.model_card.read_training_history``); it is no checkpoint (its name
    differs, so nothing resumes from it)."""
    _write_trainer_json(Path(directory) / TRAINER_RECORD, record)


def _write_trainer_json(path: Path, body: dict[str, Any]) -> None:
    """``body`` with the format version, sealed (``checksum``), as indented JSON."""
    text = json.dumps(seal_json(_json_safe({**body, "format": FORMAT_VERSION})), indent=1)
    path.write_text(text + "\n")


def read_trainer_json(directory: str | Path, name: str = TRAINER_JSON) -> Any:
    """A checkpoint's ``trainer.json`` (or ``name``: ``TRAINER_RECORD``), parsed and checked
    (its checksum and format version), without the optimizer file: progress, configuration
    and the rest, as written.

    Raises:
        SoundStormError: a missing or damaged file, a checksum mismatch.
        FormatVersionError: a newer format version (upgrade soundstorm), or none.
    """
    path = Path(directory) / name
    body = _read_json(path)
    if isinstance(body, dict):
        check_format_version(path, "trainer-state", body.get("format"))
    check_json(body, path)  # a changed step or learning rate would still parse
    return body


def _checked_trainer_json(directory: Path) -> tuple[dict, list, dict, Path]:
    """``trainer.json`` read and checked, and its optimizer file's SHA-256 compared (the
    tensors are not loaded): ``(body, param_groups, scalars, optimizer file)``."""
    path = directory / TRAINER_JSON
    body = read_trainer_json(directory)
    try:
        meta = body["optimizer"]
        groups, scalars = meta["param_groups"], meta["scalars"]
        tensor_file = directory / str(meta["tensors"])
        expected = meta["sha256"]
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise TypeError("optimizer.param_groups must be a list of mappings")
        for key in ("progress", "scheduler"):
            if not isinstance(body[key], dict):
                raise TypeError(f"{key} must be a mapping")
    except (KeyError, TypeError) as error:
        raise SoundStormError(f"{path}: not a valid trainer state ({_short(error)})") from None
    if not tensor_file.is_file():
        raise SoundStormError(f"{path}: its optimizer tensors {tensor_file} are missing")
    if sha256_file(tensor_file) != expected:
        raise SoundStormError(
            f"{tensor_file}: checksum does not match {TRAINER_JSON} (damaged or altered file)"
        )
    return body, groups, scalars, tensor_file


def check_trainer_state(directory: str | Path) -> None:
    """Check a checkpoint's trainer state without loading it: ``trainer.json`` (parsed,
    checksum, version, fields) and the SHA-256 of ``optimizer.safetensors``; a legacy
    ``trainer.pt`` is loaded (weights only).

    Raises:
        SoundStormError: a missing, damaged or malformed file (one line naming it).
    """
    directory = Path(directory)
    if not (directory / TRAINER_JSON).is_file() and (directory / LEGACY_TRAINER).is_file():
        _legacy_trainer_state(directory / LEGACY_TRAINER)
        return
    _checked_trainer_json(directory)


def read_trainer_state(directory: str | Path) -> dict[str, Any]:
    """Read what ``write_trainer_state`` wrote (or a legacy ``trainer.pt``).

    Returns:
        ``{"progress": dict, "optimizer": {"state": {name: {key: value}}, "param_groups":
        [...]}, "scheduler": dict, ...}``.

    Raises:
        SoundStormError: damaged or malformed files, checksum mismatch.
        FormatVersionError: a newer format version (upgrade soundstorm), or none.
    """
    directory = Path(directory)
    path = directory / TRAINER_JSON
    if not path.is_file() and (directory / LEGACY_TRAINER).is_file():
        return _legacy_trainer_state(directory / LEGACY_TRAINER)
    body, groups, scalars, tensor_file = _checked_trainer_json(directory)
    tensors = _load_safetensors(tensor_file)
    state: dict[str, dict[str, Any]] = {}
    for name, value in tensors.items():
        param, _, key = name.removeprefix(_STATE_PREFIX).rpartition("/")
        if not name.startswith(_STATE_PREFIX) or not param or not key:
            raise SoundStormError(f"{tensor_file}: unexpected tensor name {name!r}")
        state.setdefault(param, {})[key] = value
    for param, values in scalars.items():
        state.setdefault(param, {}).update(values)
    for group in groups:
        if isinstance(group.get("betas"), list):  # JSON has no tuples
            group["betas"] = tuple(group["betas"])
    trainer = {k: v for k, v in body.items() if k not in ("format", "optimizer", JSON_KEY)}
    trainer["optimizer"] = {"state": state, "param_groups": groups}
    return trainer


def _legacy_trainer_state(path: Path) -> dict[str, Any]:
    trainer = _weights_only_load(path, allow_numpy=False)
    if not isinstance(trainer, dict) or not {"progress", "optimizer", "scheduler"} <= set(trainer):
        raise SoundStormError(f"{path}: not a valid trainer state (missing keys)")
    return trainer


# ---------------------------------------------------------------------------- helpers
def _weights_only_load(path: Path, allow_numpy: bool) -> Any:
    """``torch.load(weights_only=True)``: no code runs, whatever the file holds."""
    safe: list[Any] = []
    if allow_numpy:  # plain numpy arrays (the numpy RNG key), nothing else of numpy
        try:
            from numpy._core.multiarray import _reconstruct
        except ImportError:  # numpy < 2
            from numpy.core.multiarray import _reconstruct

        safe = [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    try:
        with torch.serialization.safe_globals(safe):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError (zip), EOFError, ...
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SoundStormError(
            f"{path}: refused or unreadable legacy checkpoint file (only plain tensors and "
            f"containers are loaded, nothing is unpickled): {first[:200]}"
        ) from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SoundStormError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SoundStormError(f"{path}: damaged JSON ({_short(error)})") from None


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise SoundStormError(f"{path}: damaged safetensors file ({_short(error)})") from None


def _json_safe(value: Any) -> Any:
    """Tuples to lists, tensors of one value and numpy scalars to numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]
