"""``soundstorm prepare`` under the faults of issue 14: two runs into one folder, other
settings, flipped / emptied / shifted shards, a killed run's leftovers, SIGKILL before a
rename, a full disk, a read-only finished folder. Each ends in a refusal naming the cause,
or in a re-run that repairs the folder to the bytes of an uninterrupted run."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from data_test_fakes import FakeEnergyCodec, FakeZeroCrossingTokenizer, tree_bytes, write_corpus

from soundstorm.cli import main as cli_main
from soundstorm.data import TokenShardDataset
from soundstorm.data.prepare import prepare
from soundstorm.errors import DamagedFileError, FolderInUseError, SoundStormError
from soundstorm.files import KILL_POINT_ENV

from tests.fault_injection import deny_writes, flip_bit, snapshot

DEAD = 2**22 + 12345  # above the usual pid_max: no such process


def run(source, out, **options):
    options = {"shard_size": 3, "valid_fraction": 0.2, "progress": False, **options}
    codec = options.pop("codec", FakeEnergyCodec())
    return prepare(source, out, codec=codec, semantic=FakeZeroCrossingTokenizer(), **options)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Ten short files and the folder an uninterrupted run makes of them."""
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root / "wavs", num_files=10)
    run(root / "wavs", root / "reference")
    return root / "wavs", root / "reference"


def copy_reference(corpus, tmp_path):
    return shutil.copytree(corpus[1], tmp_path / "out")


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error, error
    return error


# ---------------------------------------------------------------------------- two runs
def test_a_folder_another_live_run_holds_is_refused_naming_it(corpus, tmp_path, capsys):
    wavs, _ = corpus
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from soundstorm.files import folder_lock
            with folder_lock({str(out)!r}, "soundstorm prepare"):
                print("held", flush=True)
                time.sleep(60)
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli_main(["prepare", str(wavs), str(out), "--codebook-size", "32"]) == 2
        error = one_line_error(capsys)
        assert f"{out} is in use by soundstorm prepare (pid {holder.pid}" in error
        assert [p.name for p in out.iterdir()] == [".soundstorm.lock"], "nothing else written"
        with pytest.raises(FolderInUseError):
            run(wavs, out)
    finally:
        holder.kill()
        holder.wait()
    run(wavs, out)  # the kernel released the dead holder's lock
    assert tree_bytes(out) == tree_bytes(corpus[1])


def test_a_stale_lock_of_a_killed_run_is_taken_over(corpus, tmp_path):
    import socket

    out = tmp_path / "out"
    out.mkdir()
    lock = {"pid": DEAD, "host": socket.gethostname(), "command": "soundstorm prepare"}
    (out / ".soundstorm.lock").write_text(json.dumps(lock))
    run(corpus[0], out)
    assert tree_bytes(out) == tree_bytes(corpus[1])


# ---------------------------------------------------------------------------- other settings
def test_other_fit_options_are_refused_before_any_work_saying_what_differs(
    corpus, tmp_path, monkeypatch
):
    import soundstorm.data.codec_fitting as codec_fitting

    wavs, _ = corpus
    out = tmp_path / "out"
    tiny = {"codec": None, "num_levels": 2, "codebook_size": 8, "fit_files": 4}
    run(wavs, out, **tiny)

    def no_fit(*args, **kwargs):
        raise AssertionError("fitted before the settings were checked")

    monkeypatch.setattr(codec_fitting, "fit_embedded_codec", no_fit)
    before = tree_bytes(out)
    with pytest.raises(SoundStormError) as refused:
        run(wavs, out, **{**tiny, "codebook_size": 4})
    assert "codec_fit.codebook_size: 8 before, 4 now" in str(refused.value)
    with pytest.raises(SoundStormError, match="fit_files: 4 before, 5 now"):
        run(wavs, out, **{**tiny, "fit_files": 5})
    assert tree_bytes(out) == before
    # A folder an older release prepared (no fit options recorded): the codec file tells.
    settings = json.loads((out / "prepare.json").read_text())
    del settings["codec_fit"]
    (out / "prepare.json").write_text(json.dumps(settings))
    with pytest.raises(SoundStormError, match="fitted with --codebook-size 8, not 4"):
        run(wavs, out, **{**tiny, "codebook_size": 4})
    monkeypatch.undo()
    run(wavs, out, **tiny)  # the same options resume: nothing to do


# ---------------------------------------------------------------------------- damaged shards
@pytest.mark.parametrize("damage", ["flipped code", "empty codes", "shifted offset"])
def test_a_damaged_shard_is_found_on_opening_and_rewritten_by_prepare(
    corpus, tmp_path, damage, capsys
):
    out = copy_reference(corpus, tmp_path)
    shard = out / "shards" / "train-00001"
    if damage == "flipped code":
        flip_bit(shard / "codes.npy", -3)  # the low bit of a code: still in range
    elif damage == "empty codes":
        (shard / "codes.npy").write_bytes(b"")  # what a crash without fsync leaves
    else:
        offsets = np.load(shard / "offsets.npy")
        offsets[1] += 1  # still increasing: an utterance boundary moved by one frame
        np.save(shard / "offsets.npy", offsets)
    with pytest.raises(SoundStormError) as error:
        TokenShardDataset(out)
    assert "train-00001" in str(error.value) and "\n" not in str(error.value)
    if damage != "empty codes":
        assert isinstance(error.value, DamagedFileError)
    summary = run(corpus[0], out)
    assert summary["num_shards_written"] == 1
    assert tree_bytes(out) == tree_bytes(corpus[1])


def test_old_shards_without_checksums_are_cross_checked_against_durations(corpus, tmp_path):
    out = copy_reference(corpus, tmp_path)
    shard = out / "shards" / "train-00000"
    header = json.loads((shard / "index.json").read_text())
    for key in ("checksum", "array_sha256"):
        del header[key]
    for record in header["utterances"]:
        del record["num_frames"]
    (shard / "index.json").write_text(json.dumps(header))  # as an older release wrote it
    assert len(TokenShardDataset(out)) == 10
    offsets = np.load(shard / "offsets.npy")
    offsets[1] += 10  # monotone, 0.2 s off the recorded duration
    np.save(shard / "offsets.npy", offsets)
    with pytest.raises(DamagedFileError, match="spans .* frames, its record says"):
        TokenShardDataset(out)


# ---------------------------------------------------------------------------- leftovers, kills
def test_one_start_up_sweep_removes_every_temporary_a_killed_run_leaves(corpus, tmp_path):
    out = copy_reference(corpus, tmp_path)
    (out / "manifest.json").unlink()
    leftovers = [
        out / f".codec.safetensors.{DEAD}.a1b2c3.tmp",
        out / ".tmpX7yZ9q",  # safetensors' own, a full copy of the codec
        out / f".prepare.json.tmp-{DEAD}",
        out / f".bad_files.tsv.tmp-{DEAD}",
        out / f".manifest.json.{DEAD}.d4e5f6.tmp",
        out / "semantic_tokenizer" / ".tmpQ1w2E3",
        out / "shards" / f".train-00000.tmp-{DEAD}",
        out / "shards" / f".valid-00000.old-{DEAD}",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    run(corpus[0], out)
    assert not [path for path in leftovers if path.exists()]
    assert tree_bytes(out) == tree_bytes(corpus[1])


@pytest.mark.parametrize("point", ["train-00001", "manifest.json"])
def test_a_run_killed_just_before_a_rename_is_repaired_by_a_re_run(corpus, tmp_path, point):
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from data_test_fakes import FakeEnergyCodec, FakeZeroCrossingTokenizer
        from soundstorm.data.prepare import prepare
        prepare({str(corpus[0])!r}, {str(out)!r}, codec=FakeEnergyCodec(),
                semantic=FakeZeroCrossingTokenizer(), shard_size=3, valid_fraction=0.2,
                progress=False)
    """)
    killed = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, KILL_POINT_ENV: point}, timeout=300
    )
    assert killed.returncode == -9, "killed by SIGKILL at the chosen point"
    assert not (out / point).exists() and not (out / "shards" / point).exists()
    assert not (out / "manifest.json").exists()
    run(corpus[0], out)
    assert tree_bytes(out) == tree_bytes(corpus[1])


# ---------------------------------------------------------------------------- disks and rights
def test_a_full_disk_or_a_read_only_output_is_found_before_fitting(
    corpus, tmp_path, capsys, monkeypatch
):
    import soundstorm.data.codec_fitting as codec_fitting

    def no_fit(*args, **kwargs):
        raise AssertionError("fitted before the output was checked")

    monkeypatch.setattr(codec_fitting, "fit_embedded_codec", no_fit)
    real_write = os.write

    def full(handle, data):
        if os.readlink(f"/proc/self/fd/{handle}").startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(handle, data)

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", full)
        assert cli_main(["prepare", str(corpus[0]), str(tmp_path / "full")]) == 2
    assert f"{tmp_path / 'full'}: no space left on the device" in one_line_error(capsys)
    (tmp_path / "read_only").mkdir()
    with monkeypatch.context() as patch:
        deny_writes(patch, tmp_path / "read_only")
        assert cli_main(["prepare", str(corpus[0]), str(tmp_path / "read_only")]) == 2
    assert f"{tmp_path / 'read_only'}: permission denied" in one_line_error(capsys)


def test_a_full_disk_while_writing_a_shard_names_it_and_a_re_run_repairs(
    corpus, tmp_path, monkeypatch
):
    import soundstorm.files as files

    real = files.fsync_path

    def fsync_path(path):
        if "train-00002.tmp" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path)

    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(files, "fsync_path", fsync_path)
        with pytest.raises(OSError) as error:
            run(corpus[0], out)
    assert error.value.errno == errno.ENOSPC and "train-00002" in str(error.value.filename)
    run(corpus[0], out)
    assert tree_bytes(out) == tree_bytes(corpus[1])


def test_a_re_run_on_a_finished_read_only_folder_only_reads_it(corpus, tmp_path, monkeypatch):
    out = copy_reference(corpus, tmp_path)
    before = snapshot(out)
    with monkeypatch.context() as patch:
        deny_writes(patch, out)
        summary = run(corpus[0], out)
    assert summary["num_shards_written"] == 0
    assert summary["num_shards_skipped"] == summary["num_shards_planned"]
    assert snapshot(out) == before, "not one file rewritten, not even the manifest"
    flip_bit(out / "shards" / "valid-00000" / "codes.npy", -1)
    with monkeypatch.context() as patch:
        deny_writes(patch, out)
        with pytest.raises(PermissionError) as error:
            run(corpus[0], out)  # a damaged shard must be rewritten: said, not ignored
    assert "valid-00000" in str(error.value.filename)


def test_a_folder_an_older_release_prepared_is_re_run_read_only_too(corpus, tmp_path, monkeypatch):
    out = copy_reference(corpus, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["checksum"]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    for index in (out / "shards").glob("*/index.json"):
        header = json.loads(index.read_text())
        for key in ("checksum", "array_sha256"):
            del header[key]
        for record in header["utterances"]:
            del record["num_frames"]
        index.write_text(json.dumps(header))
    settings = json.loads((out / "prepare.json").read_text())
    del settings["semantic_source"]  # recorded since
    (out / "prepare.json").write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")
    before = snapshot(out)
    with monkeypatch.context() as patch:
        deny_writes(patch, out)
        assert run(corpus[0], out)["num_shards_written"] == 0
    assert snapshot(out) == before
    assert len(TokenShardDataset(out)) == 10
