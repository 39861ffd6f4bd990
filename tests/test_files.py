import os
from pathlib import Path

import pytest

from soundstorm.files import (
    atomic_directory,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    remove_stale_temp_files,
    replace_directory,
    writer_pid,
)


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_path_renames_on_success_with_the_usual_mode(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    with atomic_path(target) as temp:
        assert temp.parent == target.parent and temp.name.startswith(".out.bin.")
        temp.write_bytes(b"new")
        assert not target.exists(), "nothing visible before the body ends"
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask()
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


def test_atomic_path_leaves_the_old_file_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_path_names_the_writer_and_flushes_before_the_rename(tmp_path, monkeypatch):
    import soundstorm.files as files

    flushed = []
    real_fsync = files.fsync_path
    monkeypatch.setattr(files, "fsync_path", lambda p: (flushed.append(Path(p)), real_fsync(p)))
    target = tmp_path / "out.json"
    with atomic_path(target) as temp:
        assert writer_pid(temp) == os.getpid() and temp.name.endswith(".tmp")
        temp.write_text("{}")
    assert flushed[0].name == temp.name, "the data is flushed under its temporary name"
    assert flushed[-1] == tmp_path, "then the folder, after the rename"


def test_atomic_write_text_and_bytes_keep_the_usual_mode_and_replace(tmp_path):
    target = tmp_path / "a" / "b.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "é\n")
    assert target.read_text(encoding="utf-8") == "é\n"
    atomic_write_bytes(tmp_path / "c.bin", b"\x00\x01")
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\x01"
    for path in (target, tmp_path / "c.bin"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask()
    assert sorted(p.name for p in target.parent.iterdir()) == ["b.txt"]


def test_atomic_write_removes_the_temporary_on_error(tmp_path, monkeypatch):
    import errno

    import soundstorm.files as files

    def disk_full(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    target = tmp_path / "out.txt"
    target.write_text("old")
    monkeypatch.setattr(files, "fsync_path", disk_full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, "new")
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_directory_replaces_the_folder_or_leaves_it(tmp_path):
    target = tmp_path / "model"
    with atomic_directory(target) as temp:
        assert writer_pid(temp) == os.getpid() and temp.parent == tmp_path
        assert temp.stat().st_mode & 0o777 == 0o777 & ~umask()
        (temp / "weights.bin").write_bytes(b"v1")
        assert not target.exists()
    assert (target / "weights.bin").read_bytes() == b"v1"
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask()
    with pytest.raises(RuntimeError), atomic_directory(target) as temp:
        (temp / "weights.bin").write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert (target / "weights.bin").read_bytes() == b"v1"
    with atomic_directory(target) as temp:
        (temp / "other.bin").write_bytes(b"v2")
    assert [p.name for p in target.iterdir()] == ["other.bin"], "the old folder is replaced"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_replace_directory_moves_a_written_folder_into_place(tmp_path):
    final = tmp_path / "shard"
    final.mkdir()
    (final / "old.npy").write_bytes(b"old")
    temp = tmp_path / ".shard.tmp-1"
    temp.mkdir()
    (temp / "new.npy").write_bytes(b"new")
    assert replace_directory(temp, final) == final
    assert [p.name for p in final.iterdir()] == ["new.npy"]
    assert [p.name for p in tmp_path.iterdir()] == ["shard"]


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = 2**22 + 12345  # above the usual pid_max: no such process
    mine = tmp_path / f".a.wav.{os.getpid()}.x1y2.tmp"
    stale_file = tmp_path / f".b.wav.{dead}.abcd.tmp"
    stale_dir = tmp_path / f".c.{dead}.efgh.tmp"
    unnamed = tmp_path / ".d.wav.tmp"  # no process id: an older naming, removed
    for path in (mine, stale_file, unnamed):
        path.write_bytes(b"")
    stale_dir.mkdir()
    (stale_dir / "x").write_bytes(b"")
    assert writer_pid(stale_file) == dead and writer_pid(unnamed) is None
    assert remove_stale_temp_files(tmp_path) == 3
    assert [p.name for p in tmp_path.iterdir()] == [mine.name]


# ---------------------------------------------------------------------------- folder locks
def test_a_locked_folder_refuses_a_second_run_naming_the_holder(tmp_path):
    import socket

    from soundstorm.errors import FolderInUseError
    from soundstorm.files import LOCK_NAME, folder_lock

    with folder_lock(tmp_path / "out", "soundstorm prepare") as lock:
        assert lock == tmp_path / "out" / LOCK_NAME and lock.is_file()
        with pytest.raises(FolderInUseError) as refused, folder_lock(tmp_path / "out", "x"):
            pass
        message = str(refused.value)
        assert "\n" not in message and "soundstorm prepare" in message
        assert f"pid {os.getpid()}" in message and socket.gethostname() in message
    assert not (tmp_path / "out" / LOCK_NAME).exists(), "released: the folder is as it was"
    with folder_lock(tmp_path / "out", "again"):
        pass


def test_a_stale_lock_of_a_dead_run_is_taken_over(tmp_path):
    import fcntl
    import json
    import socket

    from soundstorm.files import LOCK_NAME, folder_lock, read_lock_holder

    lock = tmp_path / LOCK_NAME
    dead = {"pid": 2**22 + 12345, "host": socket.gethostname(), "command": "killed run"}
    lock.write_text(json.dumps(dead))  # a lock file nobody holds: the kernel released it
    with folder_lock(tmp_path, "new run"):
        assert read_lock_holder(lock)["command"] == "new run"
    # A forked child of the killed run still holds the flock; the recorded process is dead.
    lock.write_text(json.dumps(dead))
    orphan = os.open(lock, os.O_RDWR)
    fcntl.flock(orphan, fcntl.LOCK_EX)
    try:
        with folder_lock(tmp_path, "new run"):
            assert read_lock_holder(lock)["pid"] == os.getpid()
    finally:
        os.close(orphan)


def test_the_ranks_of_one_run_share_a_lock_and_other_runs_are_refused(tmp_path):
    from soundstorm.errors import FolderInUseError
    from soundstorm.files import folder_lock

    with folder_lock(tmp_path, "rank 0", group="job-1"), folder_lock(tmp_path, "1", group="job-1"):
        with pytest.raises(FolderInUseError), folder_lock(tmp_path, "other", group="job-2"):
            pass
        with pytest.raises(FolderInUseError), folder_lock(tmp_path, "single"):
            pass
    with folder_lock(tmp_path, "single"):
        with pytest.raises(FolderInUseError), folder_lock(tmp_path, "rank", group="job-1"):
            pass


def test_a_read_only_folder_is_not_locked_and_writing_there_fails_first(tmp_path, monkeypatch):
    import errno

    from soundstorm.files import check_writable, folder_lock

    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(tmp_path)) and flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with folder_lock(tmp_path, "prepare") as lock:
        assert lock is None
    with pytest.raises(PermissionError) as error:
        check_writable(tmp_path)
    assert error.value.filename is not None and str(tmp_path) in str(error.value.filename)


def test_check_writable_finds_a_full_disk_before_the_work(tmp_path, monkeypatch):
    import errno

    from soundstorm.errors import os_error_message
    from soundstorm.files import check_writable

    def full(handle, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError) as error:
        check_writable(tmp_path / "out")
    assert os_error_message(error.value) == f"{tmp_path / 'out'}: no space left on the device"
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == [], "the check creates nothing, leaves nothing"


def test_atomic_path_names_the_file_of_an_os_error_without_one(tmp_path):
    import errno

    with pytest.raises(OSError) as error, atomic_path(tmp_path / "a.bin"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert error.value.filename == str(tmp_path / "a.bin") and error.value.errno == errno.ENOSPC


def test_the_start_up_sweep_removes_every_temporary_a_killed_writer_leaves(tmp_path):
    from soundstorm.files import sweep_temp_files

    dead = 2**22 + 12345
    leftovers = [
        tmp_path / f".codec.safetensors.{dead}.ab12.tmp",  # atomic_path
        tmp_path / ".tmpAb3dE9",  # safetensors' own temporary
        tmp_path / f".prepare.json.tmp-{dead}",  # older releases
        tmp_path / ".generated.jsonl.tmp",  # older fixed name
        tmp_path / "shards" / f".train-00000.tmp-{dead}",
        tmp_path / "shards" / f".train-00001.{dead}.x.tmp",
        tmp_path / "checkpoints" / ".tmp_step_00000010",
        tmp_path / "checkpoints" / f".best.old-{dead}",
    ]
    live = tmp_path / f".manifest.json.{os.getpid()}.cd34.tmp"
    kept = [live, tmp_path / "shards" / "train-00000" / "codes.npy", tmp_path / ".tmpdir.keep"]
    for path in leftovers + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    removed = sweep_temp_files(tmp_path)
    assert sorted(removed) == sorted(leftovers)
    assert all(path.exists() for path in kept)


def test_a_rank_s_lock_outlives_the_rank_that_took_it(tmp_path):
    import fcntl
    import json
    import socket

    from soundstorm.errors import FolderInUseError
    from soundstorm.files import LOCK_NAME, folder_lock

    # Rank 1 took the lock and has exited (its pid is dead); rank 0 (this process) holds it.
    lock = tmp_path / LOCK_NAME
    dead = {"pid": 2**22 + 12345, "host": socket.gethostname(), "group": "job"}
    live = {**dead, "pid": os.getpid()}
    lock.write_text(json.dumps(dead) + "\n" + json.dumps(live) + "\n")
    rank0 = os.open(lock, os.O_RDWR)
    fcntl.flock(rank0, fcntl.LOCK_SH)
    try:
        with pytest.raises(FolderInUseError), folder_lock(tmp_path, "another run"):
            pass  # not stale: one member lives
    finally:
        os.close(rank0)
