"""Speaker similarity with Resemblyzer on flite voices."""

from __future__ import annotations

import numpy as np
import pytest

from soundstorm.audio import resample_array as resample
from soundstorm.evaluate.speaker import (
    cosine_similarity,
    load_speaker_encoder,
    speaker_embedding,
    speaker_embeddings,
    speaker_similarity,
    voice_similarity_levels,
)


def test_encoder_is_loaded_once():
    assert load_speaker_encoder() is load_speaker_encoder()


def test_embedding_is_unit_norm_and_independent_of_input_rate(speech):
    audio = speech["slt_fox"]
    embedding = speaker_embedding(audio, 16_000)
    assert embedding.shape == (256,) and embedding.dtype == np.float32
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-4)
    at_24k = resample(audio, 16_000, 24_000)
    assert cosine_similarity(embedding, speaker_embedding(at_24k[None, :], 24_000)) > 0.98


def test_batched_embeddings_equal_one_by_one(speech):
    wavs = [speech["slt_fox"], speech["awb_fox"][:8000], speech["rms_weather"]]
    batched = speaker_embeddings(wavs, 16_000)
    single = np.stack([speaker_embedding(w, 16_000) for w in wavs])
    assert batched.shape == (3, 256)
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_same_voice_scores_higher_than_different_voices(speech):
    same = speaker_similarity(speech["slt_fox"], speech["slt_weather"])
    slt_vs_awb = speaker_similarity(speech["slt_fox"], speech["awb_fox"])
    slt_vs_rms = speaker_similarity(speech["slt_weather"], speech["rms_weather"])
    assert same > slt_vs_awb + 0.1
    assert same > slt_vs_rms + 0.1


def test_voice_similarity_levels_separate_same_and_different_voices(speech):
    levels = voice_similarity_levels(
        {
            "slt": [speech["slt_fox"], speech["slt_weather"], speech["slt_prompt"]],
            "awb": [speech["awb_fox"]],
            "rms": [speech["rms_weather"]],
        }
    )
    assert levels.same_voice_pairs == 3  # slt: 3 choose 2
    assert levels.different_voice_pairs == 3 * 1 + 3 * 1 + 1 * 1
    assert levels.same_voice_min > levels.different_voice_max
    assert levels.same_voice_mean > levels.different_voice_mean
    assert set(levels.to_dict()) >= {"same_voice_mean", "different_voice_mean"}


def test_voice_similarity_levels_need_pairs_of_both_kinds(speech):
    with pytest.raises(ValueError, match="two utterances"):
        voice_similarity_levels({"slt": [speech["slt_fox"], speech["slt_weather"]]})
    with pytest.raises(ValueError, match="two utterances"):
        voice_similarity_levels({"slt": [speech["slt_fox"]], "awb": [speech["awb_fox"]]})


def test_cosine_similarity_rejects_zero_vectors_and_empty_audio():
    with pytest.raises(ValueError):
        cosine_similarity(np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="empty"):
        speaker_embedding(np.zeros(0, dtype=np.float32), 16_000)
