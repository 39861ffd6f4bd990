"""Tests of the HuBERT / w2v-BERT k-means tokenizers with tiny random models saved locally
(the ``tiny_models`` fixture of ``conftest.py``)."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_speech_models import HIDDEN, fit_clips, speechlike

from soundstorm.errors import SoundStormError
from soundstorm.semantic import get_semantic_tokenizer
from soundstorm.semantic.kmeans_tokenizer import (
    CONFIG_NAME,
    HubertKMeansTokenizer,
    W2VBertKMeansTokenizer,
)

transformers = pytest.importorskip("transformers")


CLASSES = [("hubert", HubertKMeansTokenizer), ("w2v-bert", W2VBertKMeansTokenizer)]


@pytest.fixture(scope="module", params=CLASSES, ids=[kind for kind, _ in CLASSES])
def fitted(request, tiny_models):
    kind, cls = request.param
    clips = fit_clips()
    tokenizer = cls.fit(tiny_models[kind], clips, 16000, layer=1, num_clusters=8)
    return kind, cls, tokenizer


def test_shapes_frame_rate_and_id_range(fitted) -> None:
    _, _, tokenizer = fitted
    wav = speechlike(2.0, 16000, seed=3, batch=2)
    tokens = tokenizer.tokenize(wav, 16000)
    assert tokenizer.frame_rate == 50
    assert tokenizer.vocab_size == 8
    assert tokens.dtype == torch.long
    assert tokens.shape[0] == 2
    assert abs(tokens.shape[1] - 2.0 * 50) <= 2
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 8


def test_frame_count_follows_duration_for_any_sample_rate(fitted) -> None:
    _, _, tokenizer = fitted
    for seconds, sample_rate in ((0.5, 16000), (1.0, 44100), (2.5, 24000)):
        tokens = tokenizer.tokenize(speechlike(seconds, sample_rate, seed=4), sample_rate)
        assert abs(tokens.shape[1] - seconds * 50) <= 2, (seconds, sample_rate)


def test_tokenize_is_k_means_of_the_layer_features(fitted) -> None:
    _, _, tokenizer = fitted
    wav = speechlike(1.0, 16000, seed=5, batch=2)
    features = tokenizer.features(wav, 16000)
    assert features.shape[-1] == HIDDEN
    distances = torch.cdist(features, tokenizer.kmeans.centroids[None].expand(2, -1, -1))
    assert torch.equal(tokenizer.tokenize(wav, 16000), distances.argmin(-1))


def test_batch_items_are_tokenized_independently(fitted) -> None:
    _, _, tokenizer = fitted
    wav = speechlike(0.6, 16000, seed=6, batch=3)
    batched = tokenizer.tokenize(wav, 16000)
    single = torch.cat([tokenizer.tokenize(wav[i : i + 1], 16000) for i in range(3)])
    assert (batched == single).float().mean() > 0.99


def test_channels_are_mixed_down(fitted) -> None:
    _, _, tokenizer = fitted
    mono = speechlike(0.5, 16000, seed=7)
    stereo = mono.repeat(1, 2, 1)
    assert torch.equal(tokenizer.tokenize(stereo, 16000), tokenizer.tokenize(mono, 16000))


def test_fit_uses_many_clusters_on_varied_audio(fitted) -> None:
    _, _, tokenizer = fitted
    tokens = tokenizer.tokenize(speechlike(1.5, 16000, seed=1), 16000)
    assert len(set(tokens.flatten().tolist())) >= 4


def test_save_load_gives_identical_tokens(fitted, tmp_path) -> None:
    kind, cls, tokenizer = fitted
    wav = speechlike(0.8, 22050, seed=8, batch=2)
    saved = tokenizer.save(tmp_path / "tok")
    config = json.loads((saved / CONFIG_NAME).read_text())
    assert config["kind"] == kind and config["layer"] == 1 and config["vocab_size"] == 8
    for loaded in (cls.load(saved), get_semantic_tokenizer(str(saved))):
        assert type(loaded) is cls
        assert torch.equal(loaded.tokenize(wav, 22050), tokenizer.tokenize(wav, 22050))
        assert loaded.config_dict() == tokenizer.config_dict() | {
            "model_name_or_path": config["model_name_or_path"]
        }


def test_load_with_moved_model(fitted, tiny_models, tmp_path) -> None:
    kind, cls, tokenizer = fitted
    saved = tokenizer.save(tmp_path / "tok")
    config = json.loads((saved / CONFIG_NAME).read_text())
    config["model_name_or_path"] = str(tmp_path / "moved_away")
    (saved / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(SoundStormError, match="no model directory"):
        get_semantic_tokenizer(saved)
    loaded = get_semantic_tokenizer(saved, model_name_or_path=tiny_models[kind])
    wav = speechlike(0.6, 16000, seed=9)
    assert torch.equal(loaded.tokenize(wav, 16000), tokenizer.tokenize(wav, 16000))


def test_layer_choice_changes_features(tiny_models) -> None:
    wav = speechlike(1.0, 16000, seed=10)
    first = HubertKMeansTokenizer(tiny_models["hubert"], layer=1).features(wav, 16000)
    last = HubertKMeansTokenizer(tiny_models["hubert"], layer=2).features(wav, 16000)
    assert first.shape == last.shape
    assert not torch.allclose(first, last)


def test_user_errors(tiny_models, tmp_path) -> None:
    with pytest.raises(SoundStormError, match="layer"):
        HubertKMeansTokenizer(tiny_models["hubert"], layer=3)
    with pytest.raises(SoundStormError, match="no model directory"):
        HubertKMeansTokenizer(str(tmp_path / "missing"), layer=1)
    with pytest.raises(SoundStormError, match="at least"):
        HubertKMeansTokenizer.fit(
            tiny_models["hubert"], speechlike(0.2, 16000, seed=0), 16000, 1, num_clusters=64
        )
    with pytest.raises(SoundStormError, match="no k-means"):
        HubertKMeansTokenizer(tiny_models["hubert"], layer=1).tokenize(
            speechlike(0.2, 16000, seed=0), 16000
        )


def test_loading_the_wrong_kind_fails(fitted, tmp_path) -> None:
    kind, _, tokenizer = fitted
    saved = tokenizer.save(tmp_path / "tok")
    other = W2VBertKMeansTokenizer if kind == "hubert" else HubertKMeansTokenizer
    with pytest.raises(SoundStormError, match="tokenizer, not"):
        other.load(saved)


def test_long_audio_is_processed_in_chunks(tiny_models) -> None:
    chunked = HubertKMeansTokenizer(tiny_models["hubert"], layer=1, chunk_seconds=1.0)
    whole = HubertKMeansTokenizer(tiny_models["hubert"], layer=1, chunk_seconds=None)
    wav = speechlike(2.6, 16000, seed=11)  # chunks of 1.0, 1.0 and 0.6 s
    features = chunked.features(wav, 16000)
    assert abs(features.shape[1] - whole.features(wav, 16000).shape[1]) <= 3
    first_second = whole.features(wav[..., :16000], 16000)
    assert torch.allclose(features[:, : first_second.shape[1]], first_second, atol=1e-5)
    with pytest.raises(SoundStormError, match="chunk_seconds"):
        HubertKMeansTokenizer(tiny_models["hubert"], layer=1, chunk_seconds=0.1)


def test_audio_under_one_frame_is_a_one_line_error(fitted) -> None:
    from soundstorm.errors import AudioTooShortError

    _, _, tokenizer = fitted
    with pytest.raises(AudioTooShortError) as caught:
        tokenizer.tokenize(speechlike(0.01, 16000, seed=0), 16000)
    assert str(caught.value) == ("audio is 10.0 ms long, shorter than one semantic frame (20.0 ms)")
    one_frame = tokenizer.tokenize(speechlike(0.02, 16000, seed=0), 16000)
    assert one_frame.shape[0] == 1 and one_frame.shape[1] >= 1
    assert int(one_frame.min()) >= 0 and int(one_frame.max()) < tokenizer.vocab_size
