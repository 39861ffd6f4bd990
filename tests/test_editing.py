"""Speech editing (``soundstorm.editing``): spans, request layout, known frames kept, and an
edit whose span reaches the end is exactly a prompted generation."""

from __future__ import annotations

import pytest
import torch

from soundstorm.decoding import DecodeOptions
from soundstorm.editing import (
    EditRequest,
    EditSpanError,
    edit_speech,
    make_edit_request,
    span_frames,
    trim_silence_frames,
)
from soundstorm.semantic.phones import SILENCE_ID

from tests.voice_fakes import SR, tone

GREEDY = DecodeOptions(steps=3, temperature=0.0, choice_temperature=0.0)


@pytest.fixture(scope="module")
def pipeline(voice_model_dir):
    from soundstorm.pipeline import VoicePipeline

    return VoicePipeline.from_directory(voice_model_dir)


@pytest.fixture(scope="module")
def recording():
    return torch.from_numpy(tone(2.0, 5))[None]  # (1, S): 2 s, 100 codec frames


def test_span_frames_round_to_codec_frames():
    assert span_frames(0.5, 0.9, 2.0, 50) == (25, 45)
    assert span_frames(0.0, 2.0, 2.0, 50) == (0, 100)
    assert span_frames(1.9, 2.0, 2.0, 50, num_frames=98) == (95, 98), "clipped to the frames"
    assert span_frames(0.5, 0.9, 2.0) == (0, 0), "checks in seconds only"


@pytest.mark.parametrize(
    "start, end, message",
    [
        (0.9, 0.5, "must start before it ends"),
        (0.5, 0.5, "must start before it ends"),
        (-0.1, 0.5, "outside the audio"),
        (1.5, 2.5, "outside the audio"),
        (0.5, 0.505, "shorter than one codec frame"),
        (float("nan"), 0.5, "start must be a finite number"),
    ],
)
def test_bad_spans_are_one_line_errors(start, end, message):
    with pytest.raises(EditSpanError, match=message) as caught:
        span_frames(start, end, 2.0, 50)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_trim_silence_frames_keeps_the_words():
    class Phones:  # stands in for a PhoneTokenizer
        pass

    cond = torch.tensor([SILENCE_ID, SILENCE_ID, 5, SILENCE_ID, 7, SILENCE_ID])
    assert torch.equal(trim_silence_frames(cond, Phones()), cond), "other tokenizers: unchanged"
    from soundstorm.semantic import PhoneTokenizer

    phones = PhoneTokenizer.__new__(PhoneTokenizer)
    assert trim_silence_frames(cond, phones).tolist() == [5, SILENCE_ID, 7]
    assert trim_silence_frames(torch.full((4,), SILENCE_ID), phones).tolist() == [SILENCE_ID]


def test_request_layout_and_known_frames_kept(pipeline, recording):
    from soundstorm.data.encoding import encode_waveform

    content = torch.from_numpy(tone(0.62, 9))[None]  # 31 frames of new content
    request = make_edit_request(
        pipeline, recording, SR, 0.5, 0.9, content=content, content_rate=SR, trim_silence=False
    )
    codes, semantic = encode_waveform(pipeline.codec, pipeline.tokenizer, recording, SR)
    codes = torch.from_numpy(codes.astype("int64"))[: pipeline.engine.config.num_levels]
    semantic = torch.from_numpy(semantic.astype("int64"))
    new = pipeline.make_request(content, SR).cond
    assert request.span == (25, 25 + 31) and len(new) == 31
    assert request.num_frames == 100 - 20 + 31 and request.window == (0, 111)
    assert torch.equal(request.cond, torch.cat([semantic[:25], new, semantic[45:]]))
    assert torch.equal(request.known[:, :25], codes[:, :25])
    assert torch.equal(request.known[:, 56:], codes[:, 45:])
    assert request.known_frames.tolist() == [True] * 25 + [False] * 31 + [True] * 55

    for options in (GREEDY, DecodeOptions(steps=3, guidance_scale=1.0)):
        edited = edit_speech(
            pipeline, [request], options=options, generator=torch.Generator().manual_seed(0)
        )[0]
        assert edited.shape == request.known.shape
        known = request.known_frames
        assert torch.equal(edited[:, known], request.known[:, known]), "known frames unchanged"
        assert ((edited >= 0) & (edited < pipeline.codec.codebook_size)).all()
    samples_per_frame = pipeline.codec.sample_rate / pipeline.codec.frame_rate
    assert abs(pipeline.decode(edited).shape[-1] - 111 * samples_per_frame) <= samples_per_frame


def test_an_edit_to_the_end_with_the_original_content_is_a_prompted_generation(pipeline, recording):
    """Known frames only before the span = a prefix prompt: the greedy tokens agree exactly,
    also when several edits of different lengths share a padded batch."""
    from soundstorm.data.encoding import encode_waveform

    codes, semantic = encode_waveform(pipeline.codec, pipeline.tokenizer, recording, SR)
    num_levels = pipeline.engine.config.num_levels
    codes = torch.from_numpy(codes.astype("int64"))[:num_levels]
    semantic = torch.from_numpy(semantic.astype("int64"))
    requests = [
        EditRequest(semantic[:length], codes[:, :length], (start, length), (0, length))
        for start, length in ((60, 100), (30, 80))
    ]
    edited = edit_speech(pipeline, requests, options=GREEDY)
    for request, tokens in zip(requests, edited):
        start, length = request.span
        prompted = pipeline.engine.generate(
            semantic[None, :length], prompt=codes[None, :, :start], options=GREEDY
        )[0]
        assert torch.equal(tokens, prompted)
        assert torch.equal(tokens[:, :start], codes[:, :start])


def test_context_window_limits_what_the_model_sees(pipeline, recording):
    content = torch.from_numpy(tone(0.3, 4))[None]
    request = make_edit_request(
        pipeline, recording, SR, 1.0, 1.2, content=content, content_rate=SR, context_seconds=0.2
    )
    first, last = request.span
    assert request.window == (first - 10, last + 10)
    edited = edit_speech(pipeline, [request], options=GREEDY)[0]
    w0, w1 = request.window
    alone = pipeline.engine.generate(
        request.cond[None, w0:w1],
        known=request.known[None, :, w0:w1],
        known_frames=request.known_frames[None, w0:w1],
        options=GREEDY,
    )[0]
    assert torch.equal(edited[:, w0:w1], alone)
    assert torch.equal(edited[:, request.known_frames], request.known[:, request.known_frames])


def test_an_edit_needs_exactly_one_kind_of_content(pipeline, recording):
    from soundstorm.errors import SoundStormError

    with pytest.raises(SoundStormError, match="give content audio or text"):
        make_edit_request(pipeline, recording, SR, 0.5, 0.9)
    with pytest.raises(EditSpanError, match="outside the audio"):
        make_edit_request(pipeline, recording, SR, 0.5, 2.9, text="word")
