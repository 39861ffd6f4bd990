"""`soundstorm export`: checkpoint -> 16-bit voice model directory that generates the same."""

import json

import pytest
import torch
from safetensors.torch import load_file

from soundstorm.cli import main
from soundstorm.export import export_model
from soundstorm.inference import load_pretrained

from tests.voice_fakes import make_voice_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_voice_model(tmp_path_factory.mktemp("ckpt") / "model")


def test_export_writes_half_weights_codec_and_pipeline(checkpoint, tmp_path):
    out = export_model(checkpoint, tmp_path / "voice", str(checkpoint / "codec.safetensors"))
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
        "semantic": "default",
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
