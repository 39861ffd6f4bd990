"""DNSMOS, STOI and PESQ on flite speech and noise."""

from __future__ import annotations

import numpy as np
import pytest

from soundstorm.evaluate.quality import dnsmos, load_dnsmos, pesq_score, stoi_score


def _noisy(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(audio.size).astype(np.float32)
    scale = np.sqrt(np.mean(audio**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (audio + scale * noise).astype(np.float32)


def test_dnsmos_of_speech_beats_white_noise(speech):
    assert load_dnsmos() is load_dnsmos()
    speech_scores = dnsmos(speech["slt_fox"], 16_000)
    noise = 0.1 * np.random.default_rng(0).standard_normal(4 * 16_000).astype(np.float32)
    noise_scores = dnsmos(noise, 16_000)
    assert set(speech_scores) == {"ovrl", "sig", "bak", "p808"}
    for scores in (speech_scores, noise_scores):
        assert all(0.5 < value < 5.5 for value in scores.values())
    assert speech_scores["ovrl"] > noise_scores["ovrl"] + 0.5
    assert speech_scores["bak"] > noise_scores["bak"] + 0.5


def test_dnsmos_scores_long_audio_in_windows_and_rejects_silence(speech):
    long = np.concatenate([speech["slt_fox"], speech["slt_weather"], speech["slt_prompt"]])
    assert long.size > 10 * 16_000  # more than one 9.01 s window
    scores = dnsmos(long, 16_000)
    assert 1.0 < scores["ovrl"] < 5.0
    with pytest.raises(ValueError, match="all-zero"):
        dnsmos(np.zeros(16_000, dtype=np.float32), 16_000)


def test_stoi_and_pesq_fall_with_added_noise(speech):
    clean = speech["slt_fox"]
    faint, some, loud = _noisy(clean, 40.0), _noisy(clean, 20.0), _noisy(clean, -5.0)
    assert stoi_score(clean, clean, 16_000) > 0.99
    assert stoi_score(clean, some, 16_000) > stoi_score(clean, loud, 16_000) + 0.1
    assert stoi_score(clean, loud, 16_000, extended=True) < stoi_score(clean, loud, 16_000)
    # PESQ bottoms out near 1 for SNRs of 20 dB and below: compare in its useful range.
    assert pesq_score(clean, clean, 16_000) > 4.0
    assert pesq_score(clean, faint, 16_000) > pesq_score(clean, some, 16_000) + 0.5


def test_stoi_truncates_to_the_shorter_signal_and_rejects_tiny_input(speech):
    clean = speech["slt_fox"]
    assert stoi_score(clean, clean[:-800], 16_000) > 0.99
    with pytest.raises(ValueError, match="0.25 s"):
        stoi_score(clean[:1000], clean[:1000], 16_000)
