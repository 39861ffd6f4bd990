"""The contract every registered codec passes: shapes and dtypes, frame rate, determinism,
batch invariance, level prefixes, save/load, bad input.

Parametrised over ``registered_codecs()``: a codec added to the registry without a source in
``SOURCES`` fails ``test_every_registered_codec_has_a_contract_source``; ``VARIANTS`` adds
further sources of a kind (the version-2, HiFi-GAN embedded codec). Sources are tiny: the
embedded codecs fitted in the package fixtures, random ``transformers`` models saved to a
temporary directory (``saved_models``); nothing is downloaded.
"""

from __future__ import annotations

import json

import pytest
import torch

from soundstorm.codecs import get_codec, registered_codecs
from soundstorm.codecs.registry import CODEC_ALIASES, resolve_codec
from soundstorm.errors import AudioInputError, AudioTooShortError, SoundStormError


def _embedded_source(request, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("contract_embedded") / "codec.safetensors"
    request.getfixturevalue("small_embedded_codec").save(path)
    return str(path)


def _embedded_v2_source(request, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("contract_embedded_v2") / "codec.safetensors"
    request.getfixturevalue("small_embedded_v2_codec").save(path)
    return str(path)


def _saved_model(family: str):
    def source(request, tmp_path_factory) -> str:
        return request.getfixturevalue("saved_models")[family]

    return source


#: Registry name -> ``source(request, tmp_path_factory)`` giving what ``get_codec`` loads.
SOURCES = {
    "embedded": _embedded_source,
    "encodec": _saved_model("encodec"),
    "dac": _saved_model("dac"),
    "mimi": _saved_model("mimi"),
}
#: Further variants of a registered kind: ``variant -> (registry name, source)``.
VARIANTS = {"embedded-v2": ("embedded", _embedded_v2_source)}


@pytest.fixture(scope="module", params=list(registered_codecs()) + list(VARIANTS))
def case(request, tmp_path_factory):
    """``(name, source, codec)`` of one registered codec (or variant of one)."""
    name, make = VARIANTS.get(request.param, (request.param, SOURCES.get(request.param)))
    if make is None:
        pytest.fail(f"registered codec {name!r} has no contract source in {__file__}")
    source = make(request, tmp_path_factory)
    return name, source, get_codec(source)


def _hop(codec) -> int:
    return round(codec.sample_rate / codec.frame_rate)


def _audio(codec, num_samples: int, batch: int = 1, channels: int = 1, seed: int = 0):
    """Noise with a slow envelope at the codec's rate: ``[batch, channels, num_samples]``."""
    generator = torch.Generator().manual_seed(seed)
    envelope = 0.5 + 0.5 * torch.sin(torch.linspace(0, 6.0, num_samples))
    return 0.3 * envelope * torch.randn(batch, channels, num_samples, generator=generator)


def test_every_registered_codec_has_a_contract_source():
    assert set(registered_codecs()) == set(SOURCES)


def test_the_registry_resolves_source_and_aliases_to_the_kind(case):
    name, source, codec = case
    assert codec.name == name
    assert resolve_codec(source)[0].name == name
    entry = registered_codecs()[name]
    for alias in entry.aliases:
        assert resolve_codec(alias) == (entry, CODEC_ALIASES[alias])


def test_shapes_dtypes_and_ranges(case):
    _, _, codec = case
    num_samples = 7 * _hop(codec) + 3  # not a whole number of frames
    wav = _audio(codec, num_samples, batch=2, channels=2)
    codes = codec.encode(wav, codec.sample_rate)
    assert codes.dtype == torch.long
    assert codes.shape == (2, codec.num_levels, codec.num_frames(num_samples))
    assert 0 <= int(codes.min()) and int(codes.max()) < codec.codebook_size
    for used in (1, codec.num_levels):
        audio = codec.decode(codes[:, :used])
        assert audio.dtype == torch.float32
        assert audio.shape == (2, 1, codes.shape[-1] * _hop(codec))
        assert torch.isfinite(audio).all()


@pytest.mark.parametrize("frames", [1, 2.5, 7.9, 20])
def test_frames_follow_duration(case, frames):
    _, _, codec = case
    num_samples = int(frames * _hop(codec)) + (1 if frames == 20 else 0)
    codes = codec.encode(_audio(codec, num_samples), codec.sample_rate)
    assert codes.shape[-1] == codec.num_frames(num_samples)
    assert abs(codes.shape[-1] - num_samples / codec.sample_rate * codec.frame_rate) <= 1
    # Another sample rate: resampled first, about the same number of frames.
    other_rate = 2 * codec.sample_rate
    resampled = codec.encode(_audio(codec, 2 * num_samples), other_rate)
    assert abs(resampled.shape[-1] - codes.shape[-1]) <= 1


def test_encode_and_decode_are_deterministic(case):
    _, _, codec = case
    wav = _audio(codec, 12 * _hop(codec), seed=1)
    codes = codec.encode(wav, codec.sample_rate)
    assert torch.equal(codec.encode(wav, codec.sample_rate), codes)
    assert torch.equal(codec.decode(codes), codec.decode(codes))


def test_a_batch_equals_its_items_one_by_one(case):
    _, _, codec = case
    wav = _audio(codec, 10 * _hop(codec) + 1, batch=3, seed=2)
    batched = codec.encode(wav, codec.sample_rate)
    single = torch.cat([codec.encode(wav[i : i + 1], codec.sample_rate) for i in range(3)])
    assert (batched == single).float().mean() >= 0.99
    audio = codec.decode(batched)
    alone = torch.cat([codec.decode(batched[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(audio, alone, rtol=1e-4, atol=1e-4)


def test_fewer_levels_are_a_prefix_of_the_codes(case):
    _, source, codec = case
    wav = _audio(codec, 9 * _hop(codec), seed=3)
    codes = codec.encode(wav, codec.sample_rate)
    coarse = get_codec(source, num_levels=1)
    assert coarse.num_levels == 1
    assert torch.equal(coarse.encode(wav, codec.sample_rate), codes[:, :1])
    with pytest.raises(SoundStormError, match="levels"):
        coarse.decode(codes[:, :2]) if codec.num_levels > 1 else coarse.decode(codes[:, :0])


def test_save_load_round_trip(case, tmp_path):
    """A kind that saves (``save``) loads back identical; the others load reproducibly."""
    _, source, codec = case
    wav = _audio(codec, 8 * _hop(codec), batch=2, seed=4)
    codes = codec.encode(wav, codec.sample_rate)
    if hasattr(codec, "save"):
        codec.save(tmp_path / "again.safetensors")
        loaded = get_codec(tmp_path / "again.safetensors")
        assert loaded.content_digest() == codec.content_digest()
    else:
        loaded = get_codec(source)
    assert type(loaded) is type(codec)
    assert loaded.config_dict() == codec.config_dict()
    assert torch.equal(loaded.encode(wav, codec.sample_rate), codes)
    assert torch.equal(loaded.decode(codes), codec.decode(codes))


def test_config_dict_describes_the_codec(case):
    name, _, codec = case
    config = json.loads(json.dumps(codec.config_dict()))  # JSON-serialisable
    assert config["name"] == name
    assert config["sample_rate"] == codec.sample_rate
    assert config["frame_rate"] == codec.frame_rate
    assert config["num_levels"] == codec.num_levels
    assert config["codebook_size"] == codec.codebook_size


def test_bad_input_gives_the_documented_errors(case):
    _, _, codec = case
    hop = _hop(codec)
    with pytest.raises(AudioTooShortError, match="shorter than one codec frame"):
        codec.encode(_audio(codec, hop - 1), codec.sample_rate)
    with pytest.raises(AudioTooShortError):
        codec.encode(torch.zeros(1, 1, 0), codec.sample_rate)
    with pytest.raises(SoundStormError, match=r"\[B, C, S\]"):
        codec.encode(torch.zeros(1, 1, 1, 4 * hop), codec.sample_rate)
    with pytest.raises(SoundStormError, match="float tensor"):
        codec.encode(torch.zeros(1, 1, 4 * hop, dtype=torch.long), codec.sample_rate)
    with pytest.raises(SoundStormError, match="sample_rate"):
        codec.encode(_audio(codec, 4 * hop), 0)
    with pytest.raises(AudioInputError, match="NaN or infinite"):
        codec.encode(torch.full((1, 1, 4 * hop), float("nan")), codec.sample_rate)
    codes = codec.encode(_audio(codec, 4 * hop), codec.sample_rate)
    with pytest.raises(SoundStormError, match=r"\[B, Q, T\]"):
        codec.decode(codes[0])
    with pytest.raises(SoundStormError, match="out of range"):
        codec.decode(codes + codec.codebook_size)
    with pytest.raises(SoundStormError, match="no frame"):
        codec.decode(codes[..., :0])
