"""The contract every registered semantic tokenizer passes: shapes and dtypes, frame rate,
determinism, batch invariance, save/load where the kind saves, bad input.

Parametrised over the registry: every built-in name (``registered_semantic_tokenizers``) and
every saved kind (``saved_kinds``). A member without a source in ``SOURCES`` fails
``test_every_registered_tokenizer_has_a_contract_source``. Saved kinds are fitted here on
tiny random models (``tiny_models``) through the generic features + k-means API, saved, and
loaded back by ``get_semantic_tokenizer(directory)``; audio is kept short (PocketSphinx).
"""

from __future__ import annotations

import json

import pytest
import torch
from tiny_speech_models import fit_clips, speechlike

from soundstorm.errors import AudioInputError, AudioTooShortError, SoundStormError
from soundstorm.semantic import FeaturesKMeansTokenizer, get_semantic_tokenizer
from soundstorm.semantic.registry import (
    feature_extractor_entry,
    registered_semantic_tokenizers,
    saved_kinds,
)


def _builtin(name: str):
    def source(request, tmp_path_factory):
        pytest.importorskip("pocketsphinx")
        return name, None

    return source


def _fitted(kind: str, settings, needs_tiny_models: bool = True):
    """Fit features + k-means on the registered extractor of ``kind``, save, return the dir."""

    def source(request, tmp_path_factory):
        models = request.getfixturevalue("tiny_models") if needs_tiny_models else None
        extractor = feature_extractor_entry(kind).build(settings(models))
        clips = fit_clips()
        tokenizer = FeaturesKMeansTokenizer.fit(extractor, clips, 16000, num_clusters=8)
        directory = tokenizer.save(tmp_path_factory.mktemp(f"contract_{kind}"))
        return str(directory), directory

    return source


#: Registry member -> ``source(request, tmp_path_factory) -> (name or directory, saved dir)``.
SOURCES = {
    ("name", "phones"): _builtin("phones"),
    ("name", "phones-words"): _builtin("phones-words"),
    ("name", "phones-moonshine"): _builtin("phones-moonshine"),
    ("saved", "hubert"): _fitted(
        "hubert", lambda models: {"model_name_or_path": models["hubert"], "layer": 1}
    ),
    ("saved", "w2v-bert"): _fitted(
        "w2v-bert", lambda models: {"model_name_or_path": models["w2v-bert"], "layer": 1}
    ),
    ("saved", "moonshine"): _fitted("moonshine", lambda models: {}, needs_tiny_models=False),
}

MEMBERS = [("name", n) for n in registered_semantic_tokenizers()] + [
    ("saved", k) for k in saved_kinds()
]


@pytest.fixture(scope="module", params=MEMBERS, ids=[f"{a}:{b}" for a, b in MEMBERS])
def case(request, tmp_path_factory):
    """``(member, tokenizer, saved directory or None)`` of one registry member."""
    if request.param not in SOURCES:
        pytest.fail(f"registered semantic tokenizer {request.param} has no contract source")
    spec, saved = SOURCES[request.param](request, tmp_path_factory)
    return request.param, get_semantic_tokenizer(spec), saved


def test_every_registered_tokenizer_has_a_contract_source():
    assert set(MEMBERS) == set(SOURCES)


def test_shapes_dtypes_and_id_range(case):
    _, tokenizer, _ = case
    tokens = tokenizer.tokenize(speechlike(0.6, 16000, seed=3, batch=2), 16000)
    assert tokens.dtype == torch.long and tokens.dim() == 2 and tokens.shape[0] == 2
    assert 0 <= int(tokens.min()) and int(tokens.max()) < tokenizer.vocab_size
    assert tokens.device.type == "cpu"


@pytest.mark.parametrize(("seconds", "sample_rate"), [(0.37, 22050), (0.5, 16000), (0.81, 24000)])
def test_frames_follow_duration(case, seconds, sample_rate):
    _, tokenizer, _ = case
    wav = speechlike(seconds, sample_rate, seed=4)
    tokens = tokenizer.tokenize(wav, sample_rate)
    expected = wav.shape[-1] / sample_rate * tokenizer.frame_rate
    assert abs(tokens.shape[1] - expected) <= 2, (tokens.shape, expected)


def test_tokenize_is_deterministic(case):
    _, tokenizer, _ = case
    wav = speechlike(0.5, 16000, seed=5)
    assert torch.equal(tokenizer.tokenize(wav, 16000), tokenizer.tokenize(wav, 16000))


def test_a_batch_equals_its_items_one_by_one(case):
    _, tokenizer, _ = case
    wav = speechlike(0.45, 16000, seed=6, batch=3)
    batched = tokenizer.tokenize(wav, 16000)
    single = torch.cat([tokenizer.tokenize(wav[i : i + 1], 16000) for i in range(3)])
    assert batched.shape == single.shape
    assert (batched == single).float().mean() >= 0.99


def test_channels_are_mixed_down(case):
    _, tokenizer, _ = case
    mono = speechlike(0.4, 16000, seed=7)
    assert torch.equal(
        tokenizer.tokenize(mono.repeat(1, 2, 1), 16000), tokenizer.tokenize(mono, 16000)
    )


def test_save_load_round_trip(case, tmp_path):
    """A kind that saves loads back identical (by name or by the registry); built-in names
    are rebuilt identical from their name."""
    member, tokenizer, _ = case
    wav = speechlike(0.5, 22050, seed=8, batch=2)
    if hasattr(tokenizer, "save"):
        loaded = get_semantic_tokenizer(tokenizer.save(tmp_path / "again"))
    else:
        loaded = get_semantic_tokenizer(member[1])
    assert type(loaded) is type(tokenizer)
    assert loaded.config_dict() == tokenizer.config_dict()
    assert torch.equal(loaded.tokenize(wav, 22050), tokenizer.tokenize(wav, 22050))


def test_config_dict_describes_the_tokenizer(case):
    _, tokenizer, saved = case
    config = json.loads(json.dumps(tokenizer.config_dict()))  # JSON-serialisable
    assert config["name"] == tokenizer.name
    assert config["frame_rate"] == tokenizer.frame_rate
    assert config["vocab_size"] == tokenizer.vocab_size
    if saved is not None:
        assert json.loads((saved / "semantic_tokenizer.json").read_text())["kind"] == config["kind"]


def test_bad_input_gives_the_documented_errors(case):
    _, tokenizer, _ = case
    frame = 16000 / tokenizer.frame_rate  # samples per semantic frame at 16 kHz
    with pytest.raises(AudioTooShortError, match="shorter than one semantic frame"):
        tokenizer.tokenize(speechlike(0.5, 16000)[..., : int(frame) - 1], 16000)
    with pytest.raises(AudioTooShortError):
        tokenizer.tokenize(torch.zeros(1, 1, 0), 16000)
    with pytest.raises(SoundStormError, match=r"\[B, C, S\]"):
        tokenizer.tokenize(torch.zeros(16000), 16000)
    with pytest.raises(SoundStormError, match=r"\[B, C, S\]"):
        tokenizer.tokenize(torch.zeros(1, 1, 1, 16000), 16000)
    with pytest.raises(SoundStormError, match="sample_rate"):
        tokenizer.tokenize(torch.zeros(1, 1, 16000), 0)
    with pytest.raises(AudioInputError, match="NaN or infinite"):
        tokenizer.tokenize(torch.full((1, 1, 16000), float("nan")), 16000)
