"""EnCodec, DAC and Mimi adapters on tiny random models, and ``get_codec`` resolution.

The models are built from small configurations with random weights, written with
``save_pretrained`` and loaded back through ``get_codec(path)``: nothing is downloaded
(``tiny_codec_models``, the ``saved_models`` fixture of ``conftest.py``).
"""

from __future__ import annotations

import pytest
import torch
from tiny_codec_models import SAMPLE_RATE

from soundstorm.codecs import get_codec
from soundstorm.errors import SoundStormError

transformers = pytest.importorskip("transformers")  # the `hf` extra

EXPECTED = {  # family: (adapter name, frame rate, levels by default)
    "encodec": ("encodec", 500.0, 4),
    "dac": ("dac", 1000.0, 4),
    "mimi": ("mimi", 250.0, 4),
}


@pytest.mark.parametrize("family", ["encodec", "dac", "mimi"])
def test_adapter_round_trip(saved_models, family):
    codec = get_codec(saved_models[family])
    name, frame_rate, levels = EXPECTED[family]
    assert codec.name == name
    assert codec.sample_rate == SAMPLE_RATE and codec.frame_rate == frame_rate
    assert codec.num_levels == levels and codec.codebook_size == 64
    generator = torch.Generator().manual_seed(1)
    wav = 0.3 * torch.randn(2, 2, 1234, generator=generator)  # stereo, not a whole frame count
    codes = codec.encode(wav, SAMPLE_RATE)
    assert codes.dtype == torch.long
    assert codes.shape == (2, levels, codec.num_frames(1234))
    assert abs(codes.shape[-1] - 1234 / SAMPLE_RATE * frame_rate) <= 1
    assert 0 <= int(codes.min()) and int(codes.max()) < 64
    assert len(codes.unique()) > 1
    hop = round(SAMPLE_RATE / frame_rate)
    for used in (1, levels):
        audio = codec.decode(codes[:, :used])
        assert audio.shape == (2, 1, codes.shape[-1] * hop)
        assert torch.isfinite(audio).all()
    # Mono mix-down and resampling happen before the model: same codes either way.
    mono = wav.mean(dim=1, keepdim=True)
    assert torch.equal(codec.encode(mono, SAMPLE_RATE), codes)
    from soundstorm.audio import resample

    upsampled = codec.encode(resample(mono, SAMPLE_RATE, 16000), 16000)
    assert upsampled.shape == codes.shape


@pytest.mark.parametrize("family", ["encodec", "dac", "mimi"])
def test_adapter_level_selection(saved_models, family):
    codec = get_codec(saved_models[family], num_levels=2)
    wav = 0.3 * torch.randn(1, 1, 800, generator=torch.Generator().manual_seed(2))
    codes = codec.encode(wav, SAMPLE_RATE)
    assert codec.num_levels == 2 and codes.shape[1] == 2
    full = get_codec(saved_models[family]).encode(wav, SAMPLE_RATE)
    assert torch.equal(codes, full[:, :2])  # residual quantization: a prefix of the full codes
    with pytest.raises(SoundStormError, match="levels"):
        codec.decode(full)  # 4 levels given to a 2-level codec
    with pytest.raises(SoundStormError, match="num_levels"):
        get_codec(saved_models[family], num_levels=5)


def test_get_codec_errors(tmp_path):
    with pytest.raises(SoundStormError, match="unknown codec 'wavenet'.*encodec.*dac.*mimi"):
        get_codec("wavenet")
    with pytest.raises(SoundStormError, match="not found"):
        get_codec(tmp_path / "missing.safetensors")
    with pytest.raises(SoundStormError, match="not a save_pretrained directory"):
        get_codec(tmp_path)  # a directory without config.json
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(SoundStormError, match="not a save_pretrained directory"):
        get_codec(tmp_path)


def test_hub_names_resolve_to_adapters_without_network(monkeypatch):
    from soundstorm.codecs import hf

    loaded = []

    def offline_loader(model_class_name, name_or_path, device):
        loaded.append((model_class_name, name_or_path))
        raise SoundStormError("offline")

    monkeypatch.setattr(hf, "_load_pretrained", offline_loader)
    for name, expected in [
        ("encodec", ("EncodecModel", "facebook/encodec_24khz")),
        ("facebook/encodec_48khz", ("EncodecModel", "facebook/encodec_48khz")),
        ("dac_16khz", ("DacModel", "descript/dac_16khz")),
        ("mimi", ("MimiModel", "kyutai/mimi")),
        ("kyutai/mimi", ("MimiModel", "kyutai/mimi")),
    ]:
        with pytest.raises(SoundStormError, match="offline"):
            get_codec(name)
        assert loaded[-1] == expected


@pytest.mark.parametrize("family", ["encodec", "dac", "mimi"])
def test_adapters_refuse_audio_under_one_frame_and_encode_one_frame(saved_models, family):
    from soundstorm.errors import AudioInputError, AudioTooShortError

    codec = get_codec(saved_models[family])
    hop = round(SAMPLE_RATE / codec.frame_rate)  # samples per frame
    frame_ms = 1000 / codec.frame_rate
    for num_samples in (0, 1, hop - 1):
        with pytest.raises(AudioTooShortError) as caught:
            codec.encode(0.3 * torch.ones(1, 1, num_samples), SAMPLE_RATE)
        assert str(caught.value) == (
            f"audio is {1000 * num_samples / SAMPLE_RATE:.1f} ms long, shorter than one codec "
            f"frame ({frame_ms:.1f} ms)"
        )
    one_frame = 0.3 * torch.randn(1, 1, hop, generator=torch.Generator().manual_seed(3))
    codes = codec.encode(one_frame, SAMPLE_RATE)
    assert codes.shape == (1, codec.num_levels, 1)
    assert codec.decode(codes).shape == (1, 1, hop)
    assert codec.encode(torch.zeros(1, 1, 4 * hop), SAMPLE_RATE).shape[-1] == 4  # silence
    with pytest.raises(AudioInputError, match="NaN or infinite"):
        codec.encode(torch.full((1, 1, 4 * hop), float("nan")), SAMPLE_RATE)
