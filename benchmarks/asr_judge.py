"""WER of the evaluation judge (Whisper tiny.en) and of PocketSphinx on clean speech.

Run (about 5 minutes on 2 CPU cores; needs the ``eval`` extra, Debian ``flite``,
``festival`` and ``espeak-ng``, and the ``corpus`` extra for Piper)::

    python benchmarks/asr_judge.py --markdown docs/bench/asr_judge.md
    python benchmarks/asr_judge.py --voices 'flite-*' hibari-heart kokoro-kumo  # a subset

Two sets, both with known transcripts and no generation involved (what a judge should get
right before it judges generated audio):

- synthetic: the 16 Harvard sentences (``soundstorm.corpus.text.HARVARD_SENTENCES``) spoken
  by the installed ``soundstorm corpus`` voices (``--voices``, shell patterns; default all:
  flite, festival, eSpeak NG, Piper and, where installed, the natural-sounding hibari and
  Kokoro voices);
- natural: the recordings of real speakers bundled in the ``moonshine-voice`` wheel whose text
  is published (``beckett.wav``: Beckett, *Worstward Ho*; ``two_cities.wav``: the opening of
  Dickens, *A Tale of Two Cities*); the references below are the published texts, cut where
  the recordings stop.

WER is corpus-level (all word errors / all reference words) after
``soundstorm.evaluate.asr.normalize_text``; speed is CPU seconds per audio second of
``transcribe`` with one thread (the model loads once, before the clock starts).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import itertools
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from soundstorm.audio import load_audio
from soundstorm.corpus.text import HARVARD_SENTENCES
from soundstorm.evaluate.asr import (
    RECOGNIZERS,
    corpus_word_error_rate,
    load_recognizer,
    word_errors,
)

#: Natural recordings of the moonshine-voice wheel (``assets/``) and their published text.
NATURAL = {
    "beckett.wav": "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better.",
    "two_cities.wav": (
        "It was the best of times, it was the worst of times, it was the age of wisdom, it "
        "was the age of foolishness, it was the epoch of belief, it was the epoch of "
        "incredulity, it was the season of Light, it was the season of Darkness, it was the "
        "spring of hope, it was the winter of despair, we had everything before us, we had "
        "nothing before us, we were all going direct to Heaven, we were all going direct the "
        "other way - in short, the period was so far like the present period, that some of "
        "its noisiest authorities insisted on its being received, for good or for evil, in the "
        "superlative degree of comparison only."
    ),
}


def synthetic_clips(patterns: list[str] | None = None):
    """Yield ``(voice name, [(audio [1, S], rate, text)])`` of every Harvard sentence, one
    installed corpus voice at a time (``patterns``: shell patterns of names; None: all)."""
    import fnmatch

    from soundstorm.corpus.voices import VOICES, missing_requirements, synthesize

    for name, voice in VOICES.items():
        if patterns and not any(fnmatch.fnmatch(name, p) for p in patterns):
            continue
        if any(missing_requirements(voice)):
            continue
        clips = []
        for text in HARVARD_SENTENCES:
            spoken = synthesize(voice, text)
            audio = torch.as_tensor(spoken.audio, dtype=torch.float32).reshape(1, -1)
            clips.append((audio, spoken.sample_rate, text))
        yield name, clips


def natural_clips() -> dict[str, list[tuple[torch.Tensor, int, str]]]:
    """``natural`` -> the bundled recordings with their published text."""
    spec = importlib.util.find_spec("moonshine_voice")
    if spec is None or not spec.submodule_search_locations:
        return {}
    assets = Path(list(spec.submodule_search_locations)[0]) / "assets"
    clips = []
    for name, text in NATURAL.items():
        audio, rate = load_audio(assets / name)
        clips.append((audio, rate, text))
    return {"natural (moonshine-voice recordings)": clips}


def measure(clips) -> list[dict]:
    """One row per ``(voice, clips)`` pair: WER and speed of every recogniser."""
    torch.set_num_threads(1)
    rows = []
    for voice, items in clips:
        row = {"voice": voice, "clips": len(items)}
        row["seconds"] = sum(a.shape[-1] / r for a, r, _ in items)
        for name in RECOGNIZERS:
            recognizer = load_recognizer(name)
            start = time.process_time()
            errors = [word_errors(text, recognizer.transcribe(a, r)) for a, r, text in items]
            row[f"{name}_cpu_rtf"] = (time.process_time() - start) / row["seconds"]
            row[f"{name}_wer"] = corpus_word_error_rate(errors)
        rows.append(row)
        print(row, flush=True)
    return rows


def to_markdown(rows: list[dict], command: str) -> str:
    """The table, headed by how it was made."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "### ASR judge: Whisper tiny.en vs PocketSphinx on clean speech",
        "",
        f"- command: `{command}`",
        f"- machine: {os.cpu_count()}-core CPU container ({platform.machine()}), torch "
        f"{torch.__version__}, load average {os.getloadavg()[0]:.1f} (shared machine)",
        f"- date: {datetime.date.today().isoformat()}, commit {commit}",
        "",
        "| voice | clips | audio s | Whisper WER | PocketSphinx WER "
        "| Whisper CPU s / audio s | PocketSphinx CPU s / audio s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['voice']} | {row['clips']} | {row['seconds']:.0f} "
            f"| {100 * row['whisper_wer']:.1f}% | {100 * row['pocketsphinx_wer']:.1f}% "
            f"| {row['whisper_cpu_rtf']:.3f} | {row['pocketsphinx_cpu_rtf']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", type=Path, help="append the table to this file")
    parser.add_argument("--no-synthetic", action="store_true", help="natural recordings only")
    parser.add_argument("--voices", nargs="+", help="corpus voice names or shell patterns")
    args = parser.parse_args()
    synthetic = iter(()) if args.no_synthetic else synthetic_clips(args.voices)
    rows = measure(itertools.chain(natural_clips().items(), synthetic))
    text = to_markdown(rows, "python benchmarks/asr_judge.py " + " ".join(sys.argv[1:]))
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as handle:
            handle.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
