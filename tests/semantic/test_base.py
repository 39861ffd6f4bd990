"""Tests of the audio preparation shared by the semantic tokenizers."""

from __future__ import annotations

import math

import pytest
import torch

from soundstorm.errors import AudioInputError, AudioTooShortError, SoundStormError
from soundstorm.semantic.base import SemanticTokenizer, mono_resampled


def _tone(freq: float, seconds: float, sample_rate: int) -> torch.Tensor:
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    return torch.sin(2 * math.pi * freq * t)


def test_channels_are_averaged_and_rate_is_kept() -> None:
    left, right = _tone(200, 0.1, 16000), _tone(300, 0.1, 16000)
    wav = torch.stack([torch.stack([left, right])])  # (1, 2, S)
    out = mono_resampled(wav, 16000, 16000)
    assert out.shape == (1, left.numel())
    assert torch.allclose(out[0], (left + right) / 2)


@pytest.mark.parametrize(("source", "target"), [(24000, 16000), (44100, 16000), (8000, 16000)])
def test_resampling_keeps_duration_and_a_tone(source: int, target: int) -> None:
    wav = _tone(440, 0.5, source)[None, None].repeat(3, 1, 1)  # (3, 1, S)
    out = mono_resampled(wav, source, target)
    assert out.dtype == torch.float32
    assert out.shape[0] == 3 and abs(out.shape[1] - 0.5 * target) <= 1
    expected = _tone(440, out.shape[1] / target, target)[: out.shape[1]]
    middle = slice(200, out.shape[1] - 200)  # away from the filter's edge effects
    assert torch.allclose(out[0, middle], expected[middle], atol=0.02)
    assert torch.equal(out[0], out[2])


def test_bad_audio_is_a_user_error() -> None:
    with pytest.raises(SoundStormError, match=r"\[B, C, S\]"):
        mono_resampled(torch.zeros(2, 100), 16000, 16000)
    with pytest.raises(SoundStormError, match="sample_rate"):
        mono_resampled(torch.zeros(1, 1, 100), -5, 16000)
    assert mono_resampled(torch.zeros(2, 1, 0), 24000, 16000).shape == (2, 0)


class _CountingTokenizer(SemanticTokenizer):
    """Tokenizer stand-in: one id per 40 ms, counting the calls that reach ``_tokenize``."""

    name = "counting"
    frame_rate = 25.0
    vocab_size = 4

    def __init__(self) -> None:
        self.calls = 0

    def _tokenize(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        self.calls += 1
        frames = max(1, round(wav.shape[-1] / sample_rate * self.frame_rate))
        return torch.zeros(wav.shape[0], frames, dtype=torch.long)


def test_tokenize_refuses_audio_under_one_frame_before_the_tokenizer_runs() -> None:
    tokenizer = _CountingTokenizer()
    for num_samples in (0, 1, 639):  # one 25 Hz frame is 640 samples at 16 kHz
        with pytest.raises(AudioTooShortError) as caught:
            tokenizer.tokenize(torch.zeros(1, 1, num_samples), 16000)
        assert str(caught.value).endswith("shorter than one semantic frame (40.0 ms)")
        assert str(caught.value).startswith(f"audio is {num_samples / 16:.1f} ms long")
    assert tokenizer.calls == 0
    assert tokenizer.tokenize(torch.zeros(2, 1, 640), 16000).shape == (2, 1)
    assert tokenizer.tokenize(torch.zeros(1, 2, 960), 24000).shape == (1, 1)
    with pytest.raises(AudioInputError, match="NaN or infinite"):
        tokenizer.tokenize(torch.full((1, 1, 16000), float("nan")), 16000)
    with pytest.raises(SoundStormError, match=r"\[B, C, S\]"):
        tokenizer.tokenize(torch.zeros(640), 16000)
    with pytest.raises(SoundStormError, match="sample_rate"):
        tokenizer.tokenize(torch.zeros(1, 1, 640), 0)
    assert tokenizer.calls == 2
