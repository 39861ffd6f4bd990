"""Intelligibility: word error rate (WER) of an offline speech recogniser.

The recogniser is PocketSphinx 5 with the US English acoustic model, language model and
dictionary bundled in the PyPI wheel, so it runs offline. It is weak next to modern ASR (its WER
on clean speech is well above zero), so absolute WER figures are only comparable with other
figures from this same recogniser: report the WER of the reference audio and of plain codec
resynthesis (:func:`codec_resynthesis_wer`) beside the WER of generated audio.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import asdict, dataclass

import numpy as np
import torch

from soundstorm.evaluate.audio import EVAL_SAMPLE_RATE, prepare_audio

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


@functools.cache
def load_speech_recognizer() -> SpeechRecognizer:
    """The shared :class:`SpeechRecognizer` (loaded on first call, then cached)."""
    return SpeechRecognizer()


def transcribe(wav: np.ndarray | torch.Tensor, sample_rate: int) -> str:
    """Recognise ``wav`` (``[S]``/``[C, S]``/``[1, C, S]`` at ``sample_rate``) with the shared recogniser."""
    return load_speech_recognizer().transcribe(wav, sample_rate)


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
    codec, wav: np.ndarray | torch.Tensor, sample_rate: int, text: str
) -> tuple[WordErrors, str]:
    """WER of plain codec resynthesis (encode, decode, recognise): the ceiling for generation.

    Args:
        codec: a codec as in :func:`codec_resynthesis`.
        wav: ``[S]``, ``[C, S]`` or ``[1, C, S]`` reference audio at ``sample_rate``.
        sample_rate: its sample rate (Hz).
        text: the transcript of ``wav``.

    Returns:
        The word errors and the recognised transcript of the resynthesised audio.
    """
    resynthesised = codec_resynthesis(codec, wav, sample_rate)
    hypothesis = transcribe(resynthesised, EVAL_SAMPLE_RATE)
    return word_errors(text, hypothesis), hypothesis
