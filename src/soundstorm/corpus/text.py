"""Sentences for the speech corpus: WordNet example phrases, cleaned, selected and split.

WordNet glosses (``/usr/share/wordnet/data.{noun,verb,adj,adv}``, Debian ``wordnet-base``)
end with quoted usage examples, e.g. ``| a small boat; "the dog barked all night"``. About
48,000 of them exist; after cleaning (plain ASCII letters and punctuation, one sentence, no
digits or acronyms, a word-count window) about 28,000 distinct sentences remain.

Selection and splits are pure functions of the sentence set and a seed: each sentence is
ranked by ``sha256(f"{seed}:{text}")``, the first ``num_sentences`` are kept, the first of those
go to ``valid``, then ``test``, the rest to ``train``. A larger ``num_sentences`` therefore
keeps every sentence of a smaller one, and no sentence is ever in two splits.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from soundstorm.errors import SoundStormError

HARVARD_SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
)
"""IEEE 1969 "Harvard" sentences (public domain), the usual intelligibility test material:
used by the evaluation reference levels and the codec and semantic benchmarks."""

WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_DATA_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
SPLITS = ("train", "valid", "test")

_QUOTED = re.compile(r'"([^"]+)"')
_ALLOWED = re.compile(r"^[A-Za-z][A-Za-z ,;:'?!.-]*$")
_ACRONYM = re.compile(r"[A-Z][A-Za-z]*[A-Z]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Sentence:
    """One corpus sentence.

    Attributes:
        sentence_id: Stable id derived from the text (``wn`` + 10 hex digits of its SHA-1).
        text: The cleaned sentence, capitalised, ending with ``.``, ``?`` or ``!``.
        split: ``"train"``, ``"valid"`` or ``"test"``.
    """

    sentence_id: str
    text: str
    split: str


def sentence_id(text: str) -> str:
    """Stable id of a sentence: ``wn`` + the first 10 hex digits of SHA-1 of its text."""
    return "wn" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def clean_sentence(raw: str, min_words: int = 5, max_words: int = 20) -> str | None:
    """Clean one WordNet example into a speakable sentence, or reject it.

    Kept: ASCII letters, spaces and ``, ; : ' ? ! . -``; one sentence (terminal punctuation only
    at the end); no digits (synthesisers expand numbers differently), no acronyms (two capitals
    in one word), no ``--`` or ``...``; between ``min_words`` and ``max_words`` words.

    Args:
        raw: The example as quoted in WordNet.
        min_words: Fewest words kept.
        max_words: Most words kept.

    Returns:
        The sentence with its first letter capitalised and a final ``.`` added when it has no
        terminal punctuation, or ``None`` when rejected.
    """
    text = _SPACES.sub(" ", raw).strip().rstrip(",;:- ").strip()
    if not text or not _ALLOWED.match(text) or "--" in text or ".." in text:
        return None
    if any(mark in text[:-1] for mark in ".?!"):
        return None
    if _ACRONYM.search(text) or " -" in text or "- " in text or "''" in text:
        return None
    words = text.split(" ")
    if not min_words <= len(words) <= max_words:
        return None
    if any(not any(c.isalpha() for c in word) for word in words):
        return None
    if text[-1] not in ".?!":
        text += "."
    return text[0].upper() + text[1:]


def read_wordnet_examples(wordnet_dir: Path = WORDNET_DIR) -> list[str]:
    """All quoted usage examples of the WordNet data files, in file order (duplicates kept).

    Raises:
        SoundStormError: When none of the data files exists.
    """
    examples: list[str] = []
    found = False
    for name in WORDNET_DATA_FILES:
        path = Path(wordnet_dir) / name
        if not path.is_file():
            continue
        found = True
        with open(path, encoding="latin-1") as handle:
            for line in handle:
                if line.startswith("  ") or "|" not in line:  # licence header
                    continue
                gloss = line.split("|", 1)[1]
                examples.extend(_QUOTED.findall(gloss))
    if not found:
        raise SoundStormError(
            f"no WordNet data files in {wordnet_dir}: apt-get install wordnet-base "
            "(or pass --wordnet-dir)"
        )
    return examples


def candidate_sentences(
    wordnet_dir: Path = WORDNET_DIR, min_words: int = 5, max_words: int = 20
) -> list[str]:
    """Distinct cleaned WordNet sentences, sorted (independent of file order).

    Sentences equal up to case are kept once (the smallest spelling).
    """
    by_key: dict[str, str] = {}
    for raw in read_wordnet_examples(wordnet_dir):
        text = clean_sentence(raw, min_words, max_words)
        if text is None:
            continue
        key = text.lower()
        if key not in by_key or text < by_key[key]:
            by_key[key] = text
    return sorted(by_key.values())


def _rank_key(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def split_sizes(num_sentences: int, valid_fraction: float, test_fraction: float) -> dict[str, int]:
    """Sentences per split: at least one in each, valid and test rounded from their fractions.

    Raises:
        SoundStormError: When ``num_sentences < 3`` or the fractions leave no train sentence.
    """
    if num_sentences < 3:
        raise SoundStormError(f"--num-sentences must be at least 3 (got {num_sentences})")
    if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1):
        raise SoundStormError("--valid-fraction and --test-fraction must be in [0, 1)")
    num_valid = max(1, round(num_sentences * valid_fraction))
    num_test = max(1, round(num_sentences * test_fraction))
    num_train = num_sentences - num_valid - num_test
    if num_train < 1:
        raise SoundStormError(
            f"{num_sentences} sentences leave none for training with valid fraction "
            f"{valid_fraction} and test fraction {test_fraction}"
        )
    return {"train": num_train, "valid": num_valid, "test": num_test}


def select_sentences(
    candidates: list[str],
    num_sentences: int,
    seed: int = 0,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
) -> list[Sentence]:
    """Pick ``num_sentences`` sentences deterministically and split them by sentence.

    Args:
        candidates: Distinct sentences (e.g. from :func:`candidate_sentences`).
        num_sentences: How many to keep.
        seed: Changes the ranking, hence which sentences are kept and their split.
        valid_fraction: Share of the kept sentences in ``valid`` (at least one).
        test_fraction: Share of the kept sentences in ``test`` (at least one).

    Returns:
        The kept sentences in rank order: valid ones first, then test, then train.

    Raises:
        SoundStormError: When fewer than ``num_sentences`` candidates exist, or the split sizes
            are impossible.
    """
    sizes = split_sizes(num_sentences, valid_fraction, test_fraction)
    unique = sorted(set(candidates))
    if len(unique) < num_sentences:
        raise SoundStormError(
            f"--num-sentences {num_sentences} is more than the {len(unique)} usable sentences"
        )
    ranked = sorted(unique, key=lambda text: (_rank_key(seed, text), text))[:num_sentences]
    boundaries = {"valid": sizes["valid"], "test": sizes["valid"] + sizes["test"]}
    sentences = []
    for rank, text in enumerate(ranked):
        if rank < boundaries["valid"]:
            split = "valid"
        elif rank < boundaries["test"]:
            split = "test"
        else:
            split = "train"
        sentences.append(Sentence(sentence_id(text), text, split))
    return sentences
