"""The codec digest ``prepare`` resumes by depends on the codec's content and settings only.

Re-saving a codec (by ``save`` again, or with its metadata in another order) keeps the
digest; changing a tensor or a setting changes it. The digest of a version-1 file is the one ``prepare`` recorded before the digest moved to
``Codec.content_digest``, so directories prepared then still resume.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from soundstorm.checksums import SAFETENSORS_KEY
from soundstorm.codecs import EmbeddedCodec, EmbeddedCodecConfig, get_codec
from soundstorm.codecs.rvq import ResidualVectorQuantizer
from soundstorm.data.prepare import codec_file_digest


@pytest.fixture
def codec() -> EmbeddedCodec:
    config = EmbeddedCodecConfig(num_levels=2, codebook_size=8, num_mels=16)
    generator = torch.Generator().manual_seed(0)
    codebooks = torch.randn(2, 8, 16, generator=generator)
    mean, std = torch.randn(16, generator=generator), torch.rand(16, generator=generator) + 0.5
    return EmbeddedCodec(config, ResidualVectorQuantizer(codebooks), mean, std)


def _metadata_and_tensors(path):
    """A codec file's metadata (without its checksum: the files these tests rewrite are
    read as files written before checksums existed) and tensors."""
    with safe_open(str(path), framework="numpy") as handle:
        metadata = dict(handle.metadata())
        metadata.pop(SAFETENSORS_KEY, None)
        return metadata, {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118


def _digest_before_content_digest(path) -> str:
    """How prepare hashed a codec file before: its sorted metadata, then its tensors."""
    metadata, tensors = _metadata_and_tensors(path)
    digest = hashlib.sha1(json.dumps(metadata, sort_keys=True).encode())
    for key in sorted(tensors):
        digest.update(f"{key}:{tensors[key].dtype}:{tensors[key].shape}".encode())
        digest.update(tensors[key].tobytes())
    return digest.hexdigest()


def test_resaving_keeps_the_digest(codec, tmp_path):
    codec.save(tmp_path / "a.safetensors")
    digest = codec_file_digest(tmp_path / "a.safetensors")
    assert digest == codec.content_digest()
    assert digest == _digest_before_content_digest(tmp_path / "a.safetensors")
    get_codec(tmp_path / "a.safetensors").save(tmp_path / "b.safetensors")
    assert codec_file_digest(tmp_path / "b.safetensors") == digest

    # Written with its metadata and configuration keys in another order.
    metadata, tensors = _metadata_and_tensors(tmp_path / "a.safetensors")
    config = json.loads(metadata["config"])
    reordered = {"config": json.dumps(dict(reversed(list(config.items()))))}
    reordered.update(format_version=metadata["format_version"], format=metadata["format"])
    save_file(tensors, str(tmp_path / "c.safetensors"), metadata=reordered)
    assert codec_file_digest(tmp_path / "c.safetensors") == digest


def test_content_and_settings_change_the_digest(codec, tmp_path):
    digest = codec.content_digest()
    codec.save(tmp_path / "a.safetensors")
    metadata, tensors = _metadata_and_tensors(tmp_path / "a.safetensors")
    tensors["codebooks"] = tensors["codebooks"].copy()
    tensors["codebooks"][0, 0, 0] += 1.0
    save_file(tensors, str(tmp_path / "tensor.safetensors"), metadata=metadata)
    assert codec_file_digest(tmp_path / "tensor.safetensors") != digest
    config = {**json.loads(metadata["config"]), "griffin_lim_iters": 7}
    _, original = _metadata_and_tensors(tmp_path / "a.safetensors")
    save_file(
        original, str(tmp_path / "setting.safetensors"), {**metadata, "config": json.dumps(config)}
    )
    assert codec_file_digest(tmp_path / "setting.safetensors") != digest


def test_files_that_are_no_codec_are_hashed_by_their_bytes(tmp_path):
    assert codec_file_digest(None) is None
    assert codec_file_digest(tmp_path / "missing.safetensors") is None
    (tmp_path / "other.bin").write_bytes(b"not a codec")
    assert codec_file_digest(tmp_path / "other.bin") == hashlib.sha1(b"not a codec").hexdigest()
