"""Faults injected the way machines fail, for the tests of issue 14.

- ``deny_writes``: a read-only folder. Tests run as root here, and root ignores permission
  bits, so every way Python writes under the folder is refused with ``EACCES`` instead
  (``os.open`` for writing, ``open`` in a writing mode, ``mkdir``, renames, removals).
- ``snapshot``: every file under a folder with its inode, modification time and bytes, to
  check that a run wrote nothing at all.
- ``flip_bit``: one bit of a file changed, as a failing disk or memory would.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
from pathlib import Path


def deny_writes(monkeypatch, folder: str | os.PathLike) -> None:
    """Make every write under ``folder`` fail as in a read-only folder (``PermissionError``)."""
    root = os.path.abspath(os.fspath(folder))

    def inside(path) -> bool:
        try:
            return os.path.abspath(os.fspath(path)).startswith(root)
        except TypeError:  # a file descriptor
            return False

    def refuse(path):
        raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))

    real_os_open, real_open, real_mkdir = os.open, builtins.open, os.mkdir

    def os_open(path, flags, *args, **kwargs):
        writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        if inside(path) and flags & writes:
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if inside(file) and any(flag in mode for flag in "wax+"):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if inside(path):
            if os.path.lexists(path):
                raise FileExistsError(errno.EEXIST, "File exists", os.fspath(path))
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def guarded(real):
        def call(path, *args, **kwargs):
            if inside(path) or any(inside(a) for a in args if isinstance(a, (str, Path))):
                refuse(path)
            return real(path, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)
    for name in ("replace", "rename", "unlink", "remove", "rmdir"):
        monkeypatch.setattr(os, name, guarded(getattr(os, name)))
    monkeypatch.setattr(shutil, "rmtree", guarded(shutil.rmtree))


def snapshot(folder: str | os.PathLike) -> dict[str, tuple[int, int, bytes]]:
    """Every file under ``folder``: relative path -> (inode, mtime in ns, bytes)."""
    folder = Path(folder)
    return {
        str(path.relative_to(folder)): (
            path.stat().st_ino,
            path.stat().st_mtime_ns,
            path.read_bytes(),
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def flip_bit(path: str | os.PathLike, offset: int, bit: int = 0) -> None:
    """Flip one bit of a file (``offset`` may be negative: from the end)."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))
