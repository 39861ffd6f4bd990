"""`soundstorm export`: checkpoint -> 16-bit voice model directory that generates the same."""

import json

import pytest
import torch
from safetensors.torch import load_file

from soundstorm.cli import main
from soundstorm.errors import SoundStormError
from soundstorm.export import export_model
from soundstorm.inference import load_pretrained

from tests.voice_fakes import make_voice_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_voice_model(tmp_path_factory.mktemp("ckpt") / "model")


def test_export_writes_half_weights_codec_and_pipeline(checkpoint, tmp_path):
    out = export_model(
        checkpoint, tmp_path / "voice", str(checkpoint / "codec.safetensors"), "phones-words"
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "codec.safetensors",
        "config.json",
        "model.safetensors",
        "pipeline.json",
    ]
    weights = load_file(out / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.float16}
    full = load_file(checkpoint / "model.safetensors")
    assert weights.keys() == full.keys()
    for name, value in full.items():  # 16-bit rounding only
        torch.testing.assert_close(weights[name].float(), value, rtol=1e-3, atol=1e-4)
    assert json.loads((out / "pipeline.json").read_text()) == {
        "codec": "codec.safetensors",
        "semantic": "phones-words",
        "format_version": 2,
    }
    # loads back as float32 on the CPU and computes the same logits up to 16-bit rounding
    original, exported = load_pretrained(checkpoint), load_pretrained(out)
    assert next(exported.parameters()).dtype == torch.float32
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 17, (2, 2, 40), generator=g)  # ids up to the mask id (16)
    cond = torch.randint(0, 48, (2, 40), generator=g)
    with torch.no_grad():
        expected, got = original(codes, cond), exported(codes, cond)
    assert (got - expected).abs().max() < 0.01 * expected.std()


def test_exported_files_get_the_usual_modes(checkpoint, tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        out = export_model(
            checkpoint, tmp_path / "voice", str(checkpoint / "codec.safetensors"), "phones-words"
        )
    finally:
        os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o644}


def test_export_refuses_to_overwrite_and_leaves_nothing_on_failure(checkpoint, tmp_path, capsys):
    out = tmp_path / "voice"
    out.mkdir()
    code = main(["export", str(checkpoint), str(out), "--codec", "x.safetensors"])
    assert code == 2
    assert "exists" in capsys.readouterr().err
    assert list(out.iterdir()) == []
    code = main(["export", str(tmp_path / "missing"), str(tmp_path / "new"), "--codec", "c"])
    assert code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["voice"]  # no temp dir left behind


def test_recommended_steps_travel_in_pipeline_json(checkpoint, tmp_path, capsys):
    from soundstorm.pipeline import VoicePipeline

    out = export_model(
        checkpoint,
        tmp_path / "voice",
        str(checkpoint / "codec.safetensors"),
        "phones-words",
        steps=3,
    )
    assert json.loads((out / "pipeline.json").read_text())["steps"] == 3
    pipeline = VoicePipeline.from_directory(out)
    assert pipeline.default_steps == 3
    calls = []  # one call of the first Conformer block per decoding pass
    pipeline.engine.model.blocks[0].register_forward_hook(lambda *_: calls.append(1))
    cond = torch.randint(0, 41, (30,), generator=torch.Generator().manual_seed(0))
    from soundstorm.pipeline import Request

    pipeline.generate([Request(cond, torch.zeros(2, 0, dtype=torch.long))])
    assert len(calls) == 3 + 1  # 3 passes on level 1, one on level 2
    (out / "pipeline.json").write_text(json.dumps({"codec": "codec.safetensors", "steps": 0}))
    assert main(["generate", "--model", str(out), "--text", "hi", "--out", "x.wav"]) == 2
    assert "'steps' must be a positive integer" in capsys.readouterr().err


def test_pipeline_json_version_1_default_means_phones_words(checkpoint, tmp_path):
    """Models exported before the fitted default (pipeline.json version 1, the shipped one
    included) keep their tokenizer; in version 2 'default' names no tokenizer."""
    from soundstorm.pipeline import VoicePipeline, read_pipeline_file
    from soundstorm.semantic.phones import PhoneTokenizer

    old = export_model(
        checkpoint, tmp_path / "old", str(checkpoint / "codec.safetensors"), "phones"
    )
    (old / "pipeline.json").write_text(
        json.dumps({"codec": "codec.safetensors", "semantic": "default"})
    )
    assert read_pipeline_file(old)["semantic"] == "phones-words"
    tokenizer = VoicePipeline.from_directory(old).tokenizer
    assert isinstance(tokenizer, PhoneTokenizer) and tokenizer.decoding == "words"
    spec = {"codec": "codec.safetensors", "semantic": "default", "format_version": 2}
    (old / "pipeline.json").write_text(json.dumps(spec))
    with pytest.raises(SoundStormError, match="fitted on your audio by soundstorm prepare"):
        VoicePipeline.from_directory(old)
    from soundstorm.assets import DEFAULT_MODEL_DIR

    assert read_pipeline_file(DEFAULT_MODEL_DIR)["semantic"] == "phones-words"


def test_export_takes_the_tokenizer_prepare_saved_beside_the_codec(checkpoint, tmp_path, capsys):
    import shutil

    from soundstorm.semantic import FeaturesKMeansTokenizer
    from soundstorm.semantic.moonshine_features import MoonshineFeatures

    prepared = tmp_path / "tokens"
    prepared.mkdir()
    shutil.copyfile(checkpoint / "codec.safetensors", prepared / "codec.safetensors")
    wav = torch.randn(16000, generator=torch.Generator().manual_seed(0)) * 0.1
    FeaturesKMeansTokenizer.fit(MoonshineFeatures(), [wav], 16000, num_clusters=4).save(
        prepared / "semantic_tokenizer"
    )
    codec = str(prepared / "codec.safetensors")
    assert main(["export", str(checkpoint), str(tmp_path / "voice"), "--codec", codec]) == 0
    spec = json.loads((tmp_path / "voice" / "pipeline.json").read_text())
    assert spec["semantic"] == "semantic_tokenizer"
    assert (tmp_path / "voice" / "semantic_tokenizer" / "kmeans.safetensors").is_file()
    codec = str(checkpoint / "codec.safetensors")  # nothing beside it: the one-line hint
    assert main(["export", str(checkpoint), str(tmp_path / "other"), "--codec", codec]) == 2
    assert "OUT_DIR/semantic_tokenizer" in capsys.readouterr().err
