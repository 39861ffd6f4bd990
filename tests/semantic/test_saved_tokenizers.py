"""Saved tokenizer directories: older files load, and an exported voice model carries its
fitted tokenizer (a copy, recorded by a relative path) instead of pointing at it."""

from __future__ import annotations

import json
import math

import pytest
import torch

from soundstorm.errors import SoundStormError
from soundstorm.formats import FormatVersionError
from soundstorm.semantic import HubertKMeansTokenizer, get_semantic_tokenizer
from soundstorm.semantic.registry import CONFIG_NAME


def _tones(seconds: float, sample_rate: int = 16000, seed: int = 0) -> torch.Tensor:
    """A gliding harmonic tone with a syllable-rate envelope: ``[1, 1, S]``."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 110 + 20 * seed
    phase = 2 * math.pi * torch.cumsum(f0 * (1 + 0.3 * torch.sin(3 * t)), 0) / sample_rate
    wav = sum(torch.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * torch.sin(7 * t))
    return (0.2 * wav)[None, None]


@pytest.fixture(scope="module")
def saved_hubert(tiny_models, tmp_path_factory):
    """A HuBERT k-means tokenizer (8 ids) fitted on tones and saved."""
    clips = [_tones(1.0, seed=s)[0, 0] for s in range(3)]
    tokenizer = HubertKMeansTokenizer.fit(tiny_models["hubert"], clips, 16000, 1, 8)
    return tokenizer, tokenizer.save(tmp_path_factory.mktemp("saved") / "hubert")


def test_a_directory_saved_before_versions_were_recorded_loads(saved_hubert, tmp_path):
    import shutil

    tokenizer, saved = saved_hubert
    old = shutil.copytree(saved, tmp_path / "old")
    config = json.loads((old / CONFIG_NAME).read_text())
    del config["format_version"]
    (old / CONFIG_NAME).write_text(json.dumps(config))
    loaded = get_semantic_tokenizer(old)
    assert type(loaded) is HubertKMeansTokenizer
    assert torch.equal(loaded.tokenize(_tones(0.5), 16000), tokenizer.tokenize(_tones(0.5), 16000))
    config["format_version"] = 99
    (old / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(FormatVersionError, match="format version 99, newer"):
        get_semantic_tokenizer(old)


def test_an_unknown_kind_or_option_is_a_one_line_error(saved_hubert, tmp_path):
    import shutil

    _, saved = saved_hubert
    with pytest.raises(SoundStormError, match="bad option.*layers"):
        get_semantic_tokenizer(saved, layers=3)
    other = shutil.copytree(saved, tmp_path / "other")
    config = json.loads((other / CONFIG_NAME).read_text())
    (other / CONFIG_NAME).write_text(json.dumps({**config, "kind": "wavlm"}))
    with pytest.raises(SoundStormError, match="unknown tokenizer kind 'wavlm'"):
        get_semantic_tokenizer(other)


def test_an_exported_model_carries_its_fitted_tokenizer(saved_hubert, tmp_path):
    import shutil

    from soundstorm.export import export_model
    from soundstorm.pipeline import VoicePipeline

    from tests.voice_fakes import make_voice_model

    tokenizer, saved = saved_hubert
    checkpoint = make_voice_model(tmp_path / "checkpoint")
    out = export_model(
        checkpoint, tmp_path / "voice", str(checkpoint / "codec.safetensors"), str(saved)
    )
    spec = json.loads((out / "pipeline.json").read_text())
    assert spec == {
        "codec": "codec.safetensors",
        "semantic": "semantic_tokenizer",
        "format_version": 2,
    }
    assert sorted(p.name for p in (out / "semantic_tokenizer").iterdir()) == sorted(
        p.name for p in saved.iterdir()
    )
    moved = shutil.move(str(out), str(tmp_path / "elsewhere"))  # the directory travels whole
    pipeline = VoicePipeline.from_directory(moved)
    assert type(pipeline.tokenizer) is HubertKMeansTokenizer
    wav = _tones(0.6, seed=4)
    assert torch.equal(pipeline.tokenizer.tokenize(wav, 16000), tokenizer.tokenize(wav, 16000))
