"""Checksums of the files soundstorm writes, checked once per file when it is read back.

A flipped bit in a codebook, a weight or a code can stay in range and change the output
silently; a SHA-256 of each file's content, recorded when it is written and compared when
it is read, turns that into a one-line ``DamagedFileError``. Three kinds of record:

- **safetensors files** (fitted codec, model weights, optimizer tensors, k-means centroids,
  token files): the metadata entry ``soundstorm_sha256`` holds the SHA-256 of the whole
  file, taken with the 64 hexadecimal digits of that entry set to ``0`` (the header and
  the tensors are covered). The file is written with zeros there, hashed, and the digits
  patched in before its rename (:func:`sealed_safetensors`);
- **JSON files** (shard index, manifest, trainer state, RNG states): the entry
  ``"checksum": "sha256:<hex>"`` is the SHA-256 of the rest of the document in canonical
  form (sorted keys, no spaces): re-indenting the file keeps it valid, changing a value
  does not (:func:`seal_json`, :func:`check_json`);
- **other files** (a shard's ``.npy`` arrays): their SHA-256 is recorded by the JSON file
  that lists them (:func:`sha256_file`).

Files written before checksums existed have none and are read as before (the readers say
"no checksum recorded" by returning ``False``); the version policy of ``soundstorm.formats``
is unchanged, since the entries are additions that older readers ignore.

Cost: one pass of SHA-256 over the file (about 1-2 GB/s on one core with the CPU's SHA
instructions), once when it is written and once per read of the file, never per item
(docs/benchmarks.md, "Checksums").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from soundstorm.errors import DamagedFileError
from soundstorm.files import atomic_path

SAFETENSORS_KEY = "soundstorm_sha256"
"""The safetensors metadata entry holding the file's SHA-256 (64 hexadecimal digits)."""
JSON_KEY = "checksum"
"""The JSON entry holding ``"sha256:<hex>"`` of the rest of the document."""
_PLACEHOLDER = "0" * 64
_BLOCK = 1 << 23


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, as 64 hexadecimal digits (read in 8 MiB blocks).

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(_BLOCK)
        view = memoryview(buffer)
        while count := handle.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


# ---------------------------------------------------------------------------- JSON documents
def json_checksum(data: dict) -> str:
    """``"sha256:<hex>"`` of ``data`` without its ``checksum`` entry, in canonical JSON."""
    rest = {key: value for key, value in data.items() if key != JSON_KEY}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def seal_json(data: dict) -> dict:
    """A copy of ``data`` with its ``checksum`` entry (see :func:`json_checksum`)."""
    return {**data, JSON_KEY: json_checksum(data)}


def check_json(data: object, path: str | os.PathLike) -> bool:
    """Compare a JSON document with its recorded checksum.

    Args:
        data: the decoded document.
        path: its file (named in the error).

    Returns:
        True when the checksum matches; False when none is recorded (a file written before
        checksums existed, or not a mapping).

    Raises:
        DamagedFileError: the document differs from what was written.
    """
    if not isinstance(data, dict) or JSON_KEY not in data:
        return False
    if data[JSON_KEY] != json_checksum(data):
        raise DamagedFileError(path, "its content does not match its sha256 checksum")
    return True


# ---------------------------------------------------------------------------- safetensors
def _checksum_span(header: bytes) -> tuple[int, str] | None:
    """``(offset in the header, recorded hex)`` of the checksum entry's value, or None."""
    match = re.search(rb'"' + SAFETENSORS_KEY.encode() + rb'"\s*:\s*"([0-9a-f]{64})"', header)
    if match is None:
        return None
    return match.start(1), match.group(1).decode()


def _read_header(handle, path: str | os.PathLike) -> bytes:
    prefix = handle.read(8)
    size = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
    header = handle.read(size) if 0 < size < 100_000_000 else b""
    if len(header) != size or not header.lstrip().startswith(b"{"):
        raise DamagedFileError(path, "not a readable safetensors file: bad header")
    return header


def _sha256_with_zeros(handle, start: int, length: int) -> str:
    """SHA-256 of the whole file with ``length`` bytes at ``start`` read as ``"0"``."""
    digest = hashlib.sha256()
    handle.seek(0)
    position = 0
    buffer = bytearray(_BLOCK)
    view = memoryview(buffer)
    while count := handle.readinto(buffer):
        block = view[:count]
        if position < start + length and position + count > start:  # overlaps the entry
            patched = bytearray(block)
            lo, hi = max(start - position, 0), min(start + length - position, count)
            patched[lo:hi] = b"0" * (hi - lo)
            block = memoryview(patched)
        digest.update(block)
        position += count
    return digest.hexdigest()


def seal_safetensors(path: str | os.PathLike) -> str:
    """Fill in the checksum of a safetensors file written with :func:`checksum_metadata`.

    Returns:
        The SHA-256 recorded.

    Raises:
        ValueError: the file has no checksum entry to fill in (a programming error).
    """
    with open(path, "r+b") as handle:
        span = _checksum_span(_read_header(handle, path))
        if span is None:
            raise ValueError(f"{path}: written without checksum_metadata()")
        offset = 8 + span[0]
        checksum = _sha256_with_zeros(handle, offset, 64)
        handle.seek(offset)
        handle.write(checksum.encode())
    return checksum


def checksum_metadata() -> dict[str, str]:
    """The metadata entry to give a safetensors writer inside :func:`sealed_safetensors`."""
    return {SAFETENSORS_KEY: _PLACEHOLDER}


def check_safetensors(path: str | os.PathLike) -> bool:
    """Compare a safetensors file with the checksum in its metadata (one pass over the file).

    Returns:
        True when it matches; False when the file records no checksum (written before
        checksums existed, or by another program).

    Raises:
        DamagedFileError: the header cannot be read, or the content differs from what was
            written (a flipped bit, a truncated file).
        OSError: the file cannot be read.
    """
    with open(path, "rb") as handle:
        span = _checksum_span(_read_header(handle, path))
        if span is None:
            return False
        offset, recorded = 8 + span[0], span[1]
        if recorded == _PLACEHOLDER:
            raise DamagedFileError(path, "its checksum was never filled in: an unfinished write")
        if _sha256_with_zeros(handle, offset, 64) != recorded:
            raise DamagedFileError(path, "its content does not match its sha256 checksum")
    return True


def _os_error_of(error: Exception, path: Path) -> OSError | None:
    """The OS error inside a safetensors writer's error (``... (os error 28)``), if any."""
    match = re.search(r"os error (\d+)|code: (\d+)", str(error))
    if match is None:
        return None
    number = int(match.group(1) or match.group(2))
    return OSError(number, os.strerror(number), str(path))


@contextmanager
def sealed_safetensors(path: str | os.PathLike) -> Iterator[Path]:
    """Write a safetensors file atomically, with its checksum.

    The body writes the file to the temporary path it is given, with
    :func:`checksum_metadata` among its metadata; the checksum is then filled in, and the
    file flushed and renamed (``soundstorm.files.atomic_path``). An I/O error of the
    safetensors writer (a full disk) is raised as the ``OSError`` it is, naming ``path``.

    Example::

        with sealed_safetensors("out/codec.safetensors") as temp:
            save_file(tensors, str(temp), metadata={**metadata, **checksum_metadata()})
    """
    path = Path(path)
    with atomic_path(path) as temp:
        try:
            yield temp
        except OSError:
            raise
        except Exception as error:  # SafetensorError: "... No space left on device (os error 28)"
            os_error = _os_error_of(error, path)
            if os_error is None:
                raise
            raise os_error from error
        seal_safetensors(temp)


def save_safetensors(
    path: str | os.PathLike, tensors: dict, metadata: dict[str, str] | None = None
) -> Path:
    """Write torch tensors or numpy arrays as a sealed safetensors file, atomically.

    Args:
        path: destination.
        tensors: name -> ``torch.Tensor`` (contiguous) or ``numpy.ndarray``.
        metadata: string entries of the header.

    Returns:
        ``path`` as a ``Path``.
    """
    import numpy as np

    metadata = {**(metadata or {}), **checksum_metadata()}
    numpy = bool(tensors) and all(isinstance(v, np.ndarray) for v in tensors.values())
    if numpy:
        from safetensors.numpy import save_file
    else:
        from safetensors.torch import save_file
    path = Path(path)
    with sealed_safetensors(path) as temp:
        save_file(tensors, str(temp), metadata=metadata)
    return path
