"""Writing files and folders so that a reader never sees half of one.

Every file the package writes goes through this module: :func:`atomic_path` (the writer
gets a temporary path), :func:`atomic_write_text` / :func:`atomic_write_bytes` (the common
cases), :func:`update_text` (only when the content changes), :func:`atomic_directory` and
:func:`replace_directory` (a whole folder: a shard, a checkpoint, an exported model). The
guarantees, the same for all of them:

- the temporary file or folder sits beside its destination (the rename is atomic), is hidden
  (``.NAME.``...), and its name is unique to the writing process: it carries the process id,
  so two runs never share one and a sweep can tell a dead writer's leftovers
  (:func:`writer_pid`, :func:`remove_stale_temp_files`);
- the data is flushed to disk (``fsync``) before the rename, and the folder after it, so a
  crash or a power cut leaves the old file or the new one, never an empty or partial one;
- the result gets the usual modes (``0o666`` / ``0o777`` less the umask), as ``open()`` and
  ``mkdir`` would give: ``mkstemp`` / ``mkdtemp`` alone would leave it private;
- on any error (the body raising, a full disk, a signal turned into an exception) the
  temporary is removed and the destination is left as it was; an ``OSError`` that names no
  file is raised naming the destination.

A command that writes a folder also owns it while it runs: :func:`folder_lock` (a second run
into it is refused, naming the first; a dead run's lock is taken over), then, under the lock,
:func:`sweep_temp_files` (every temporary a killed run left) and :func:`check_writable` (a
read-only folder or a full disk found before long work, not after).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_SUFFIX = ".tmp"
"""Ending of every temporary file :func:`atomic_path` makes (``.NAME.PID.RANDOM.tmp``)."""


KILL_POINT_ENV = "SOUNDSTORM_TEST_KILL_BEFORE_RENAME"
"""Test hook: the name of a destination (``manifest.json``, ``train-00001``); the process
kills itself with ``SIGKILL`` just before renaming a written file or folder to that name,
as a power cut or the OOM killer would (the fault-injection tests set it)."""


def kill_point(destination: str | os.PathLike) -> None:
    """Die by ``SIGKILL`` here if ``KILL_POINT_ENV`` names ``destination`` (a test hook)."""
    name = os.environ.get(KILL_POINT_ENV)
    if name and Path(destination).name == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


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
    (:func:`atomic_directory`), ``.NAME.old-PID`` (:func:`replace_directory`) and
    ``.NAME.tmp-PID`` (shard folders of older releases).
    """
    name = Path(temp).name
    for legacy in (".tmp-", ".old-"):  # shard folders of older releases, replaced folders
        stem, _, pid = name.rpartition(legacy)
        if stem and pid.isdigit():
            return int(pid)
    parts = name.rsplit(".", 3)
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
        kill_point(path)
        os.replace(temp, path)
        fsync_path(path.parent)
    except OSError as error:
        temp.unlink(missing_ok=True)
        named = _naming(error, path)
        if named is error:
            raise
        raise named from error
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _naming(error: OSError, path: Path, always: bool = False) -> OSError:
    """``error`` naming ``path`` when it names no file (``os.write`` on a full disk does not),
    or whatever it names with ``always``."""
    if error.errno is None or (error.filename is not None and not always):
        return error
    return type(error)(error.errno, error.strerror, str(path))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    atomic_write_bytes(path, text.encode(encoding))


def update_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> bool:
    """Write ``text`` to ``path`` atomically, unless the file already holds exactly that.

    A re-run that changes nothing then writes nothing: re-running a command on a finished
    folder is read-only work (the folder may be read-only, or shared).

    Returns:
        Whether the file was written.
    """
    path, data = Path(path), text.encode(encoding)
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except OSError:  # missing or unreadable: write it
        pass
    atomic_write_bytes(path, data)
    return True


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
    kill_point(final)
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


# ---------------------------------------------------------------------------- the start-up sweep
#: Temporaries another writer makes beside its destination without a process id in the name:
#: safetensors' own ``.tmpXXXXXX`` (``save_file`` writes there, then renames) and the
#: training checkpoints' ``.tmp_step_NNNNNNNN``. Only a run holding the folder's lock
#: (:func:`folder_lock`) may remove them: it is the only writer there.
UNNAMED_TEMP_PATTERNS = (".tmp??????", ".tmp_step_*")


def sweep_temp_files(folder: str | os.PathLike, depth: int = 2) -> list[Path]:
    """Remove every temporary a killed soundstorm writer can leave in ``folder``.

    Call it once at start-up, under the folder's lock (:func:`folder_lock`). It removes, in
    ``folder`` and its sub-folders down to ``depth`` levels:

    - the temporaries named by this module (``.NAME.PID.RANDOM.tmp``, ``.NAME.old-PID``,
      older ``.NAME.tmp-PID`` and ``.NAME.tmp``) whose writer is dead;
    - those named by other writers without a process id (``UNNAMED_TEMP_PATTERNS``).

    Args:
        folder: the output folder (missing: nothing to do).
        depth: how many levels of sub-folders to look in (0: ``folder`` only).

    Returns:
        The paths removed.
    """
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for pattern in (".*.tmp", ".*.tmp-*", ".*.old-*"):
        before = set(folder.glob(pattern))
        remove_stale_temp_files(folder, pattern)
        removed += sorted(p for p in before if not os.path.lexists(p))
    for pattern in UNNAMED_TEMP_PATTERNS:
        for temp in sorted(folder.glob(pattern)):
            if temp.is_dir() and not temp.is_symlink():
                shutil.rmtree(temp, ignore_errors=True)
            else:
                temp.unlink(missing_ok=True)
            removed.append(temp)
    if depth > 0:
        for child in sorted(folder.iterdir()):
            if child.is_dir() and not child.is_symlink() and not child.name.startswith("."):
                removed += sweep_temp_files(child, depth - 1)
    return removed


# ---------------------------------------------------------------------------- writability
def check_writable(folder: str | os.PathLike) -> Path:
    """Make sure files can be written in ``folder``, before long work.

    Creates, writes one byte to, flushes and removes a temporary file there (or, when the
    folder does not exist yet, in its nearest existing parent: nothing is created), so that
    a read-only folder, a missing permission or a full disk is found before minutes of work
    rather than after.

    Args:
        folder: the output folder.

    Returns:
        ``folder`` as a ``Path``.

    Raises:
        OSError: naming the folder (``PermissionError``, ``EROFS``, ``ENOSPC``, a file where
            a folder of the path should be...); ``soundstorm.errors.os_error_message`` turns
            it into one line.
    """
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(probe))
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".write-check.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=probe
        )
    except OSError as error:  # named by the folder, not by the probe's random name
        raise _naming(error, folder, always=True) from error
    try:
        os.write(handle, b"\0")
        os.fsync(handle)
    except OSError as error:
        raise _naming(error, folder, always=True) from error
    finally:
        os.close(handle)
        os.unlink(name)
    return folder


# ---------------------------------------------------------------------------- folder locks
LOCK_NAME = ".soundstorm.lock"
"""The lock file :func:`folder_lock` keeps in a locked folder while a run writes it."""


def read_lock_holder(lock_file: str | os.PathLike) -> dict:
    """What a lock file says about the run holding it: ``pid``, ``host``, ``command``,
    ``started``, ``group`` of the process that took it, and ``members``: ``(pid, host)`` of
    every process holding it (the ranks of a distributed run append theirs); ``{}`` when the
    file is missing, empty or unreadable."""
    import json

    try:
        lines = Path(lock_file).read_text().splitlines()
    except OSError:
        return {}
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line being written
        if isinstance(record, dict):
            records.append(record)
    if not records:
        return {}
    members = [(r.get("pid"), r.get("host")) for r in records]
    return {**records[0], "members": members}


def _holder_is_dead(holder: dict) -> bool:
    """Every process holding the lock ran on this host and is gone (a stale lock)."""
    import socket

    host = socket.gethostname()
    members = holder.get("members") or [(holder.get("pid"), holder.get("host"))]
    return bool(members) and all(
        member_host == host and isinstance(pid, int) and pid != os.getpid() and not _is_alive(pid)
        for pid, member_host in members
    )


def _try_flock(handle: int, mode: int) -> bool:
    import fcntl

    try:
        fcntl.flock(handle, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _same_file(handle: int, path: Path) -> bool:
    try:
        return os.fstat(handle).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _take_over(handle: int, lock_file: Path) -> None:
    """Remove a stale lock file (the one ``handle`` has open) so that a fresh one is made."""
    if not _same_file(handle, lock_file):
        return
    aside = lock_file.with_name(f"{lock_file.name}.stale-{os.getpid()}")
    try:
        os.replace(lock_file, aside)
        aside.unlink()
    except FileNotFoundError:
        pass


@contextmanager
def folder_lock(
    folder: str | os.PathLike, command: str, group: str | None = None, beside: bool = False
) -> Iterator[Path | None]:
    """Hold ``folder`` for one run: a second run into it is refused, not interleaved.

    The lock is an ``fcntl.flock`` on a lock file (``FOLDER/.soundstorm.lock``, or
    ``.FOLDER.lock`` beside it with ``beside=True``, for a folder that is replaced as a
    whole) in which the holder writes its process id, host, command and start time. The
    kernel drops the lock when the holder dies, however it dies; a lock file whose recorded
    processes are all gone from this host while the lock is still held (a forked child of
    the killed run keeps it) is stale and taken over. The lock file is removed on release,
    and the folder too if the lock created it and the run left it empty (a refused run
    leaves nothing behind).

    The processes of one distributed run (torchrun ranks) share the lock: give them the same
    ``group`` (see ``soundstorm.validation.distributed_group``); each appends its process id
    to the file; a run of another group is refused like any other.

    A folder where no lock file can be made (read-only folder or file system, no
    permission) yields ``None`` and no lock: no other run can write there either, and a
    write of this one fails with a clear error (see :func:`check_writable`).

    Example::

        with folder_lock(out_dir, "soundstorm prepare"):
            sweep_temp_files(out_dir)
            ...

    Args:
        folder: the output folder (created if missing, unless ``beside``).
        command: what runs, for the refusal message (``"soundstorm prepare"``).
        group: shared by the processes of one distributed run; None: a single process.
        beside: lock a file beside the folder rather than in it.

    Yields:
        The lock file, or None when the folder is read-only.

    Raises:
        FolderInUseError: another live run holds the folder (one line naming it).
    """
    import fcntl
    import json
    import socket
    import time

    from soundstorm.errors import FolderInUseError

    folder = Path(folder)
    lock_file = folder.parent / f".{folder.name}.lock" if beside else folder / LOCK_NAME
    created = not beside and not folder.exists()  # removed again if the run leaves it empty
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if error.errno not in _READ_ONLY_ERRNOS:
            raise _naming(error, lock_file.parent) from error
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": command}
    record.update(started=time.strftime("%Y-%m-%d %H:%M:%S"), group=group)
    line = (json.dumps(record) + "\n").encode()
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    for _ in range(200):  # retried when a run removed the file under us, or a rank races us
        try:
            handle = os.open(lock_file, flags, 0o666)
        except OSError as error:
            if error.errno in _READ_ONLY_ERRNOS:
                yield None
                return
            raise _naming(error, lock_file) from error
        if _try_flock(handle, fcntl.LOCK_EX):  # nobody holds it
            if not _same_file(handle, lock_file):  # removed by a releasing run
                os.close(handle)
                continue
            try:
                os.ftruncate(handle, 0)
                os.write(handle, line)
            except OSError as error:  # a full disk: said of the folder, nothing left behind
                lock_file.unlink(missing_ok=True)
                os.close(handle)
                if created:
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                raise _naming(error, folder, always=True) from error
            if group is not None:  # let the other ranks in; a rank holds LOCK_EX only briefly
                fcntl.flock(handle, fcntl.LOCK_SH)
                if not _same_file(handle, lock_file):
                    os.close(handle)
                    continue
            break
        holder = read_lock_holder(lock_file)
        if group is not None and _try_flock(handle, fcntl.LOCK_SH):
            if holder.get("group") == group and _same_file(handle, lock_file):
                os.write(handle, line)  # a member: appended, so the lock stays live with us
                break
        if holder and _holder_is_dead(holder):  # a forked child of a dead run keeps it
            _take_over(handle, lock_file)
            os.close(handle)
            continue
        os.close(handle)
        if group is not None and (not holder or holder.get("group") == group):
            time.sleep(0.05)  # a rank of this run between its two flocks, or writing its line
            continue
        raise FolderInUseError(folder, holder)
    else:  # pragma: no cover - 200 races in a row
        raise FolderInUseError(folder, read_lock_holder(lock_file))
    try:
        yield lock_file
    finally:
        if _try_flock(handle, fcntl.LOCK_EX) and _same_file(handle, lock_file):
            lock_file.unlink(missing_ok=True)  # the last holder: leave the folder as it was
            if created:
                with contextlib.suppress(OSError):  # not empty: the run wrote something
                    folder.rmdir()
        os.close(handle)


_READ_ONLY_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


@contextmanager
def output_folder(
    folder: str | os.PathLike, command: str, group: str | None = None, sweep: bool = True
) -> Iterator[Path]:
    """Hold an output folder for one command: :func:`folder_lock`, then (the first process
    of the group) :func:`sweep_temp_files` of its top level, then :func:`check_writable`.

    Example::

        with output_folder(args.out_dir, "soundstorm decode") as out:
            write_everything(out)

    Raises:
        FolderInUseError: another live run holds the folder.
        OSError: it cannot be written (read-only, no permission, no space left).
    """
    folder = Path(folder)
    with folder_lock(folder, command, group=group) as lock:
        if sweep and lock is not None:
            sweep_temp_files(folder, depth=0)
        check_writable(folder)
        yield folder
