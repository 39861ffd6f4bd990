"""Semantic tokens from text: a speech synthesiser's front end instead of a content recording.

The default semantic tokens (:mod:`soundstorm.semantic.phones`) are one ARPAbet phone id per
frame. A rule-based synthesiser's front end predicts exactly that from text: which phones, and
how long each lasts. ``flite -psdur`` prints every phone's end time and festival's
``utt.save.segs`` writes them; :mod:`soundstorm.corpus.voices` runs both (the corpus voices).
Here those phone times become frame ids in the same 41-id vocabulary (:data:`PHONES`), so a
SoundStorm trained on phone tokens can say any text in the voice of its prompt::

    tokens = text_to_semantic("Hello world.", frame_rate=50)  # LongTensor[T], T ~ 62
    print(PhoneTokenizer.phone_names(tokens))                  # ['SIL', ..., 'HH', 'AH', ...]

The synthesised waveform itself is thrown away; only its length and phone times are kept.
Voices (:data:`TEXT_VOICES`): the flite and festival voices of the corpus registry
(``flite-slt``, ``flite-kal16``, ``festival-kal``, ...); they differ in speaking rate and
phone durations. ``duration_scale`` stretches (> 1) or compresses (< 1) the whole timeline.
"""

from __future__ import annotations

import math

import torch

from soundstorm.corpus.voices import VOICES, Synthesis, Voice, missing_requirements, synthesize
from soundstorm.errors import SoundStormError
from soundstorm.semantic.phones import SILENCE_ID, phone_id

#: Synthesiser engines whose voices report phone times in the CMU (ARPAbet) phone set.
TEXT_ENGINES = ("flite", "festival")
#: Voice names :func:`text_to_semantic` accepts (corpus voices of :data:`TEXT_ENGINES`).
TEXT_VOICES: tuple[str, ...] = tuple(n for n, v in VOICES.items() if v.engine in TEXT_ENGINES)
DEFAULT_TEXT_VOICE = "flite-slt"

#: One phone: ``(name as the synthesiser wrote it, start_s, end_s)``.
PhoneSegment = tuple[str, float, float]


def text_voice(name: str) -> Voice:
    """The corpus voice ``name``, checked to be usable for text (flite or festival).

    Raises:
        SoundStormError: for an unknown name or a voice of another engine.
    """
    voice = VOICES.get(name)
    if voice is None or voice.engine not in TEXT_ENGINES:
        why = "unknown" if voice is None else f"a {voice.engine} voice, without ARPAbet phones"
        raise SoundStormError(
            f"text voice {name!r} is {why}: choose one of {', '.join(TEXT_VOICES)}"
        )
    return voice


def synthesize_text(text: str, voice: str = DEFAULT_TEXT_VOICE) -> Synthesis:
    """Speak ``text`` with a flite / festival voice (in a temporary directory, removed after).

    Args:
        text: What to say (any English text the synthesiser reads: numbers, punctuation...).
        voice: One of :data:`TEXT_VOICES`.

    Returns:
        The :class:`~soundstorm.corpus.voices.Synthesis`: mono ``audio`` ``float32[S]`` at
        ``sample_rate`` and ``phones`` (``(name, start_s, end_s)`` per phone, silences
        included, in order).

    Raises:
        SoundStormError: for empty text, an unknown voice, a synthesiser that is not
            installed (the message names the Debian packages) or that fails.
    """
    if not isinstance(text, str) or not text.strip():
        raise SoundStormError("text to say is empty")
    chosen = text_voice(voice)
    debian, _ = missing_requirements(chosen)
    if debian:
        raise SoundStormError(
            f"text voice {voice} needs {chosen.engine}: apt-get install -y {' '.join(debian)}"
        )
    try:
        result = synthesize(chosen, text.strip())
    except (RuntimeError, OSError) as error:
        detail = " ".join(str(error).split())  # one line
        raise SoundStormError(f"{chosen.engine} failed to say {text[:60]!r}: {detail}") from None
    if not result.phones:
        raise SoundStormError(f"{chosen.engine} gave no phone times for {text[:60]!r}")
    return result


def phone_segments(text: str, voice: str = DEFAULT_TEXT_VOICE) -> list[PhoneSegment]:
    """The synthesiser's phones of ``text``: ``(name, start_s, end_s)`` each, in order.

    Names are the synthesiser's own (lower-case CMU: ``pau``, ``hh``, ``ax``...);
    :func:`~soundstorm.semantic.phones.phone_id` maps them to token ids.
    """
    return synthesize_text(text, voice).phones


def _check_timing(frame_rate: float, duration_scale: float) -> None:
    if not 0 < frame_rate < math.inf or not 0 < duration_scale < math.inf:
        raise SoundStormError(
            f"frame_rate and duration_scale must be finite and > 0, got {frame_rate!r}, "
            f"{duration_scale!r}"
        )


def phone_frames(
    phones: list[PhoneSegment],
    duration_s: float,
    frame_rate: float = 50.0,
    duration_scale: float = 1.0,
    num_frames: int | None = None,
) -> torch.Tensor:
    """Frame-level phone ids of a phone timeline.

    Frame ``t`` covers ``[t, t + 1) / frame_rate`` seconds of the scaled timeline and takes
    the phone that holds its centre (unscaled time ``(t + 1/2) / (frame_rate *
    duration_scale)``); time outside every phone is silence.

    Args:
        phones: ``(name, start_s, end_s)`` per phone, in time order.
        duration_s: Length of the utterance (seconds), silences included.
        frame_rate: Output frames per second.
        duration_scale: Time stretch: 2.0 says it twice as slowly.
        num_frames: Output length ``T`` (default ``round(duration_s * frame_rate *
            duration_scale)``, at least 1).

    Returns:
        ``LongTensor[T]`` ids in ``[0, 41)``.

    Raises:
        SoundStormError: for a non-positive rate or scale, or an unknown phone name.
    """
    _check_timing(frame_rate, duration_scale)
    if num_frames is None:
        num_frames = max(1, round(duration_s * frame_rate * duration_scale))
    ids = torch.full((num_frames,), SILENCE_ID, dtype=torch.long)
    if not phones:
        return ids
    centres = (torch.arange(num_frames, dtype=torch.float64) + 0.5) / (frame_rate * duration_scale)
    starts = torch.tensor([start for _, start, _ in phones], dtype=torch.float64)
    ends = torch.tensor([end for _, _, end in phones], dtype=torch.float64)
    names = torch.tensor([phone_id(name) for name, _, _ in phones], dtype=torch.long)
    index = torch.searchsorted(ends, centres, right=True)  # first phone ending after the centre
    inside = index < len(phones)
    index = index.clamp(max=len(phones) - 1)
    inside &= starts[index] <= centres
    return torch.where(inside, names[index], ids)


def text_to_semantic(
    text: str,
    frame_rate: float = 50.0,
    voice: str = DEFAULT_TEXT_VOICE,
    duration_scale: float = 1.0,
) -> torch.Tensor:
    """Phone-id semantic tokens of ``text``, timed by a synthesiser.

    Args:
        text: What to say.
        frame_rate: Output frames per second (the codec frame rate, for a ``Request``).
        voice: One of :data:`TEXT_VOICES` (sets the phone durations, not the output voice).
        duration_scale: Time stretch of the whole utterance (> 1: slower).

    Returns:
        ``LongTensor[T]`` ids of :data:`~soundstorm.semantic.phones.PHONES` over the whole
        synthesised utterance (leading and trailing silence included), ``T =
        round(duration * frame_rate * duration_scale)``, ``duration`` the length of the
        synthesised audio.

    Raises:
        SoundStormError: for empty text, an unknown voice, a missing or failing synthesiser,
            a non-positive rate or scale.
    """
    _check_timing(frame_rate, duration_scale)  # before running the synthesiser
    return synthesis_to_semantic(synthesize_text(text, voice), frame_rate, duration_scale)


def synthesis_to_semantic(
    synthesis: Synthesis, frame_rate: float = 50.0, duration_scale: float = 1.0
) -> torch.Tensor:
    """Phone-id frames of one synthesis (see :func:`text_to_semantic`).

    Args:
        synthesis: From :func:`synthesize_text` (or any corpus voice with ARPAbet phones).
        frame_rate: Output frames per second.
        duration_scale: Time stretch (> 1: slower).

    Returns:
        ``LongTensor[T]``, ``T = round(num_samples * frame_rate * duration_scale /
        sample_rate)`` (at least 1): for ``duration_scale=1`` as many frames as an audio
        tokenizer gives on ``synthesis.audio`` (e.g. ``PhoneTokenizer.tokenize``).
    """
    _check_timing(frame_rate, duration_scale)
    num_samples = synthesis.audio.shape[0]
    num_frames = max(1, round(num_samples * frame_rate * duration_scale / synthesis.sample_rate))
    duration_s = num_samples / synthesis.sample_rate
    return phone_frames(synthesis.phones, duration_s, frame_rate, duration_scale, num_frames)
