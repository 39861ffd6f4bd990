"""``soundstorm generate --manifest`` outputs (issue 14): the result index merges with what
is there, the folder is locked, a full disk is one line."""

from __future__ import annotations

import errno
import json

import pytest

from soundstorm.cli import main

from tests.voice_fakes import write_tones


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    folder = write_tones(tmp_path_factory.mktemp("audio"), (("a", 0.6, 1), ("b", 0.8, 2)))
    path = folder / "requests.jsonl"
    rows = [{"id": f"r{i}", "content": "ab"[i % 2] + ".wav"} for i in range(3)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run(voice_model_dir, manifest, out_dir) -> int:
    args = ["generate", "--model", str(voice_model_dir), "--manifest", str(manifest)]
    return main([*args, "--out-dir", str(out_dir), "--steps", "2", "--batch-size", "1"])


def index_ids(out_dir) -> list[str]:
    return [
        json.loads(line)["id"] for line in (out_dir / "generated.jsonl").read_text().splitlines()
    ]


def test_the_result_index_keeps_every_finished_row_across_runs(voice_model_dir, manifest, tmp_path):
    out = tmp_path / "out"
    assert run(voice_model_dir, manifest, out) == 0
    assert index_ids(out) == ["r0", "r1", "r2"]
    first = (out / "generated.jsonl").read_text()
    assert run(voice_model_dir, manifest, out) == 0  # a re-run of a finished job: all skipped
    assert (out / "generated.jsonl").read_text() == first
    # A killed run: r0 and r1 written, no index yet; r2 not done.
    (out / "generated.jsonl").unlink()
    (out / "r2.wav").unlink()
    assert run(voice_model_dir, manifest, out) == 0
    assert index_ids(out) == ["r0", "r1", "r2"], "rows of the killed run recovered, r2 added"
    recovered = json.loads((out / "generated.jsonl").read_text().splitlines()[0])
    assert recovered["seconds"] > 0 and recovered["out"].endswith("r0.wav")
    assert sorted(p.name for p in out.iterdir()) == [
        "generated.jsonl",
        "r0.wav",
        "r1.wav",
        "r2.wav",
    ]


def test_a_locked_output_folder_is_refused(voice_model_dir, manifest, tmp_path, capsys):
    from soundstorm.files import folder_lock

    out = tmp_path / "out"
    with folder_lock(out, "soundstorm generate"):
        assert run(voice_model_dir, manifest, out) == 2
    error = capsys.readouterr().err
    assert "in use by soundstorm generate" in error and error.count("\n") == 1
    assert not out.exists(), "the refused run left nothing"


def test_a_full_disk_while_saving_audio_is_one_line(
    voice_model_dir, manifest, tmp_path, capsys, monkeypatch
):
    import soundstorm.files as files

    real = files.fsync_path

    def fsync_path(path):
        if ".wav." in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path)

    monkeypatch.setattr(files, "fsync_path", fsync_path)
    out = tmp_path / "out"
    assert run(voice_model_dir, manifest, out) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no space left on the device" in error and "r0.wav" in error
    assert not out.exists(), "no temporary file, no half-written audio: nothing"
