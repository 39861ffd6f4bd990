"""Voice shares, voice patterns and the default held-out voices (planning only, no synthesis)."""

from collections import Counter

import pytest

from soundstorm.corpus.build import _voice_order, plan_utterances
from soundstorm.corpus.text import select_sentences
from soundstorm.corpus.voices import (
    DEFAULT_HELD_OUT,
    VOICES,
    default_held_out,
    resolve_voices,
    voice_shares,
)
from soundstorm.errors import SoundStormError

CANDIDATES = [
    f"Sentence {a} {b} {c} is spoken." for a in "abcdef" for b in "ghijkl" for c in "mnop"
]
SENTENCES = select_sentences(CANDIDATES, 120, seed=0, valid_fraction=0.1, test_fraction=0.1)
ALL_VOICES = resolve_voices(list(VOICES))


def default_plan(shares=None, seed=0):
    held = resolve_voices(list(DEFAULT_HELD_OUT))
    return plan_utterances(SENTENCES, ALL_VOICES, held, 3, seed, shares)


def test_default_held_out_voices_are_one_synthetic_and_one_natural_never_trained():
    held = resolve_voices(list(DEFAULT_HELD_OUT))
    assert sorted(voice.natural for voice in held) == [False, True]
    utterances = default_plan(voice_shares(ALL_VOICES))
    train_voices = {u.voice for u in utterances if u.split == "train"}
    assert train_voices.isdisjoint(DEFAULT_HELD_OUT)
    for name in DEFAULT_HELD_OUT:
        assert {u.split for u in utterances if u.voice == name} == {"valid", "test"}
    natural_training = {v.name for v in ALL_VOICES if v.natural} - set(DEFAULT_HELD_OUT)
    assert natural_training <= {u.voice for u in default_plan() if u.split == "train"}


def test_equal_shares_keep_the_plain_round_robin():
    """All shares 1: the same plan as before shares existed (consecutive turns in seed order)."""
    voices = resolve_voices(["flite-slt", "flite-kal16", "flite-awb", "piper-joe", "flite-rms"])
    held = resolve_voices(["flite-rms"])
    order = _voice_order(["flite-slt", "flite-kal16", "flite-awb", "piper-joe"], seed=3)
    plain = plan_utterances(SENTENCES, voices, held, 3, 3)
    weighted = plan_utterances(SENTENCES, voices, held, 3, 3, {v.name: 1.0 for v in voices})
    assert plain == weighted
    train_ids = [s.sentence_id for s in SENTENCES if s.split == "train"]
    for index, sentence_id in enumerate(train_ids):
        expected = {order[(3 * index + r) % 4] for r in range(3)}
        assert {u.voice for u in plain if u.sentence_id == sentence_id} == expected
    assert {u.voice for u in plain if u.split == "test"} == {v.name for v in voices}


def test_shares_scale_train_turns_and_eval_sentences():
    shares = {"flite-slt": 1.0, "flite-awb": 1.0, "piper-joe": 0.5, "kokoro-kumo": 0.1}
    voices = resolve_voices([*shares, "flite-rms"])
    utterances = plan_utterances(SENTENCES, voices, resolve_voices(["flite-rms"]), 2, 0, shares)
    train = Counter(u.voice for u in utterances if u.split == "train")
    slots = sum(train.values())
    for name, share in shares.items():
        assert abs(train[name] - slots * share / sum(shares.values())) <= 1.5, (name, train)
    per_sentence = Counter(u.sentence_id for u in utterances if u.split == "train")
    assert set(per_sentence.values()) == {2}
    assert len({(u.sentence_id, u.voice) for u in utterances}) == len(utterances)
    for split in ("valid", "test"):
        spoken = {
            name: {u.sentence_id for u in utterances if u.split == split and u.voice == name}
            for name in [*shares, "flite-rms"]
        }
        assert len(spoken["piper-joe"]) == 6 and len(spoken["kokoro-kumo"]) == 2  # of 12
        assert spoken["kokoro-kumo"] < spoken["piper-joe"] < spoken["flite-slt"]
        assert spoken["flite-slt"] == spoken["flite-rms"]


def test_default_shares_keep_kokoro_small_and_the_plan_deterministic():
    shares = voice_shares(ALL_VOICES)
    assert shares["hibari-heart"] == 1.0 and shares["kokoro-kumo"] < 0.1
    first, second = default_plan(shares), default_plan(dict(shares))
    assert first == second
    spoken = Counter(u.voice for u in first)
    assert spoken["kokoro-kumo"] < spoken["hibari-heart"] / 5


def test_voice_patterns_and_share_overrides():
    kokoro = [v.name for v in resolve_voices(["kokoro-*"])]
    assert kokoro[0] == "kokoro-alpha" and len(kokoro) == 10
    assert [v.name for v in resolve_voices(["hibari-heart", "*-heart"])] == ["hibari-heart"]
    shares = voice_shares(ALL_VOICES, {"kokoro-*": 0.5, "kokoro-mix-ak": 1.0})
    assert shares["kokoro-kumo"] == 0.5 and shares["kokoro-mix-ak"] == 1.0
    assert shares["flite-slt"] == 1.0


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"kokoro-*": 0.0}, r"must be in \(0, 1\]"),
        ({"kokoro-*": 1.5}, r"must be in \(0, 1\]"),
        ({"nobody-*": 0.5}, "matches none of the chosen voices"),
    ],
)
def test_bad_share_overrides_are_clear_errors(overrides, match):
    with pytest.raises(SoundStormError, match=match):
        voice_shares(ALL_VOICES, overrides)


def test_unknown_voice_pattern_is_a_clear_error():
    with pytest.raises(SoundStormError, match="unknown voice nobody-\\*"):
        resolve_voices(["nobody-*"])


def test_every_voice_has_a_licence():
    for voice in VOICES.values():
        assert voice.licence, voice.name
    assert all("Apache-2.0" in v.licence for v in VOICES.values() if v.natural)


def test_default_held_out_voices_are_those_among_the_chosen_voices():
    assert default_held_out(list(VOICES)) == list(DEFAULT_HELD_OUT)
    assert default_held_out(["flite-slt", "flite-awb", "flite-rms"]) == ["flite-rms"]
    assert default_held_out(["hibari-heart", "kokoro-mix-ak"]) == ["kokoro-mix-ak"]
    assert default_held_out(["flite-slt"]) == list(DEFAULT_HELD_OUT)  # then refused as missing
