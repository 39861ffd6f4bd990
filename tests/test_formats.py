"""The version policy (``soundstorm.formats``) applied by the reader of every file kind.

For each kind in ``FILE_KINDS``: a file as this soundstorm writes it loads; it still loads
under a reader one version ahead (an older file); a newer version fails with the one-line
message; a missing version is refused or read as version 1, as the table says. Files are tiny
and written by the real writers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from soundstorm import formats
from soundstorm.formats import FILE_KINDS, FormatVersionError, check_format_version


# ------------------------------------------------------------------------------ the helper
def test_newer_version_is_one_line_naming_the_file():
    with pytest.raises(FormatVersionError) as caught:
        check_format_version("x/codec.safetensors", "embedded-codec", 3, supported=2)
    assert str(caught.value) == (
        "x/codec.safetensors was written by format version 3, newer than this soundstorm "
        "reads (up to 2): upgrade soundstorm"
    )


def test_accepted_versions_and_missing_ones():
    assert check_format_version("f", "token-file", 1) == 1
    assert check_format_version("f", "embedded-codec", "1") == 1  # safetensors metadata
    assert check_format_version("f", "token-file", 1, supported=3) == 1  # older: read
    assert check_format_version("f", "pipeline", None) == 1  # written without a version
    with pytest.raises(FormatVersionError, match="has no format version"):
        check_format_version("f", "token-file", None)
    for bad in (0, -1, True, 1.5, "one", [1]):
        with pytest.raises(FormatVersionError, match="invalid"):
            check_format_version("f", "token-file", bad)


def test_every_kind_has_a_description_and_a_positive_version():
    for name, kind in FILE_KINDS.items():
        assert kind.name == name and kind.description and kind.version >= 1
        assert kind.missing in (None, 1)


# ------------------------------------------------------------------------------ every kind
def _rewrite_safetensors(path: Path, edit) -> None:
    """Rewrite a safetensors file with ``edit(metadata)`` applied to its metadata, as an
    older soundstorm (or another program) would have written it: without a checksum."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    from soundstorm.checksums import SAFETENSORS_KEY

    with safe_open(str(path), framework="numpy") as handle:
        metadata = dict(handle.metadata() or {})
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    edit(metadata)
    metadata.pop(SAFETENSORS_KEY, None)
    save_file(tensors, str(path), metadata=metadata)


def _set_json_entry(path: Path, key: str, value) -> None:
    data = json.loads(path.read_text())
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    path.write_text(json.dumps(data))


class EmbeddedCodecCase:
    def write(self, tmp: Path) -> Path:
        from soundstorm.codecs import EmbeddedCodec, EmbeddedCodecConfig
        from soundstorm.codecs.rvq import ResidualVectorQuantizer

        config = EmbeddedCodecConfig(num_levels=2, codebook_size=4)
        generator = torch.Generator().manual_seed(0)
        codebooks = torch.randn(2, 4, config.feature_dim, generator=generator)
        mean, std = torch.zeros(config.feature_dim), torch.ones(config.feature_dim)
        EmbeddedCodec(config, ResidualVectorQuantizer(codebooks), mean, std).save(
            tmp / "codec.safetensors"
        )
        return tmp / "codec.safetensors"

    def set_version(self, path: Path, version) -> None:
        def edit(metadata):
            metadata.pop("format_version")
            if version is not None:
                metadata["format_version"] = str(version)

        _rewrite_safetensors(path, edit)

    def read(self, path: Path):
        from soundstorm.codecs import get_codec

        return get_codec(path)


class SemanticTokenizerCase:
    def write(self, tmp: Path) -> Path:
        from soundstorm.kmeans import KMeans

        KMeans(torch.randn(4, 3)).save(tmp / "kmeans.safetensors")
        config = {"kind": "hubert", "name": "hubert", "frame_rate": 50.0, "vocab_size": 4}
        config.update(model_name_or_path="x", layer=1, feature_dim=3, format_version=1)
        (tmp / "semantic_tokenizer.json").write_text(json.dumps(config))
        return tmp / "semantic_tokenizer.json"

    def set_version(self, path: Path, version) -> None:
        _set_json_entry(path, "format_version", version)

    def read(self, path: Path):  # the model is not loaded: the config is what is versioned
        from soundstorm.semantic.registry import read_saved_config

        return read_saved_config(path.parent)


class TokenFileCase:
    codec = {"name": "c", "sample_rate": 8000, "frame_rate": 50.0, "num_levels": 2}
    semantic = {"name": "s", "frame_rate": 50.0, "vocab_size": 5}

    def write(self, tmp: Path) -> Path:
        from soundstorm.data import TokenUtterance, save_tokens

        codes = np.arange(6, dtype=np.uint16).reshape(2, 3)
        utterance = TokenUtterance("u", codes, np.array([0, 1, 2], np.int32), 0.06, "u.wav")
        codec = {**self.codec, "codebook_size": 16}
        return save_tokens(tmp / "a.tokens", [utterance], codec, self.semantic)

    def set_version(self, path: Path, version) -> None:
        def edit(metadata):
            header = json.loads(metadata["soundstorm"])
            header.pop("version")
            if version is not None:
                header["version"] = version
            metadata["soundstorm"] = json.dumps(header)

        _rewrite_safetensors(path, edit)

    def read(self, path: Path):
        from soundstorm.data import load_tokens

        return load_tokens(path)


class ShardIndexCase(TokenFileCase):
    def write(self, tmp: Path) -> Path:
        from soundstorm.data import ShardWriter, TokenUtterance

        codec = {**self.codec, "codebook_size": 16}
        writer = ShardWriter(tmp / "shards" / "train-00000", codec, self.semantic)
        codes = np.arange(6, dtype=np.uint16).reshape(2, 3)
        writer.add(TokenUtterance("u", codes, np.array([0, 1, 2], np.int32), 0.06, "u.wav"))
        return writer.write() / "index.json"

    def set_version(self, path: Path, version) -> None:
        _set_json_entry(path, "version", version)

    def read(self, path: Path):
        from soundstorm.data import open_shard

        return open_shard(path.parent)


class ShardManifestCase(ShardIndexCase):
    def write(self, tmp: Path) -> Path:
        from soundstorm.data import write_manifest

        super().write(tmp)
        write_manifest(tmp, [("train-00000", "train")])
        return tmp / "manifest.json"

    def read(self, path: Path):
        from soundstorm.data import read_manifest

        return read_manifest(path.parent)


class PipelineCase:
    def write(self, tmp: Path) -> Path:
        (tmp / "pipeline.json").write_text(json.dumps({"codec": "encodec", "steps": 4}))
        return tmp / "pipeline.json"

    def set_version(self, path: Path, version) -> None:
        _set_json_entry(path, "format_version", version)

    def read(self, path: Path):
        from soundstorm.pipeline import read_pipeline_file

        return read_pipeline_file(path.parent)


class TrainerStateCase:
    def write(self, tmp: Path) -> Path:
        from soundstorm.train.state_files import write_trainer_state

        parameter = torch.nn.Parameter(torch.ones(3))
        optimizer = torch.optim.AdamW([parameter], lr=0.1)
        parameter.grad = torch.ones(3)
        optimizer.step()
        state = optimizer.state_dict()
        state["state"] = {"weight": state["state"][0]}
        trainer = {"progress": {"step": 1}, "scheduler": {"last_epoch": 1}, "optimizer": state}
        write_trainer_state(tmp, trainer)
        return tmp / "trainer.json"

    def set_version(self, path: Path, version) -> None:
        _set_json_entry(path, "format", version)

    def read(self, path: Path):
        from soundstorm.train.state_files import read_trainer_state

        return read_trainer_state(path.parent)


class RngStateCase(TrainerStateCase):
    def write(self, tmp: Path) -> Path:
        from soundstorm.train.checkpoint import rng_state
        from soundstorm.train.state_files import write_rng_state

        write_rng_state(tmp / "rank_00000.json", rng_state())
        return tmp / "rank_00000.json"

    def read(self, path: Path):
        from soundstorm.train.state_files import read_rng_state

        return read_rng_state(path)


class TrainingHistoryCase:
    def write(self, tmp: Path) -> Path:
        from soundstorm.model_card import write_training_json

        runs = [{"checkpoint": "run/model", "progress": {"step": 3}, "config": {}}]
        write_training_json(tmp, runs)
        return tmp / "training.json"

    def set_version(self, path: Path, version) -> None:
        from soundstorm.checksums import seal_json

        _set_json_entry(path, "format_version", version)
        data = json.loads(path.read_text())
        data.pop("checksum")
        path.write_text(json.dumps(seal_json(data)))  # resealed: only the version differs

    def read(self, path: Path):
        from soundstorm.model_card import read_training_json

        runs = read_training_json(path.parent)
        assert runs is not None and runs[0]["progress"] == {"step": 3}
        return runs


CASES = {
    "embedded-codec": [EmbeddedCodecCase()],
    "semantic-tokenizer": [SemanticTokenizerCase()],
    "token-file": [TokenFileCase(), ShardIndexCase()],
    "shard-manifest": [ShardManifestCase()],
    "pipeline": [PipelineCase()],
    "trainer-state": [TrainerStateCase(), RngStateCase()],
    "training-history": [TrainingHistoryCase()],
}
PARAMS = [(kind, case) for kind, cases in CASES.items() for case in cases]
IDS = [f"{kind}-{type(case).__name__}" for kind, case in PARAMS]


def test_every_file_kind_has_cases():
    assert set(CASES) == set(FILE_KINDS)


@pytest.mark.parametrize(("kind", "case"), PARAMS, ids=IDS)
def test_current_and_older_versions_load(kind, case, tmp_path, monkeypatch):
    path = case.write(tmp_path)
    case.read(path)
    # A soundstorm one version ahead reads this file as an older one.
    ahead = dataclasses.replace(FILE_KINDS[kind], version=FILE_KINDS[kind].version + 1)
    monkeypatch.setitem(formats.FILE_KINDS, kind, ahead)
    case.read(path)


@pytest.mark.parametrize(("kind", "case"), PARAMS, ids=IDS)
def test_newer_version_is_refused_in_one_line(kind, case, tmp_path):
    path = case.write(tmp_path)
    current = FILE_KINDS[kind].version
    case.set_version(path, current + 1)
    with pytest.raises(FormatVersionError) as caught:
        case.read(path)
    message = str(caught.value)
    assert message.endswith(
        f"was written by format version {current + 1}, newer than this soundstorm reads "
        f"(up to {current}): upgrade soundstorm"
    )
    assert path.name in message and "\n" not in message


@pytest.mark.parametrize(("kind", "case"), PARAMS, ids=IDS)
def test_missing_version_as_the_table_says(kind, case, tmp_path):
    path = case.write(tmp_path)
    case.set_version(path, None)
    if FILE_KINDS[kind].missing is None:
        with pytest.raises(FormatVersionError, match="has no format version"):
            case.read(path)
    else:
        case.read(path)


@pytest.mark.parametrize(("kind", "case"), PARAMS, ids=IDS)
def test_invalid_version_is_refused(kind, case, tmp_path):
    path = case.write(tmp_path)
    case.set_version(path, 0)
    with pytest.raises(FormatVersionError, match="invalid"):
        case.read(path)


# ------------------------------------------------------------------- defaults of old files
def test_old_codec_file_without_newer_config_fields_gets_defaults(tmp_path):
    case = EmbeddedCodecCase()
    path = case.write(tmp_path)

    def drop_field(metadata):
        config = json.loads(metadata["config"])
        del config["griffin_lim_momentum"]
        metadata["config"] = json.dumps(config)

    _rewrite_safetensors(path, drop_field)
    assert case.read(path).config.griffin_lim_momentum == 0.99


def test_old_token_records_without_source_and_duration_get_defaults(tmp_path):
    case = TokenFileCase()
    path = case.write(tmp_path)

    def drop_fields(metadata):
        header = json.loads(metadata["soundstorm"])
        header["utterances"] = [{"id": u["id"]} for u in header["utterances"]]
        metadata["soundstorm"] = json.dumps(header)

    _rewrite_safetensors(path, drop_fields)
    (utterance,) = case.read(path).utterances
    assert (utterance.source, utterance.duration) == ("", 0.0)


def test_shipped_default_model_files_load():
    from soundstorm.codecs import get_codec
    from soundstorm.pipeline import read_pipeline_file

    default = Path(__file__).parents[1] / "src" / "soundstorm" / "assets" / "default"
    spec = read_pipeline_file(default)
    # one argmax pass per level: the decoding docs/default_model.md measured (session 13)
    assert spec["steps"] == 1 and Path(spec["codec"]).name == "codec.safetensors"
    codec = get_codec(spec["codec"])
    assert (codec.num_levels, codec.codebook_size) == (12, 1024)
