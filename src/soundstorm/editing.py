"""Speech editing: say new words in the middle of a recording, in the recording's voice.

SoundStorm fills masked codec tokens given everything else (§3.3-3.4), so it can regenerate a
span of a recording with the frames before and after it known, not only continue a prefix::

    recording  [ before  |  old span  |  after ]
    cond       [ sem(before) | sem(new content) | sem(after) ]   (the span takes the new
    known      [ codec(before) |   (generated)  | codec(after) ]  content's duration)

The semantic tokens of the recording are computed on the whole recording (in context); those
of the new content (a recording of the new words, or text timed by a flite / festival voice)
replace the old span's, so the edited recording is longer or shorter by the difference. The
codec tokens before and after are kept exactly and the whole token sequence is decoded in one
call, so the seams are whatever the codec's decoder makes of adjacent frames: nothing is
cross-faded.

Example (the library behind ``soundstorm edit``)::

    pipeline = VoicePipeline.from_directory(default_model_dir())
    request = make_edit_request(pipeline, wav, rate, start=0.52, end=0.84, text="window")
    codes = edit_speech(pipeline, [request], generator=torch.Generator().manual_seed(0))[0]
    audio = pipeline.decode(codes)  # [1, S] at pipeline.codec.sample_rate

With ``DecodeOptions.guidance_scale > 0`` the known frames are what guidance contrasts with
(classifier-free guidance on the prompt, ``soundstorm.decoding``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from soundstorm.decoding import DecodeOptions
from soundstorm.errors import SoundStormError
from soundstorm.semantic.text import DEFAULT_TEXT_VOICE
from soundstorm.validation import require_real


class EditSpanError(SoundStormError, ValueError):
    """A span that cannot be edited: start >= end, outside the audio, or under one frame."""


@dataclass
class EditRequest:
    """One tokenized edit.

    Attributes:
        cond: ``LongTensor[T]`` semantic ids of the edited recording (before, new content,
            after) at the codec frame rate.
        known: ``LongTensor[Q, T]`` codec tokens of the recording before and after the span
            (0 inside it).
        span: ``(start, end)``: frames ``[start, end)`` of the new content in the edited
            recording (``end - start`` = the new content's frames).
        window: ``(first, last)``: frames ``[first, last)`` the model sees (the span and up to
            ``context_seconds`` of known frames on each side; all frames by default).
    """

    cond: torch.Tensor
    known: torch.Tensor
    span: tuple[int, int]
    window: tuple[int, int]

    @property
    def num_frames(self) -> int:
        """Frames of the edited recording."""
        return int(self.cond.shape[-1])

    @property
    def known_frames(self) -> torch.Tensor:
        """``BoolTensor[T]``: True outside the span."""
        frames = torch.arange(self.num_frames)
        return (frames < self.span[0]) | (frames >= self.span[1])


def span_frames(
    start: float,
    end: float,
    duration: float,
    frame_rate: float | None = None,
    num_frames: int | None = None,
) -> tuple[int, int]:
    """The codec frames ``[first, last)`` of the span ``[start, end)`` seconds of a recording.

    Args:
        start, end: the span in seconds from the beginning of the recording.
        duration: the recording's length in seconds.
        frame_rate: codec frames per second (None: only the checks in seconds are made, and
            ``(0, 0)`` is returned; the command checks a span before the model loads).
        num_frames: the recording's codec frames (default ``ceil(duration * frame_rate)``);
            ``last`` is clipped to it.

    Returns:
        ``(first, last)`` = ``(round(start * rate), round(end * rate))``, ``last > first``.

    Raises:
        EditSpanError: (one line) ``start`` or ``end`` not a finite number, ``start >= end``,
            a span outside ``[0, duration]``, or one that covers no codec frame.
    """
    try:
        start = require_real("start", start)
        end = require_real("end", end)
    except ValueError as error:
        raise EditSpanError(f"edit span: {error}") from None
    if start >= end:
        raise EditSpanError(f"the edit span must start before it ends, got {start:g} to {end:g} s")
    if start < 0 or end > duration + 1e-6:
        raise EditSpanError(
            f"the edit span {start:g} to {end:g} s lies outside the audio (0 to {duration:.3f} s)"
        )
    if frame_rate is None:
        return 0, 0
    if num_frames is None:
        num_frames = max(1, math.ceil(duration * frame_rate))
    first = min(round(start * frame_rate), num_frames)
    last = min(round(end * frame_rate), num_frames)
    if last <= first:
        raise EditSpanError(
            f"the edit span {start:g} to {end:g} s is shorter than one codec frame "
            f"({1000 / frame_rate:.1f} ms at {frame_rate:g} frames/s)"
        )
    return first, last


def make_edit_request(
    pipeline,
    recording: torch.Tensor,
    sample_rate: int,
    start: float,
    end: float,
    *,
    content: torch.Tensor | None = None,
    content_rate: int | None = None,
    text: str | None = None,
    text_voice: str = DEFAULT_TEXT_VOICE,
    context_seconds: float | None = None,
    trim_silence: bool = True,
    recording_source: str | Path | None = None,
    content_source: str | Path | None = None,
) -> EditRequest:
    """Tokenize an edit: the recording's tokens with ``[start, end)`` replaced by new content.

    Args:
        pipeline: a ``soundstorm.pipeline.VoicePipeline`` (model, codec, semantic tokenizer).
        recording: ``[C, S]`` audio to edit.
        sample_rate: its sample rate (Hz).
        start, end: the span to replace, in seconds.
        content: ``[C, S']`` audio of the new words (exactly one of ``content`` and ``text``);
            cut it to the words: its silences are content too.
        content_rate: its sample rate (Hz).
        text: the new words as text, timed by the flite / festival voice ``text_voice`` (the
            model must use phone ids, as ``VoicePipeline.make_text_request`` requires).
        text_voice: the voice that times ``text``.
        context_seconds: known audio the model sees on each side of the span (None: all of
            the recording; the rest is kept all the same).
        trim_silence: drop the new content's leading and trailing silence frames (phone
            tokenizers only: the silence id; a synthesiser's pauses around ``text``, or those
            of a word recorded alone, would otherwise become pauses in the sentence). At
            least one frame is kept.
        recording_source, content_source: files named in audio errors.

    Returns:
        The ``EditRequest``.

    Raises:
        EditSpanError: a bad span (see ``span_frames``).
        SoundStormError: not exactly one of ``content`` and ``text``; unusable audio (named).
        ValueError: a bad ``context_seconds`` or sample rate.
    """
    from soundstorm.audio import naming_audio_errors
    from soundstorm.data.encoding import encode_waveform

    if (content is None) == (text is None):
        raise SoundStormError("an edit needs new content: give content audio or text (one)")
    duration = recording.shape[-1] / sample_rate
    span_frames(start, end, duration)  # a bad span fails before any tokenizing
    if context_seconds is not None:
        context_seconds = require_real("context_seconds", context_seconds, minimum=0.0)
    num_levels = pipeline.engine.config.num_levels
    with naming_audio_errors(recording_source):
        codes, semantic = encode_waveform(
            pipeline.codec, pipeline.tokenizer, recording, sample_rate
        )
    codes = torch.from_numpy(codes.astype("int64"))[:num_levels]  # (Q, T_rec)
    semantic = torch.from_numpy(semantic.astype("int64"))  # (T_rec,)
    frame_rate = pipeline.codec.frame_rate
    first, last = span_frames(start, end, duration, frame_rate, num_frames=codes.shape[-1])
    if text is not None:
        new = pipeline.make_text_request(text, voice=text_voice).cond  # (T_new,)
    else:
        new = pipeline.make_request(content, content_rate, content_source=content_source).cond
    if trim_silence:
        new = trim_silence_frames(new, pipeline.tokenizer)
    cond = torch.cat([semantic[:first], new, semantic[last:]])
    known = torch.cat(
        [codes[:, :first], torch.zeros(num_levels, len(new), dtype=torch.long), codes[:, last:]],
        dim=1,
    )
    span = (first, first + len(new))
    window = (0, len(cond))
    if context_seconds is not None:
        context = round(context_seconds * frame_rate)
        window = (max(0, span[0] - context), min(len(cond), span[1] + context))
    return EditRequest(cond, known, span, window)


def edit_speech(
    pipeline,
    requests: Sequence[EditRequest],
    *,
    options: DecodeOptions | None = None,
    generator: torch.Generator | None = None,
) -> list[torch.Tensor]:
    """Generate the spans of a batch of edits in one padded call.

    Each request's window (span plus known context) is one row of the batch; its known frames
    are returned unchanged (``GenerationEngine.generate(known=..., known_frames=...)``) and
    only the span's frames count in the decoding schedule.

    Args:
        pipeline: the ``VoicePipeline`` the requests were made with.
        requests: from ``make_edit_request``.
        options: how to decode, completed by ``pipeline.recommended_options`` (the model's
            first-level steps); ``guidance_scale > 0`` doubles each pass's batch.
        generator: random generator on the engine's device.

    Returns:
        Per request, ``LongTensor[Q, T]``: the edited recording's codec tokens (decode them
        with ``pipeline.decode``).
    """
    if not requests:
        return []
    options = pipeline.recommended_options(options)
    engine = pipeline.engine
    sizes = [r.window[1] - r.window[0] for r in requests]
    longest = max(sizes)
    num_levels = engine.config.num_levels
    cond = torch.zeros(len(requests), longest, dtype=torch.long)
    known = torch.zeros(len(requests), num_levels, longest, dtype=torch.long)
    known_frames = torch.zeros(len(requests), longest, dtype=torch.bool)
    for row, r in enumerate(requests):
        first, last = r.window
        cond[row, : last - first] = r.cond[first:last]
        known[row, :, : last - first] = r.known[:, first:last]
        known_frames[row, : last - first] = r.known_frames[first:last]
    codes = engine.generate(
        cond.to(engine.device),
        lengths=torch.tensor(sizes, device=engine.device),
        known=known.to(engine.device),
        known_frames=known_frames.to(engine.device),
        options=options,
        generator=generator,
    ).cpu()
    results = []
    for row, r in enumerate(requests):
        first, last = r.window
        edited = r.known.clone()
        edited[:, first:last] = codes[row, :, : last - first]
        results.append(edited)
    return results


def trim_silence_frames(cond: torch.Tensor, tokenizer) -> torch.Tensor:
    """``cond [T]`` without its leading and trailing silence ids (phone tokenizers only).

    Args:
        cond: ``LongTensor[T]`` semantic ids at the codec frame rate.
        tokenizer: the pipeline's semantic tokenizer; others than ``PhoneTokenizer`` have no
            silence id and get ``cond`` back unchanged.

    Returns:
        ``LongTensor[T']``, ``1 <= T' <= T`` (all silence: the middle frame).
    """
    from soundstorm.semantic.phones import SILENCE_ID, PhoneTokenizer

    if not isinstance(tokenizer, PhoneTokenizer):
        return cond
    speech = (cond != SILENCE_ID).nonzero().flatten()
    if speech.numel() == 0:
        middle = len(cond) // 2
        return cond[middle : middle + 1]
    return cond[int(speech[0]) : int(speech[-1]) + 1]
