"""Checksums of written files: safetensors entries, JSON seals, flipped bits found once."""

import json

import numpy as np
import pytest
import torch

from soundstorm.checksums import (
    check_json,
    check_safetensors,
    checksum_metadata,
    seal_json,
    sealed_safetensors,
    sha256_file,
)
from soundstorm.errors import DamagedFileError


def flip_bit(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))


def test_a_sealed_safetensors_file_loads_as_written_and_records_its_sha256(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    tensors = {"codebooks": torch.randn(4, 16, 8), "ids": torch.arange(5)}
    path = tmp_path / "codec.safetensors"
    with sealed_safetensors(path) as temp:
        save_file(tensors, str(temp), metadata={"format": "x", **checksum_metadata()})
    assert [p.name for p in tmp_path.iterdir()] == ["codec.safetensors"]
    assert check_safetensors(path) is True
    loaded = load_file(str(path))
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    with safe_open(str(path), "pt") as handle:
        assert len(handle.metadata()["soundstorm_sha256"]) == 64


@pytest.mark.parametrize("where", ["data", "header", "truncated"])
def test_any_change_to_a_sealed_safetensors_file_is_found(tmp_path, where):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    with sealed_safetensors(path) as temp:
        save_file({"w": torch.zeros(256)}, str(temp), metadata=checksum_metadata())
    size = path.stat().st_size
    if where == "data":
        flip_bit(path, size - 100)  # a low bit of a value: still a valid float
    elif where == "header":
        text = path.read_bytes()
        path.write_bytes(text.replace(b'"shape":[256]', b'"shape":[255]', 1)[: size - 4]
                         + b"\0\0\0\0")  # fmt: skip
    else:
        path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DamagedFileError, match="model.safetensors is damaged"):
        check_safetensors(path)


def test_files_without_a_checksum_still_read(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "old.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    assert check_safetensors(path) is False
    assert check_json({"version": 1}, tmp_path / "old.json") is False


def test_json_seal_survives_reformatting_and_catches_changed_values(tmp_path):
    sealed = seal_json({"utterances": [{"id": "a", "duration": 1.25}], "version": 1})
    reread = json.loads(json.dumps(sealed, indent=4))
    assert check_json(reread, "index.json") is True
    reread["utterances"][0]["duration"] = 1.26
    with pytest.raises(DamagedFileError, match="index.json is damaged"):
        check_json(reread, "index.json")


def test_sha256_file_matches_hashlib(tmp_path):
    import hashlib

    path = tmp_path / "codes.npy"
    np.save(path, np.arange(100_000, dtype=np.uint16))
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_full_disk_in_the_safetensors_writer_is_an_os_error_naming_the_file(tmp_path):
    import errno

    class FakeSafetensorError(Exception):
        pass

    path = tmp_path / "codec.safetensors"
    with pytest.raises(OSError) as error, sealed_safetensors(path):
        raise FakeSafetensorError("Error while serializing: No space left on device (os error 28)")
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(path)
    assert list(tmp_path.iterdir()) == []


def test_fitted_k_means_centroids_carry_their_checksum(tmp_path):
    from soundstorm.kmeans import KMeans

    path = tmp_path / "kmeans.safetensors"
    KMeans(torch.randn(8, 4)).save(path)
    assert check_safetensors(path) is True and KMeans.load(path).centroids.shape == (8, 4)
    data = bytearray(path.read_bytes())
    data[-2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match="kmeans.safetensors is damaged"):
        KMeans.load(path)
