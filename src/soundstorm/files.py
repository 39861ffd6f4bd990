"""Writing files and folders so that a reader never sees half of one.

Every file the package writes goes through this module: :func:`atomic_path` (the writer
gets a temporary path), :func:`atomic_write_text` / :func:`atomic_write_bytes` (the common
cases), :func:`atomic_directory` and :func:`replace_directory` (a whole folder: a shard, a
checkpoint, an exported model). The guarantees, the same for all of them:

- the temporary file or folder sits beside its destination (the rename is atomic), is hidden
  (``.NAME.``...), and its name is unique to the writing process: it carries the process id,
  so two runs never share one and a sweep can tell a dead writer's leftovers
  (:func:`writer_pid`, :func:`remove_stale_temp_files`);
- the data is flushed to disk (``fsync``) before the rename, and the folder after it, so a
  crash or a power cut leaves the old file or the new one, never an empty or partial one;
- the result gets the usual modes (``0o666`` / ``0o777`` less the umask), as ``open()`` and
  ``mkdir`` would give: ``mkstemp`` / ``mkdtemp`` alone would leave it private;
- on any error (the body raising, a full disk, a signal turned into an exception) the
  temporary is removed and the destination is left as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_SUFFIX = ".tmp"
"""Ending of every temporary file :func:`atomic_path` makes (``.NAME.PID.RANDOM.tmp``)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file: ``0o666`` less the process umask."""
    return 0o666 & ~_umask()


def default_dir_mode() -> int:
    """The mode ``mkdir`` would give a new folder: ``0o777`` less the process umask."""
    return 0o777 & ~_umask()


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's data, or a folder's entries, to disk.

    Folders are flushed where the file system allows it (some refuse ``fsync`` on a folder:
    that is not an error, there is nothing more to do there).

    Raises:
        OSError: the file cannot be opened or flushed (e.g. no space left on the device).
    """
    path = Path(path)
    is_dir = path.is_dir()
    handle = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if is_dir else 0))
    try:
        os.fsync(handle)
    except OSError:
        if not is_dir:
            raise
    finally:
        os.close(handle)


def writer_pid(temp: str | os.PathLike) -> int | None:
    """The process id recorded in a temporary name made here, or ``None`` if it has none.

    Files: ``.NAME.PID.RANDOM.tmp`` (:func:`atomic_path`); folders: ``.NAME.PID.RANDOM.tmp``
    (:func:`atomic_directory`).
    """
    parts = Path(temp).name.rsplit(".", 3)
    if len(parts) != 4 or "." + parts[3] != TEMP_SUFFIX or not parts[1].isdigit():
        return None
    return int(parts[1])


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temp_files(folder: str | os.PathLike, pattern: str = ".*.tmp") -> int:
    """Delete the temporaries (files or folders) under ``folder`` whose writer is dead.

    A temporary whose name records no process id (an older naming) counts as dead.

    Args:
        folder: where to look.
        pattern: a ``Path.glob`` pattern relative to ``folder`` (e.g. ``"*/*/.*.tmp"``).

    Returns:
        The number of temporaries removed.
    """
    removed = 0
    for temp in Path(folder).glob(pattern):
        pid = writer_pid(temp)
        if pid is not None and _is_alive(pid):
            continue  # its writer is still at work
        if temp.is_dir() and not temp.is_symlink():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)
        removed += 1
    return removed


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = TEMP_SUFFIX) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is flushed and renamed to ``path``.

    The temporary file is ``.NAME.PID.RANDOM`` + ``suffix`` in the same folder (the folder
    is created if needed) and gets the usual file mode. If the body raises, the temporary
    file is removed and ``path`` is left as it was.

    Example::

        with atomic_path("out/codec.safetensors") as tmp:
            save_file(tensors, str(tmp))

    Args:
        path: the destination file.
        suffix: the temporary's ending (a writer that picks its format from the name needs
            the destination's, e.g. ``".png"``).

    Raises:
        OSError: the folder is not writable, the disk is full, ... (the temporary is removed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{os.getpid()}."
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(handle)
    temp = Path(name)
    try:
        yield temp
        os.chmod(temp, default_file_mode())
        fsync_path(temp)
        os.replace(temp, path)
        fsync_path(path.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    atomic_write_bytes(path, text.encode(encoding))


def _fsync_tree(directory: Path) -> None:
    for root, _, names in os.walk(directory):
        for name in names:
            if not os.path.islink(os.path.join(root, name)):
                fsync_path(os.path.join(root, name))
        fsync_path(root)


def replace_directory(temp: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Put a completely written folder ``temp`` in place of ``final``.

    The files of ``temp`` are flushed first; an existing ``final`` is moved aside
    (``.NAME.old-PID``), ``temp`` renamed to ``final``, and the old one deleted. A crash
    leaves either the old folder, or the new one (and maybe the old one aside, which a later
    run's sweep removes): never a mixture.

    Args:
        temp: the written folder, in the same parent folder as ``final``.
        final: the destination.

    Returns:
        ``final`` as a ``Path``.
    """
    temp, final = Path(temp), Path(final)
    _fsync_tree(temp)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(temp, final)
    fsync_path(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path``.

    The temporary folder is ``.NAME.PID.RANDOM.tmp`` with the usual folder mode; what the
    body writes in it should get the usual file modes (``open`` gives them; see
    :func:`atomic_path` for writers that use ``mkstemp``). On success the folder is put in
    place by :func:`replace_directory` (an existing ``path`` is replaced); if the body
    raises, the temporary folder is deleted and ``path`` is left as it was.

    Example::

        with atomic_directory("voices/mine") as temp:
            model.save_pretrained(temp)
            atomic_write_text(temp / "pipeline.json", text)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{os.getpid()}."
    temp = Path(tempfile.mkdtemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=path.parent))
    try:
        os.chmod(temp, default_dir_mode())
        yield temp
        replace_directory(temp, path)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
