"""Offline, deterministic, multi-voice English speech corpus (``soundstorm corpus``).

WordNet example sentences spoken by flite, festival, piper and eSpeak NG voices and by natural
neural voices (hibari af_heart, Kokoro-82M styles and style mixes: ``corpus.natural``),
resampled to one rate, with the synthesisers' phone times, split by sentence, one synthetic
and one natural voice held out of training. See ``docs/corpus.md``; the command line is
``soundstorm.commands.corpus``.
"""

from soundstorm.corpus.build import Utterance, build_corpus, plan_utterances
from soundstorm.corpus.text import Sentence, candidate_sentences, clean_sentence, select_sentences
from soundstorm.corpus.voices import DEFAULT_HELD_OUT, VOICES, Voice, synthesize

__all__ = [
    "DEFAULT_HELD_OUT",
    "VOICES",
    "Sentence",
    "Utterance",
    "Voice",
    "build_corpus",
    "candidate_sentences",
    "clean_sentence",
    "plan_utterances",
    "select_sentences",
    "synthesize",
]
