"""The Moonshine tiny-en encoder extractor (the default semantic tokenizer's features): exact
frame counts for odd lengths, batch invariance, the encoder check, install hints.

The registry contract (tests/semantic/test_tokenizer_contract.py) covers the saved
``moonshine`` kind as well; these pin what is particular to this extractor.
"""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from soundstorm.errors import SoundStormError
from soundstorm.semantic import FeaturesKMeansTokenizer, align, get_semantic_tokenizer
from soundstorm.semantic.moonshine_features import MoonshineFeatures, num_frames

pytest.importorskip("onnxruntime")
if importlib.util.find_spec("moonshine_voice") is None:
    pytest.skip("moonshine-voice is not installed", allow_module_level=True)


def _speechlike(num_samples: int, sample_rate: int = 16000, seed: int = 0) -> torch.Tensor:
    """A voiced, syllable-modulated tone with a little noise: ``FloatTensor[S]``."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples) / sample_rate
    f0 = 110 + 60 * torch.rand(1, generator=generator)
    phase = 2 * math.pi * torch.cumsum(f0 * (1 + 0.2 * torch.sin(4 * t)), 0) / sample_rate
    wav = sum(torch.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * torch.sin(9 * t))
    return 0.2 * wav + 0.01 * torch.randn(num_samples, generator=generator)


@pytest.fixture(scope="module")
def extractor() -> MoonshineFeatures:
    return MoonshineFeatures()


@pytest.fixture(scope="module")
def tokenizer(extractor) -> FeaturesKMeansTokenizer:
    clips = [_speechlike(24000, seed=1), _speechlike(13001, seed=2)]
    return FeaturesKMeansTokenizer.fit(extractor, clips, 16000, num_clusters=16)


@pytest.mark.parametrize("num_samples", [1, 383, 384, 385, 767, 4001, 16000, 16001, 24383])
def test_frame_count_is_ceil_of_samples_over_384(extractor, num_samples):
    frames = extractor.extract(_speechlike(num_samples)[None])
    assert frames.shape == (1, num_frames(num_samples), 288)
    assert num_frames(num_samples) == math.ceil(num_samples / 384)
    assert torch.isfinite(frames).all()


@pytest.mark.parametrize(("num_samples", "sample_rate"), [(8159, 22050), (19441, 24000)])
def test_odd_lengths_at_other_rates_match_the_codec_frames_after_alignment(
    tokenizer, num_samples, sample_rate
):
    """Tokens at 125/3 Hz cover the audio: aligned to a 50 Hz or 86.13 Hz codec they give
    exactly the codec's frame count without padding more than one semantic frame."""
    wav = _speechlike(num_samples, sample_rate)[None, None]
    tokens = tokenizer.tokenize(wav, sample_rate)[0]
    seconds = num_samples / sample_rate
    assert tokens.shape[0] == math.ceil(round(seconds * 16000) / 384)
    assert abs(tokens.shape[0] - seconds * tokenizer.frame_rate) <= 1
    for codec_rate in (50.0, 22050 / 256):
        frames = math.ceil(seconds * codec_rate)
        aligned = align(tokens, tokenizer.frame_rate, codec_rate, frames)
        assert aligned.shape == (frames,)


def test_batch_gives_exactly_its_items_and_runs_are_deterministic(tokenizer):
    wav = torch.stack([_speechlike(12000, seed=s) for s in range(3)])[:, None]  # (3, 1, S)
    batched = tokenizer.tokenize(wav, 16000)
    alone = torch.cat([tokenizer.tokenize(wav[i : i + 1], 16000) for i in range(3)])
    assert torch.equal(batched, alone)
    assert torch.equal(tokenizer.tokenize(wav, 16000), batched)


def test_saved_tokenizer_records_the_encoder_and_refuses_another(tokenizer, tmp_path):
    directory = tokenizer.save(tmp_path / "moonshine_k16")
    config = tokenizer.config_dict()
    assert config["kind"] == "moonshine" and config["vocab_size"] == 16
    assert "model_path" not in config  # the bundled encoder: the directory can move
    loaded = get_semantic_tokenizer(directory)
    assert loaded.frame_rate == pytest.approx(125 / 3)
    with pytest.raises(SoundStormError, match="not the one this tokenizer was fitted with"):
        get_semantic_tokenizer(directory, encoder_digest="0" * 40)


@pytest.mark.parametrize(
    ("module", "hint"),
    [("moonshine_voice", "moonshine-voice==0.1.0"), ("onnxruntime", "onnxruntime")],
)
def test_a_missing_package_gives_the_one_line_install_hint(monkeypatch, module, hint):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == module else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(SoundStormError) as error:
        MoonshineFeatures()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"the Moonshine semantic tokenizer needs {hint}: pip install")
