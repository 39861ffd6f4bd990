"""The text front end (``text_to_semantic``) against the audio tokenizer, and its speed.

Run (needs Debian ``flite`` and ``festival``, PyPI ``pocketsphinx``; about a minute on one
core)::

    python benchmarks/text_frontend.py
    python benchmarks/text_frontend.py --voices flite-slt flite-kal16 --markdown out.md

For every voice and every sentence of a fixed list (the 16 Harvard sentences), the
synthesiser is run once; its phone times give the text front end's tokens
(:func:`soundstorm.semantic.text.synthesis_to_semantic`: what ``text_to_semantic`` returns),
and its waveform goes through the audio tokenizers (``phones-words`` = PocketSphinx words +
forced alignment, ``phones`` = allphone). Both sequences have the same number of 50 Hz
frames. Reported:

- ``frame agreement``: fraction of frames with the same id (silence included);
- ``speech-frame agreement``: the same over frames where either side is not silence;
- ``edit distance``: normalised Levenshtein distance between the run-length-collapsed phone
  sequences (which phones, whatever their timing);
- ``speed``: wall time of ``text_to_semantic`` (synthesis included) for one sentence and for
  a ~10-s passage (four sentences in one call), median of ``--repeats`` runs, against the
  seconds of speech it describes.

This measures how close text-derived conditioning is to what a model trained on the audio
tokenizer saw during training (the tokenizer's own errors included: PocketSphinx is not
perfect on synthetic speech either, see ``docs/bench/semantic.md``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from soundstorm.corpus.text import HARVARD_SENTENCES
from soundstorm.semantic import get_semantic_tokenizer
from soundstorm.semantic.phones import SILENCE_ID
from soundstorm.semantic.text import synthesis_to_semantic, synthesize_text, text_to_semantic

FRAME_RATE = 50.0


def collapse(tokens: np.ndarray) -> list[int]:
    """Run-length-collapsed id sequence, silences dropped."""
    runs = [int(t) for i, t in enumerate(tokens) if i == 0 or t != tokens[i - 1]]
    return [t for t in runs if t != SILENCE_ID]


def edit_distance(a: list[int], b: list[int]) -> float:
    """Levenshtein distance divided by the longer length (0: same sequence)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1] / max(len(a), len(b), 1)


def compare(voice: str, tokenizers: dict) -> dict:
    """Agreement of text tokens and audio tokens over all sentences, for one voice."""
    totals = {name: {"same": 0, "frames": 0, "speech_same": 0, "speech": 0, "edit": []}
              for name in tokenizers}  # fmt: skip
    for sentence in HARVARD_SENTENCES:
        result = synthesize_text(sentence, voice)
        from_text = synthesis_to_semantic(result, FRAME_RATE).numpy()
        wav = torch.from_numpy(result.audio)[None, None]
        for name, tokenizer in tokenizers.items():
            from_audio = tokenizer.tokenize(wav, result.sample_rate)[0].numpy()
            assert len(from_audio) == len(from_text), (len(from_audio), len(from_text))
            speech = (from_text != SILENCE_ID) | (from_audio != SILENCE_ID)
            same = from_text == from_audio
            row = totals[name]
            row["same"] += int(same.sum())
            row["frames"] += len(same)
            row["speech_same"] += int((same & speech).sum())
            row["speech"] += int(speech.sum())
            row["edit"].append(edit_distance(collapse(from_text), collapse(from_audio)))
    return {
        name: {
            "frame_agreement": row["same"] / row["frames"],
            "speech_frame_agreement": row["speech_same"] / row["speech"],
            "edit_distance": float(np.mean(row["edit"])),
        }
        for name, row in totals.items()
    }


def speed(voice: str, repeats: int) -> dict:
    """Median wall time of ``text_to_semantic``: one sentence, and a four-sentence passage."""
    results = {}
    for label, text in (
        ("sentence", HARVARD_SENTENCES[0]),
        ("passage", " ".join(HARVARD_SENTENCES[:4])),
    ):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            tokens = text_to_semantic(text, FRAME_RATE, voice)
            times.append(time.perf_counter() - start)
        results[label] = {"seconds_of_speech": len(tokens) / FRAME_RATE,
                          "wall_s": statistics.median(times)}  # fmt: skip
    return results


def to_markdown(agreement: dict, speeds: dict, command: str) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"Command: `{command}`; commit {commit}; {datetime.date.today()}; "
        f"{platform.machine()}, {os.cpu_count()}-core CPU container, no GPU, one thread.",
        "",
        "| voice | audio tokenizer | frame agreement | speech-frame agreement | edit distance |",
        "|---|---|---|---|---|",
    ]
    for voice, per_tokenizer in agreement.items():
        for name, m in per_tokenizer.items():
            lines.append(
                f"| {voice} | `{name}` | {m['frame_agreement']:.3f} | "
                f"{m['speech_frame_agreement']:.3f} | {m['edit_distance']:.3f} |"
            )
    lines += ["", "| voice | text | seconds of speech | wall time (s) | x real time |",
              "|---|---|---|---|---|"]  # fmt: skip
    for voice, per_text in speeds.items():
        for label, s in per_text.items():
            lines.append(
                f"| {voice} | {label} | {s['seconds_of_speech']:.2f} | {s['wall_s']:.3f} | "
                f"{s['seconds_of_speech'] / s['wall_s']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", nargs="+", default=["flite-slt", "flite-kal16", "festival-kal"])
    parser.add_argument("--tokenizers", nargs="+", default=["phones-words", "phones"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", type=Path, help="also write the tables here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tokenizers = {name: get_semantic_tokenizer(name) for name in args.tokenizers}
    agreement = {voice: compare(voice, tokenizers) for voice in args.voices}
    speeds = {voice: speed(voice, args.repeats) for voice in args.voices}
    command = "python benchmarks/text_frontend.py" + (
        "" if args.voices == parser.get_default("voices") else " --voices " + " ".join(args.voices)
    )
    table = to_markdown(agreement, speeds, command)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
