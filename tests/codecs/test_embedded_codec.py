"""The embedded codec: fitted on generated audio, round trips, levels, file format."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from soundstorm.codecs import EmbeddedCodec, get_codec
from soundstorm.codecs.embedded import log_spectrogram
from soundstorm.errors import SoundStormError


def test_encode_shapes_rates_and_range(small_embedded_codec, speech):
    codec = small_embedded_codec
    assert (codec.sample_rate, codec.frame_rate) == (16000, 50.0)
    assert (codec.num_levels, codec.codebook_size) == (4, 32)
    wav = torch.stack([speech(1.0, seed=10), speech(1.0, seed=11)])[:, None]
    codes = codec.encode(wav[..., :15900], 16000)  # (2, 1, 15900): not a whole frame count
    assert codes.dtype == torch.long and codes.shape == (2, 4, 50)
    assert codes.shape[-1] == codec.num_frames(15900)
    assert 0 <= int(codes.min()) and int(codes.max()) < 32
    assert len(codes.unique()) > 8  # the codebooks are used, not a constant
    torch.nn.Embedding(32, 4)(codes).sum().backward()  # usable in training graphs
    audio = codec.decode(codes)
    assert audio.shape == (2, 1, 50 * 320) and audio.dtype == torch.float32
    assert torch.isfinite(audio).all()


def test_fewer_levels_decode_and_error_falls_with_levels(small_embedded_codec, speech):
    codec = small_embedded_codec
    wav = speech(3.0, seed=20)[None, None]  # held out: not a training seed
    codes = codec.encode(wav, 16000)
    target = log_spectrogram(wav[:, 0], codec.config)  # (1, T, D)
    errors = []
    for level in range(1, codec.num_levels + 1):
        decoded = codec.decode_log_spectrogram(codes[:, :level])
        errors.append(float((decoded - target).pow(2).mean()))
        assert codec.decode(codes[:, :level]).shape == (1, 1, codes.shape[-1] * 320)
    assert all(later < earlier for earlier, later in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.6 * errors[0]


def test_decoded_audio_matches_the_input_spectrum(small_embedded_codec, speech):
    codec = small_embedded_codec
    wav = speech(2.0, seed=21)[None, None]
    audio = codec.decode(codec.encode(wav, 16000))
    original = log_spectrogram(wav[:, 0], codec.config)
    rebuilt = log_spectrogram(audio[:, 0, : wav.shape[-1]], codec.config)
    silence = log_spectrogram(torch.zeros_like(wav[:, 0]) + 1e-4, codec.config)
    error = (rebuilt - original).pow(2).mean()
    assert error < 0.5 * (silence - original).pow(2).mean()
    assert error < 0.5 * (original - original.mean()).pow(2).mean()


def test_mono_and_resampling_at_the_boundary(small_embedded_codec, speech):
    codec = small_embedded_codec
    mono = speech(1.0, seed=30)
    stereo = torch.stack([mono, mono])[None]  # (1, 2, S): identical channels
    assert torch.equal(codec.encode(stereo, 16000), codec.encode(mono[None, None], 16000))
    from soundstorm.audio import resample

    at_48k = resample(mono, 16000, 48000)[None, None]
    codes_48k = codec.encode(at_48k, 48000)
    codes_16k = codec.encode(mono[None, None], 16000)
    assert codes_48k.shape == codes_16k.shape
    assert (codes_48k[:, 0] == codes_16k[:, 0]).float().mean() > 0.8  # same coarse codes
    assert codec.encode(mono, 16000).shape == (1, 4, 50)  # [S] accepted as one item


def test_save_load_round_trip_gives_identical_codes(small_embedded_codec, tmp_path, speech):
    path = tmp_path / "codec.safetensors"
    small_embedded_codec.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["codec.safetensors"]
    loaded = get_codec(path)
    assert isinstance(loaded, EmbeddedCodec) and loaded.config == small_embedded_codec.config
    wav = speech(1.5, seed=40)[None, None]
    codes = small_embedded_codec.encode(wav, 16000)
    assert torch.equal(loaded.encode(wav, 16000), codes)
    assert torch.equal(loaded.decode(codes), small_embedded_codec.decode(codes))
    two_levels = get_codec(str(path), num_levels=2)
    assert torch.equal(two_levels.encode(wav, 16000), codes[:, :2])


def test_load_rejects_other_versions_and_files(small_embedded_codec, tmp_path):
    path = tmp_path / "codec.safetensors"
    small_embedded_codec.save(path)
    tensors = load_file(path)
    with open(path, "rb") as handle:  # safetensors header: u64 length, then JSON
        length = int.from_bytes(handle.read(8), "little")
        metadata = json.loads(handle.read(length))["__metadata__"]
    save_file(tensors, tmp_path / "future.safetensors", {**metadata, "format_version": "999"})
    with pytest.raises(SoundStormError, match="version 999"):
        EmbeddedCodec.load(tmp_path / "future.safetensors")
    save_file(tensors, tmp_path / "other.safetensors", {"format": "something-else"})
    with pytest.raises(SoundStormError, match="not an embedded codec"):
        get_codec(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(SoundStormError):
        get_codec(tmp_path / "junk.safetensors")


def test_decode_checks_codes(small_embedded_codec):
    codec = small_embedded_codec
    with pytest.raises(SoundStormError, match="levels"):
        codec.decode(torch.zeros(1, 5, 10, dtype=torch.long))
    with pytest.raises(SoundStormError, match="out of range"):
        codec.decode(torch.full((1, 2, 10), 32))
    with pytest.raises(SoundStormError):
        codec.decode(torch.zeros(1, 2, 10))  # float codes
    with pytest.raises(SoundStormError, match="no frame"):
        codec.decode(torch.zeros(1, 2, 0, dtype=torch.long))  # used to fail inside a reshape


def test_fit_needs_enough_audio(speech):
    with pytest.raises(SoundStormError, match="at least 32 frames"):
        EmbeddedCodec.fit([speech(0.3)], 16000, num_levels=2, codebook_size=32)
    with pytest.raises(SoundStormError, match="no audio"):
        EmbeddedCodec.fit([], 16000)


def test_linear_spectrum_variant_round_trip(speech, tmp_path):
    wavs = [speech(3.0, seed=seed) for seed in range(4)]
    codec = EmbeddedCodec.fit(
        wavs, 16000, num_levels=3, codebook_size=16, num_iters=6, num_mels=0, griffin_lim_iters=4
    )
    assert codec.config.feature_dim == 321  # win_length // 2 + 1 bins
    wav = speech(1.0, seed=50)[None, None]
    codes = codec.encode(wav, 16000)
    assert codes.shape == (1, 3, 50)
    target = log_spectrogram(wav[:, 0], codec.config)  # (1, T, 321)
    errors = [
        float((codec.decode_log_spectrogram(codes[:, :q]) - target).pow(2).mean()) for q in (1, 3)
    ]
    assert errors[1] < errors[0]
    audio = codec.decode(codes)
    assert audio.shape == (1, 1, 50 * 320) and torch.isfinite(audio).all()
    codec.save(tmp_path / "mel.safetensors")
    assert torch.equal(get_codec(tmp_path / "mel.safetensors").encode(wav, 16000), codes)


@pytest.mark.parametrize(
    ("num_samples", "sample_rate", "message"),
    [
        (160, 16000, "audio is 10.0 ms long, shorter than one codec frame (20.0 ms)"),
        (319, 16000, "audio is 19.9 ms long, shorter than one codec frame (20.0 ms)"),
        (1, 16000, "audio is 0.1 ms long, shorter than one codec frame (20.0 ms)"),
        (0, 16000, "audio is 0.0 ms long, shorter than one codec frame (20.0 ms)"),
        (479, 24000, "audio is 20.0 ms long, shorter than one codec frame (20.0 ms)"),
    ],
)
def test_audio_under_one_frame_is_refused_in_one_line(
    small_embedded_codec, num_samples, sample_rate, message
):
    from soundstorm.errors import AudioTooShortError

    wav = 0.1 * torch.randn(1, 1, num_samples, generator=torch.Generator().manual_seed(0))
    with pytest.raises(AudioTooShortError) as caught:
        small_embedded_codec.encode(wav, sample_rate)
    assert str(caught.value) == message
    assert isinstance(caught.value, SoundStormError) and isinstance(caught.value, ValueError)
    assert caught.value.seconds == pytest.approx(num_samples / sample_rate)
    assert caught.value.frame_seconds == pytest.approx(0.02)


@pytest.mark.parametrize(("num_samples", "sample_rate"), [(320, 16000), (480, 24000)])
def test_one_frame_of_audio_encodes_and_decodes(
    small_embedded_codec, speech, num_samples, sample_rate
):
    # The centred STFT of the encoder and of Griffin-Lim needs more than half a window:
    # a clip of exactly one frame used to fail inside torch.stft's reflection padding.
    codec = small_embedded_codec
    wav = speech(0.1, sample_rate=sample_rate)[:num_samples][None, None]
    codes = codec.encode(wav, sample_rate)
    assert codes.shape == (1, 4, 1)
    assert 0 <= int(codes.min()) and int(codes.max()) < 32
    audio = codec.decode(codes)
    assert audio.shape == (1, 1, 320) and torch.isfinite(audio).all()
    longer = codec.encode(speech(0.1)[None, None], 16000)  # 5 frames
    assert torch.equal(codec.encode(speech(0.1)[:320][None, None], 16000), longer[..., :1])


def test_silent_and_non_finite_audio(small_embedded_codec):
    from soundstorm.errors import AudioInputError

    codec = small_embedded_codec
    codes = codec.encode(torch.zeros(1, 1, 16000), 16000)  # digital silence: valid codes
    assert codes.shape == (1, 4, 50) and 0 <= int(codes.min()) and int(codes.max()) < 32
    wav = torch.zeros(1, 1, 16000)
    wav[0, 0, 100] = float("inf")
    with pytest.raises(AudioInputError, match="NaN or infinite"):
        codec.encode(wav, 16000)
    with pytest.raises(SoundStormError, match="sample_rate must be positive"):
        codec.encode(torch.zeros(1, 1, 16000), 0)
