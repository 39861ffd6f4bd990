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
