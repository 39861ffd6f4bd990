"""The corpus voices measured: speed, naturalness, intelligibility and how distinct they are.

Run (needs the ``corpus`` and ``eval`` extras; about 10 minutes on a loaded 2-core CPU)::

    OMP_NUM_THREADS=1 python benchmarks/corpus_voices.py --markdown /tmp/corpus_voices.md
    python benchmarks/corpus_voices.py --voices hibari-heart kokoro-kumo --sentences 2
    OMP_NUM_THREADS=1 python benchmarks/corpus_voices.py --corpus-cost 6   # default corpus cost

Every voice says the first ``--sentences`` Harvard sentences through the corpus synthesiser
(:func:`soundstorm.corpus.voices.synthesize`, one process, onnxruntime on one thread), then
the audio is resampled to 16 kHz as the corpus writes it. Reported per voice:

- ``load s``: wall time of the first call minus that of the same sentence said again (model
  loading, graph patching, G2P set-up), for the first voice of each engine only (the others
  share the loaded model);
- ``CPU RTF`` / ``wall RTF``: CPU time (this process and its finished children: flite,
  festival, eSpeak run as subprocesses) and wall time per second of audio, over the calls
  after the first (lower is faster; the wall figure grows with the machine's load);
- ``DNSMOS``: mean overall DNSMOS P.835 (:func:`soundstorm.evaluate.quality.dnsmos`);
- ``WER``: corpus word error rate of the Whisper tiny.en judge against the text;
- ``self-similarity``: mean Resemblyzer cosine similarity of two different sentences of the
  voice (the same-identity level);
- ``nearest other``: the highest mean similarity to another measured voice, different
  sentences only (how far the identity is from its closest neighbour), and which voice.

A full similarity matrix follows (mean over pairs of different sentences).

``--corpus-cost N`` instead estimates the CPU time of ``soundstorm corpus`` with its defaults
(1000 sentences, every voice, default shares and held-out voices), without building it: the
plan is made (no synthesis), ``N`` of its utterances per engine are made as the corpus makes
them (synthesis, resampling, wav and phones files; CPU time of this process and its children),
and each engine's mean CPU per second of audio times its share of the plan's audio (audio
length estimated from each sentence's word count, at that engine's measured seconds per word)
gives its total. The same estimate is made for the corpus before the natural voices (the ten
synthetic voices, ``flite-rms`` held out), whose real run is measured in ``docs/bench/corpus.md``.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from soundstorm.audio import resample_array
from soundstorm.corpus.text import HARVARD_SENTENCES
from soundstorm.corpus.voices import VOICES, resolve_voices, synthesize

DEFAULT_VOICES = ("flite-slt", "piper-joe", "hibari-heart", "kokoro-*")
RATE = 16000


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its waited-for children."""
    return sum(os.times()[:4])


def speak(name: str, sentences: list[str]) -> dict:
    """Synthesise every sentence with voice ``name``; time the calls; audio at 16 kHz."""
    voice = VOICES[name]
    audio, cpu, wall, seconds = [], 0.0, 0.0, 0.0
    first_wall = None
    for index, text in enumerate([sentences[0], *sentences]):
        cpu_start, wall_start = cpu_seconds(), time.perf_counter()
        result = synthesize(voice, text)
        cpu_used, wall_used = cpu_seconds() - cpu_start, time.perf_counter() - wall_start
        if index == 0:
            first_wall = wall_used
            continue
        if index == 1:
            load = first_wall - wall_used
        cpu, wall = cpu + cpu_used, wall + wall_used
        seconds += result.audio.size / result.sample_rate
        samples = resample_array(result.audio.astype(np.float64), result.sample_rate, RATE)
        audio.append(samples.astype(np.float32))
    return {"audio": audio, "load": load, "cpu_rtf": cpu / seconds, "wall_rtf": wall / seconds}


def measure(names: list[str], sentences: list[str]) -> dict:
    """Per-voice figures and the similarity matrix (see the module docstring)."""
    from soundstorm.evaluate.asr import corpus_word_error_rate, transcribe, word_errors
    from soundstorm.evaluate.quality import dnsmos
    from soundstorm.evaluate.speaker import speaker_embeddings

    rows = {}
    engines_seen = set()
    for name in names:
        spoken = speak(name, sentences)
        if VOICES[name].engine in engines_seen:
            spoken["load"] = None  # the engine's model was loaded by an earlier voice
        engines_seen.add(VOICES[name].engine)
        errors = [
            word_errors(text, transcribe(wav, RATE))
            for text, wav in zip(sentences, spoken["audio"])
        ]
        rows[name] = {
            "load": spoken["load"],
            "cpu_rtf": spoken["cpu_rtf"],
            "wall_rtf": spoken["wall_rtf"],
            "dnsmos": float(np.mean([dnsmos(wav, RATE)["ovrl"] for wav in spoken["audio"]])),
            "wer": corpus_word_error_rate(errors),
            "embeddings": speaker_embeddings(spoken["audio"], RATE),  # (N, 256)
        }
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in rows[name].items()
                                      if k != "embeddings"), flush=True)  # fmt: skip
    matrix = {}
    for a, b in itertools.product(names, names):
        ea, eb = rows[a]["embeddings"], rows[b]["embeddings"]
        pairs = [float(ea[i] @ eb[j]) for i in range(len(ea)) for j in range(len(eb)) if i != j]
        matrix[a, b] = float(np.mean(pairs))
    for name in names:
        rows[name]["self"] = matrix[name, name]
        others = [(matrix[name, other], other) for other in names if other != name]
        rows[name]["nearest"] = max(others) if others else (float("nan"), "-")
    return {"rows": rows, "matrix": matrix}


def markdown(results: dict, names: list[str], sentences: int, header: str) -> str:
    """The two tables as Markdown, headed by ``header``."""
    rows, matrix = results["rows"], results["matrix"]
    lines = [header, "", "| voice | load s | CPU RTF | wall RTF | DNSMOS | WER | "
             "self-similarity | nearest other |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in names:
        r = rows[name]
        load = "-" if r["load"] is None else f"{r['load']:.1f}"
        lines.append(
            f"| `{name}` | {load} | {r['cpu_rtf']:.3f} | {r['wall_rtf']:.3f} | "
            f"{r['dnsmos']:.2f} | {r['wer']:.3f} | {r['self']:.3f} | "
            f"{r['nearest'][0]:.3f} (`{r['nearest'][1]}`) |"
        )
    short = [name.replace("kokoro-", "k-").replace("hibari-", "h-") for name in names]
    lines += ["", f"Similarity matrix ({sentences} sentences each; mean over pairs of different "
              "sentences; the diagonal is the same-voice level):", "",
              "| | " + " | ".join(short) + " |", "|---" * (len(names) + 1) + "|"]  # fmt: skip
    for name, label in zip(names, short):
        cells = " | ".join(f"{matrix[name, other]:.2f}" for other in names)
        lines.append(f"| {label} | {cells} |")
    return "\n".join(lines) + "\n"


def default_plans() -> dict:
    """The default corpus plan now and before the natural voices (no synthesis)."""
    from soundstorm.corpus.build import plan_utterances
    from soundstorm.corpus.text import WORDNET_DIR, candidate_sentences, select_sentences
    from soundstorm.corpus.voices import DEFAULT_HELD_OUT, voice_shares

    sentences = select_sentences(candidate_sentences(Path(WORDNET_DIR)), 1000, seed=0)
    every = resolve_voices(list(VOICES))
    synthetic = [voice for voice in every if not voice.natural]
    return {
        "now": plan_utterances(
            sentences, every, resolve_voices(list(DEFAULT_HELD_OUT)), 3, 0, voice_shares(every)
        ),
        "before": plan_utterances(sentences, synthetic, resolve_voices(["flite-rms"]), 3, 0),
    }


def corpus_cost(samples: int) -> str:
    """Estimate the default corpus's CPU time per engine (see the module docstring)."""
    import tempfile

    import soundfile

    from soundstorm.corpus.build import make_utterance

    plans = default_plans()
    engines = sorted({VOICES[u.voice].engine for u in plans["now"]})
    per_engine = {}
    with tempfile.TemporaryDirectory() as folder:
        for engine in engines:
            chosen = [u for u in plans["now"] if VOICES[u.voice].engine == engine]
            chosen = chosen[:: max(1, len(chosen) // samples)][:samples]
            make_utterance(Path(folder), chosen[0], RATE)  # load the engine once, untimed
            start = cpu_seconds()
            for utterance in chosen:
                make_utterance(Path(folder), utterance, RATE)
            cpu = cpu_seconds() - start
            seconds = sum(soundfile.info(str(Path(folder) / u.audio_path)).duration for u in chosen)
            words = sum(len(u.text.split()) for u in chosen)
            per_engine[engine] = {"cpu_per_s": cpu / seconds, "s_per_word": seconds / words}
    lines = ["| engine | CPU s per audio s | audio s per word | utterances now (before) | "
             "estimated CPU s now (before) |", "|---|---|---|---|---|"]  # fmt: skip
    totals = {"now": 0.0, "before": 0.0}
    for engine in engines:
        figures = per_engine[engine]
        counts, cpus = {}, {}
        for key, plan in plans.items():
            mine = [u for u in plan if VOICES[u.voice].engine == engine]
            words = sum(len(u.text.split()) for u in mine)
            counts[key] = len(mine)
            cpus[key] = words * figures["s_per_word"] * figures["cpu_per_s"]
            totals[key] += cpus[key]
        lines.append(
            f"| {engine} | {figures['cpu_per_s']:.3f} | {figures['s_per_word']:.3f} | "
            f"{counts['now']} ({counts['before']}) | {cpus['now']:.0f} ({cpus['before']:.0f}) |"
        )
    lines.append(
        f"| all | | | {len(plans['now'])} ({len(plans['before'])}) | "
        f"{totals['now']:.0f} ({totals['before']:.0f}) |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse the arguments, measure, print (and write) the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", nargs="+", default=list(DEFAULT_VOICES))
    parser.add_argument("--sentences", type=int, default=4, help="Harvard sentences per voice")
    parser.add_argument("--corpus-cost", type=int, metavar="N", help="estimate the default "
                        "corpus's CPU time from N utterances per engine instead")  # fmt: skip
    parser.add_argument("--markdown", type=Path, help="also write the tables here")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    what = (
        f"--corpus-cost {args.corpus_cost}" if args.corpus_cost else f"--sentences {args.sentences}"
    )
    header = (
        f"`python benchmarks/corpus_voices.py {what}` on "
        f"{platform.machine()} ({platform.processor() or 'CPU'}), "
        f"{datetime.date.today()}, git {commit or 'unknown'}"
    )
    if args.corpus_cost:
        text = header + "\n\n" + corpus_cost(args.corpus_cost)
    else:
        names = [voice.name for voice in resolve_voices(args.voices)]
        sentences = list(HARVARD_SENTENCES[: args.sentences])
        text = markdown(measure(names, sentences), names, len(sentences), header)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
