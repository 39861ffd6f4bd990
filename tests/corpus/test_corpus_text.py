"""Sentence cleaning, WordNet extraction, deterministic selection and splits."""

from pathlib import Path

import pytest
from corpus_test_fakes import write_fake_wordnet

from soundstorm.corpus.text import (
    candidate_sentences,
    clean_sentence,
    read_wordnet_examples,
    select_sentences,
    sentence_id,
    split_sizes,
)
from soundstorm.errors import SoundStormError


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("the dog barked all night", "The dog barked all night."),
        (
            "  how big is that part compared to the whole?",
            "How big is that part compared to the whole?",
        ),
        ("he sent a short message,", "He sent a short message."),
        ("they arrived at 5 o'clock sharp", None),  # digit
        ("the NASA budget was cut again", None),  # acronym
        ("he left. she stayed behind today", None),  # two sentences
        ("too short here", None),  # fewer than 5 words
        ("it cost (roughly) a lot of money", None),  # brackets
        ("well -- that was a surprise to everyone", None),
    ],
)
def test_clean_sentence(raw, expected):
    assert clean_sentence(raw) == expected


def test_clean_sentence_word_window():
    text = " ".join(["word"] * 21)
    assert clean_sentence(text) is None
    assert clean_sentence(text, max_words=21) == "W" + text[1:] + "."


def test_read_examples_skips_header_and_finds_every_quote(tmp_path):
    write_fake_wordnet(tmp_path, ["the dog barked all night", "she sang a song for us"])
    examples = read_wordnet_examples(tmp_path)
    assert examples == ["the dog barked all night", "ok", "she sang a song for us", "ok"]


def test_missing_wordnet_is_a_clear_error(tmp_path):
    with pytest.raises(SoundStormError, match="wordnet-base"):
        read_wordnet_examples(tmp_path / "nowhere")


def test_candidates_are_cleaned_distinct_and_sorted(tmp_path):
    write_fake_wordnet(
        tmp_path,
        [
            "the dog barked all night",
            "The dog barked all night",
            "a bad 1 example here",
            "zebras run very fast indeed",
        ],
    )
    assert candidate_sentences(tmp_path) == [
        "The dog barked all night.",
        "Zebras run very fast indeed.",
    ]


def test_split_sizes():
    assert split_sizes(3, 0.05, 0.05) == {"train": 1, "valid": 1, "test": 1}
    assert split_sizes(1000, 0.05, 0.1) == {"train": 850, "valid": 50, "test": 100}
    with pytest.raises(SoundStormError):
        split_sizes(2, 0.05, 0.05)
    with pytest.raises(SoundStormError):
        split_sizes(10, 0.5, 0.5)


CANDIDATES = [f"Sentence number {word} is spoken here." for word in "abcdefghijklmnopqrstuvwxyz"]


def test_selection_is_deterministic_and_split_by_sentence():
    first = select_sentences(CANDIDATES, 20, seed=3, valid_fraction=0.1, test_fraction=0.1)
    again = select_sentences(
        list(reversed(CANDIDATES)), 20, seed=3, valid_fraction=0.1, test_fraction=0.1
    )
    assert first == again
    assert [s.split for s in first].count("valid") == 2
    assert [s.split for s in first].count("test") == 2
    by_split = {
        split: {s.text for s in first if s.split == split} for split in ("train", "valid", "test")
    }
    assert sum(len(v) for v in by_split.values()) == 20
    assert not (by_split["train"] & by_split["valid"] or by_split["train"] & by_split["test"])
    assert not by_split["valid"] & by_split["test"]
    assert all(s.sentence_id == sentence_id(s.text) for s in first)


def test_seed_changes_selection_and_larger_sets_keep_smaller_ones():
    small = select_sentences(CANDIDATES, 8, seed=0)
    large = select_sentences(CANDIDATES, 16, seed=0)
    assert {s.text for s in small} <= {s.text for s in large}
    other = select_sentences(CANDIDATES, 8, seed=1)
    assert [s.text for s in other] != [s.text for s in small]


def test_too_many_sentences_is_a_clear_error():
    with pytest.raises(SoundStormError, match="usable sentences"):
        select_sentences(CANDIDATES, 27)


def test_real_wordnet_gives_thousands_of_sentences():
    wordnet = Path("/usr/share/wordnet")
    if not (wordnet / "data.noun").is_file():
        pytest.skip("Debian wordnet-base is not installed (scripts/install-system-deps)")
    sentences = candidate_sentences(wordnet)
    assert len(sentences) > 10_000
    assert all(clean_sentence(s) == s for s in sentences[:500])
