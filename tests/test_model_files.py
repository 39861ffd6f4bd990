"""Model directories that do not read back as written: one line naming the file, exit 2
(issue 14). Flipped bits, truncation, invalid or contradicting ``config.json``; exports into
locked, read-only or full destinations."""

from __future__ import annotations

import errno
import json
import os
import shutil

import pytest

from soundstorm.checksums import check_safetensors
from soundstorm.cli import main
from soundstorm.errors import DamagedFileError, SoundStormError
from soundstorm.inference import load_pretrained

from tests.voice_fakes import write_tones


@pytest.fixture
def model_dir(voice_model_dir, tmp_path):
    return shutil.copytree(voice_model_dir, tmp_path / "model")


@pytest.fixture(scope="module")
def content(tmp_path_factory):
    return write_tones(tmp_path_factory.mktemp("audio"), (("a", 0.6, 1),)) / "a.wav"


def generate_error(model_dir, content, tmp_path, capsys) -> str:
    out = tmp_path / "out.wav"
    status = main(
        ["generate", "--model", str(model_dir), "--content", str(content), "--out", str(out)]
    )
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1 and "Traceback" not in error, error
    assert not out.exists()
    return error


def flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_saved_weights_record_their_checksum_and_load(model_dir):
    assert check_safetensors(model_dir / "model.safetensors") is True
    assert load_pretrained(model_dir).config.num_levels == 2


def test_a_flipped_bit_or_a_truncated_weights_file_is_named(model_dir, content, tmp_path, capsys):
    weights = model_dir / "model.safetensors"
    pristine = weights.read_bytes()
    flip(weights, len(pristine) - 7)  # a low bit of one weight: loads, computes differently
    with pytest.raises(DamagedFileError):
        load_pretrained(model_dir)
    assert "model.safetensors is damaged" in generate_error(model_dir, content, tmp_path, capsys)
    weights.write_bytes(pristine[: len(pristine) // 2])
    assert "model.safetensors is damaged" in generate_error(model_dir, content, tmp_path, capsys)
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    assert "model.safetensors" in generate_error(model_dir, content, tmp_path, capsys)


def test_an_invalid_config_json_is_named_with_the_position(model_dir, content, tmp_path, capsys):
    config = model_dir / "config.json"
    config.write_text(config.read_text().replace('"depth": 2', '"depth": ', 1))
    error = generate_error(model_dir, content, tmp_path, capsys)
    assert f"{config}: invalid JSON (Expecting value: line" in error
    config.write_text('{"depth": 2, "no_such_field": 1}')
    assert "not a SoundStorm configuration" in generate_error(model_dir, content, tmp_path, capsys)


def test_a_config_that_contradicts_the_weights_is_one_line(model_dir, content, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    config = model_dir / "config.json"
    values = json.loads(config.read_text())
    values["dim"] *= 2
    config.write_text(json.dumps(values))
    error = generate_error(model_dir, content, tmp_path, capsys)
    assert "config.json is damaged" in error and "differs from the configuration" in error
    weights = model_dir / "model.safetensors"  # an older file: no checksums recorded
    save_file(load_file(weights), str(weights), metadata={"format": "pt"})
    with pytest.raises(SoundStormError, match="does not match the weights of"):
        load_pretrained(model_dir)
    assert "does not match the weights" in generate_error(model_dir, content, tmp_path, capsys)


def test_export_refuses_a_locked_destination_and_leaves_it(model_dir, tmp_path, capsys):
    from soundstorm.files import folder_lock

    out = tmp_path / "voice"
    codec = str(model_dir / "codec.safetensors")
    with folder_lock(out, "soundstorm export", beside=True):
        status = main(
            ["export", str(model_dir), str(out), "--codec", codec, "--semantic", "phones"]
        )
    error = capsys.readouterr().err
    assert status == 2 and "in use by soundstorm export" in error and error.count("\n") == 1
    assert not out.exists()
    assert main(["export", str(model_dir), str(out), "--codec", codec, "--semantic", "phones"]) == 0
    assert check_safetensors(out / "model.safetensors") and check_safetensors(
        out / "codec.safetensors"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "voice"], "no lock, no temp"


@pytest.mark.parametrize("fault", ["no space", "permission"])
def test_export_into_a_full_or_read_only_destination_is_one_line(
    model_dir, tmp_path, capsys, monkeypatch, fault
):
    import tempfile

    out = tmp_path / "dest" / "voice"
    out.parent.mkdir()
    if fault == "no space":

        def fsync(handle):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fsync", fsync)
    else:
        real = tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):
            if str(dir).startswith(str(out.parent)):
                raise PermissionError(errno.EACCES, "Permission denied", str(dir))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    codec = str(model_dir / "codec.safetensors")
    status = main(["export", str(model_dir), str(out), "--codec", codec, "--semantic", "phones"])
    error = capsys.readouterr().err
    cause = "no space left on the device" if fault == "no space" else "permission denied"
    assert status == 2 and error.count("\n") == 1 and "Traceback" not in error
    assert f"{out.parent}: {cause}" in error
    assert list(out.parent.iterdir()) == []


def test_a_flipped_bit_in_the_codec_file_is_named(model_dir, content, tmp_path, capsys):
    from soundstorm.codecs import EmbeddedCodec

    codec = model_dir / "codec.safetensors"
    flip(codec, codec.stat().st_size - 11)  # a codebook value: decodes, differently
    with pytest.raises(DamagedFileError, match="codec.safetensors is damaged"):
        EmbeddedCodec.load(codec)
    assert "codec.safetensors is damaged" in generate_error(model_dir, content, tmp_path, capsys)


@pytest.mark.parametrize("fault", ["no space", "permission"])
def test_encode_into_a_full_or_read_only_folder_is_one_line_before_the_codec_loads(
    model_dir, content, tmp_path, capsys, monkeypatch, fault
):
    from tests.fault_injection import deny_writes

    out = tmp_path / "tokens" / "a.tokens"
    out.parent.mkdir()
    if fault == "no space":
        real = os.write

        def write(handle, data):
            if os.readlink(f"/proc/self/fd/{handle}").startswith(str(out.parent)):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(handle, data)

        monkeypatch.setattr(os, "write", write)
    else:
        deny_writes(monkeypatch, out.parent)
    codec = str(model_dir / "codec.safetensors")
    assert main(["encode", str(content), "-o", str(out), "--codec", codec, "--semantic", "x"]) == 2
    error = capsys.readouterr().err
    cause = "no space left on the device" if fault == "no space" else "permission denied"
    assert error.count("\n") == 1 and f"{out.parent}: {cause}" in error
    assert list(out.parent.iterdir()) == []
