"""Offline, deterministic, multi-voice English speech corpus (``soundstorm corpus``).

WordNet example sentences spoken by flite, festival, piper and eSpeak NG voices, resampled to
one rate, with the synthesisers' phone times, split by sentence, one speaker held out of
training. See ``docs/corpus.md``.
"""

from soundstorm.corpus.build import Utterance, build_corpus, plan_utterances
from soundstorm.corpus.cli import add_arguments, main
from soundstorm.corpus.text import Sentence, candidate_sentences, clean_sentence, select_sentences
from soundstorm.corpus.voices import DEFAULT_HELD_OUT, VOICES, Voice, synthesize

__all__ = [
    "DEFAULT_HELD_OUT",
    "VOICES",
    "Sentence",
    "Utterance",
    "Voice",
    "add_arguments",
    "build_corpus",
    "candidate_sentences",
    "clean_sentence",
    "main",
    "plan_utterances",
    "select_sentences",
    "synthesize",
]
