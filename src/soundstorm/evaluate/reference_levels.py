"""Reference levels of the evaluation metrics on synthetic speech (Debian ``flite`` voices).

Run::

    python -m soundstorm.evaluate.reference_levels                 # markdown on stdout
    python -m soundstorm.evaluate.reference_levels --json levels.json --voices slt awb rms
    python -m soundstorm.evaluate.reference_levels --codec my_codec.safetensors

Speaks a fixed set of Harvard sentences with each flite voice, then measures what every metric
gives on real (not generated) speech: the WER of each voice (Whisper tiny.en, the judge, and
PocketSphinx beside it), the Resemblyzer
similarity of two utterances of one voice and of two different voices, DNSMOS per voice, and
the slope of the consistency curve of a steady voice; with ``--codec``, also what the codec's
round trip keeps (WER, STOI, PESQ, speaker similarity, DNSMOS). Generated audio is judged against these
levels (see docs/evaluation.md). Needs the ``flite`` program (``apt-get install flite``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from soundstorm.corpus.text import HARVARD_SENTENCES
from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_write_text

DEFAULT_VOICES = ("slt", "awb", "rms")


def speak(voice: str, text: str, path: Path) -> np.ndarray:
    """Synthesise ``text`` with flite ``voice``; return mono ``float32`` audio at 16 kHz."""
    from soundstorm.evaluate.audio import load_eval_audio

    flite = shutil.which("flite")
    if flite is None:
        raise SoundStormError("the flite program is missing: apt-get install flite")
    subprocess.run([flite, "-voice", voice, "-t", text, "-o", str(path)], check=True)
    return load_eval_audio(path)


def measure_reference_levels(
    voices: tuple[str, ...] = DEFAULT_VOICES,
    sentences_count: int = 8,
    codec=None,
) -> dict:
    """Measure every metric on flite speech.

    Args:
        voices: flite voice names (``flite -lv``); at least two.
        sentences_count: how many of :data:`HARVARD_SENTENCES` each voice says (3 to 8).
        codec: optional codec (``sample_rate``, ``encode``, ``decode``): also measure its
            resynthesis of every sentence (:func:`measure_codec_resynthesis`).

    Returns:
        A JSON-ready dict: ``wer`` (voice -> corpus WER of the Whisper judge),
        ``wer_pocketsphinx`` (the same for PocketSphinx), ``speaker`` (same/different-voice
        levels and per voice-pair means), ``dnsmos`` (voice -> mean scores), ``consistency``
        (voice -> slope and mean of its concatenated sentences against another sentence of it),
        and with a codec ``resynthesis`` (voice -> levels of the resynthesised sentences).
    """
    from soundstorm.evaluate.asr import corpus_word_error_rate, transcribe, word_errors
    from soundstorm.evaluate.consistency import acoustic_consistency
    from soundstorm.evaluate.quality import dnsmos
    from soundstorm.evaluate.speaker import cosine_similarity, speaker_embeddings

    sentences = HARVARD_SENTENCES[:sentences_count]
    if len(voices) < 2 or len(sentences) < 3:
        raise SoundStormError("need at least two voices and three sentences")
    with tempfile.TemporaryDirectory() as folder:
        audio = {
            voice: [
                speak(voice, text, Path(folder) / f"{voice}_{i}.wav")
                for i, text in enumerate(sentences)
            ]
            for voice in voices
        }
    levels: dict = {"voices": list(voices), "sentences": len(sentences)}

    for key, recognizer in (("wer", "whisper"), ("wer_pocketsphinx", "pocketsphinx")):
        levels[key] = {
            voice: corpus_word_error_rate(
                [
                    word_errors(text, transcribe(wav, 16_000, recognizer))
                    for text, wav in zip(sentences, wavs)
                ]
            )
            for voice, wavs in audio.items()
        }

    embeddings = {voice: speaker_embeddings(wavs, 16_000) for voice, wavs in audio.items()}
    pair_means, same, different = {}, [], []
    for voice_a, voice_b in itertools.combinations_with_replacement(voices, 2):
        a, b = embeddings[voice_a], embeddings[voice_b]
        if voice_a == voice_b:
            sims = [
                cosine_similarity(a[i], a[j]) for i, j in itertools.combinations(range(len(a)), 2)
            ]
            same += sims
        else:
            sims = [cosine_similarity(x, y) for x in a for y in b]
            different += sims
        pair_means[f"{voice_a}-{voice_b}"] = float(np.mean(sims))
    levels["speaker"] = {
        "same_voice_mean": float(np.mean(same)),
        "same_voice_min": float(np.min(same)),
        "different_voice_mean": float(np.mean(different)),
        "different_voice_max": float(np.max(different)),
        "pairs": pair_means,
    }

    levels["dnsmos"] = {}
    for voice, wavs in audio.items():
        scores = [dnsmos(wav, 16_000) for wav in wavs]
        levels["dnsmos"][voice] = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}

    levels["consistency"] = {}
    for voice, wavs in audio.items():
        curve = acoustic_consistency(np.concatenate(wavs[1:]), wavs[0], segment_seconds=1.0)
        levels["consistency"][voice] = {
            "seconds": sum(w.size for w in wavs[1:]) / 16_000,
            "slope_per_second": curve.slope_per_second,
            "mean": curve.mean,
        }
    if codec is not None:
        levels["codec"] = getattr(codec, "name", type(codec).__name__)
        levels["resynthesis"] = {
            voice: measure_codec_resynthesis(codec, wavs, sentences)
            for voice, wavs in audio.items()
        }
    return levels


def measure_codec_resynthesis(codec, wavs: list[np.ndarray], texts: tuple[str, ...]) -> dict:
    """What a codec's encode-decode round trip keeps of some utterances of one voice.

    Args:
        codec: a codec (``sample_rate``, ``encode``, ``decode``).
        wavs: mono ``float32[S]`` utterances at 16 kHz.
        texts: their transcripts.

    Returns:
        ``wer`` (corpus WER of the resynthesis, Whisper judge), ``stoi``, ``pesq`` (means against the
        originals), ``similarity`` (mean speaker similarity of resynthesis to original) and
        ``dnsmos`` (mean overall DNSMOS of the resynthesis).
    """
    from soundstorm.evaluate.asr import (
        codec_resynthesis,
        corpus_word_error_rate,
        transcribe,
        word_errors,
    )
    from soundstorm.evaluate.quality import dnsmos, pesq_score, stoi_score
    from soundstorm.evaluate.speaker import cosine_similarity, speaker_embeddings

    resynthesised = [codec_resynthesis(codec, wav, 16_000) for wav in wavs]
    originals, copies = speaker_embeddings(wavs, 16_000), speaker_embeddings(resynthesised, 16_000)
    return {
        "wer": corpus_word_error_rate(
            [word_errors(t, transcribe(w, 16_000)) for t, w in zip(texts, resynthesised)]
        ),
        "stoi": float(np.mean([stoi_score(a, b, 16_000) for a, b in zip(wavs, resynthesised)])),
        "pesq": float(np.mean([pesq_score(a, b, 16_000) for a, b in zip(wavs, resynthesised)])),
        "similarity": float(np.mean([cosine_similarity(a, b) for a, b in zip(originals, copies)])),
        "dnsmos": float(np.mean([dnsmos(w, 16_000)["ovrl"] for w in resynthesised])),
    }


def levels_markdown(levels: dict) -> str:
    """The levels as markdown tables."""
    voices = levels["voices"]
    lines = [
        "| voice | Whisper WER | PocketSphinx WER | DNSMOS ovrl | sig | bak | P.808 "
        "| consistency mean | slope /s |"
    ]
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for voice in voices:
        d, c = levels["dnsmos"][voice], levels["consistency"][voice]
        pocketsphinx = levels.get("wer_pocketsphinx", {}).get(voice)
        ps = "-" if pocketsphinx is None else f"{100 * pocketsphinx:.1f}%"
        lines.append(
            f"| {voice} | {100 * levels['wer'][voice]:.1f}% | {ps} | {d['ovrl']:.2f} | {d['sig']:.2f} "
            f"| {d['bak']:.2f} | {d['p808']:.2f} | {c['mean']:.3f} | {c['slope_per_second']:+.4f} |"
        )
    s = levels["speaker"]
    lines += ["", "| speaker similarity (Resemblyzer) | value |", "|---|---:|"]
    lines.append(f"| same voice, mean | {s['same_voice_mean']:.3f} |")
    lines.append(f"| same voice, min | {s['same_voice_min']:.3f} |")
    lines.append(f"| different voices, mean | {s['different_voice_mean']:.3f} |")
    lines.append(f"| different voices, max | {s['different_voice_max']:.3f} |")
    lines += [f"| {pair} | {value:.3f} |" for pair, value in s["pairs"].items()]
    if "resynthesis" in levels:
        lines += [
            "",
            f"| resynthesis by {levels['codec']} | Whisper WER | STOI | PESQ | similarity | DNSMOS |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for voice, r in levels["resynthesis"].items():
            lines.append(
                f"| {voice} | {100 * r['wer']:.1f}% | {r['stoi']:.3f} | {r['pesq']:.2f} "
                f"| {r['similarity']:.3f} | {r['dnsmos']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure and print the reference levels (optionally also as JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voices", nargs="+", default=list(DEFAULT_VOICES))
    parser.add_argument("--json", type=Path, help="also write the levels to this JSON file")
    parser.add_argument(
        "--codec", help="also measure resynthesis by this codec (name or file, as get_codec)"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        codec = None
        if args.codec:
            from soundstorm.codecs import get_codec

            codec = get_codec(args.codec)
        levels = measure_reference_levels(tuple(args.voices), codec=codec)
    except SoundStormError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    levels["seconds"] = time.perf_counter() - start
    if args.json:
        atomic_write_text(args.json, json.dumps(levels, indent=2) + "\n")
    print(levels_markdown(levels), end="")
    print(f"measured in {levels['seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
