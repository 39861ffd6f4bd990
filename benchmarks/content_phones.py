"""How close the recognised phone tokens come to the transcript's: PocketSphinx's words
against Moonshine's, on the test recordings of a ``soundstorm corpus``.

    python benchmarks/content_phones.py --corpus /work/data/corpus --items 120 \\
        --out docs/bench/content_phones.json

A content recording without a transcript gets its phone ids from recognised words
(``phones-words``: PocketSphinx's; ``phones-moonshine``: Moonshine tiny-en's, force-aligned).
With its transcript, the words are exact (``tokenize(..., transcripts)``). Per tokenizer, on
``--items`` test recordings drawn with ``--seed``:

- the WER of its recognised words against the corpus text (``normalize_text``, corpus level);
- the fraction of the 50 Hz frames whose phone id equals the transcript-aligned one;
- the clips whose recognised words could not be aligned (``recognition_fallbacks``);
- CPU seconds per audio second (one thread, models loaded before the clock starts).

Per voice too (``--per-voice``). Errors are one line and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from soundstorm.audio import load_audio
from soundstorm.errors import SoundStormError

TOKENIZERS = ("phones-words", "phones-moonshine")


def read_items(corpus: Path, count: int, seed: int) -> list[dict]:
    """``count`` rows of ``corpus/test.jsonl`` (all when fewer), drawn with ``seed``.

    Raises:
        SoundStormError: no readable ``test.jsonl`` with ``path`` and ``text`` fields.
    """
    path = corpus / "test.jsonl"
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r["text"].strip() and r["path"]]
    except OSError as error:
        raise SoundStormError(f"cannot read {path}: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SoundStormError(f"{path} is not a soundstorm corpus split") from None
    if not rows:
        raise SoundStormError(f"{path} has no recordings")
    if count < len(rows):
        rows = random.Random(seed).sample(rows, count)
    return rows


def measure(corpus: Path, rows: list[dict]) -> dict:
    """Per tokenizer: WER of its words, phone agreement with the transcript's, fallbacks,
    CPU real-time factor; and per voice."""
    from soundstorm.evaluate.asr import (
        corpus_word_error_rate,
        load_moonshine_recognizer,
        load_speech_recognizer,
        word_errors,
    )
    from soundstorm.semantic import get_semantic_tokenizer

    torch.set_num_threads(1)
    recognisers = {
        "phones-words": load_speech_recognizer(),
        "phones-moonshine": load_moonshine_recognizer(),
    }
    tokenizers = {name: get_semantic_tokenizer(name) for name in TOKENIZERS}
    exact = get_semantic_tokenizer("phones-words")
    clips = []
    for row in rows:
        wav, rate = load_audio(corpus / row["path"])
        clips.append((row, wav[None], rate, exact.tokenize(wav[None], rate, [row["text"]])[0]))
    seconds = sum(wav.shape[-1] / rate for _, wav, rate, _ in clips)
    results = {}
    for name, tokenizer in tokenizers.items():
        start = time.process_time()
        per_clip = []
        for row, wav, rate, aligned in clips:
            tokens = tokenizer.tokenize(wav, rate)[0]
            per_clip.append((row["voice"], (tokens == aligned).float().mean().item()))
        cpu = time.process_time() - start
        errors = [
            (row["voice"], word_errors(row["text"], recognisers[name].transcribe(wav[0], rate)))
            for row, wav, rate, _ in clips
        ]
        voices = sorted({voice for voice, _ in per_clip})
        results[name] = {
            "word_error_rate": corpus_word_error_rate([e for _, e in errors]),
            "phone_agreement": statistics.fmean(a for _, a in per_clip),
            "recognition_fallbacks": getattr(tokenizer, "recognition_fallbacks", 0),
            "cpu_rtf": cpu / seconds,
            "per_voice": {
                voice: {
                    "word_error_rate": corpus_word_error_rate([e for v, e in errors if v == voice]),
                    "phone_agreement": statistics.fmean(a for v, a in per_clip if v == voice),
                    "clips": sum(v == voice for v, _ in per_clip),
                }
                for voice in voices
            },
        }
    return {"clips": len(clips), "audio_seconds": seconds, "tokenizers": results}


def to_markdown(figures: dict, per_voice: bool) -> str:
    lines = [
        f"{figures['clips']} test recordings, {figures['audio_seconds']:.0f} s",
        "",
        "| tokenizer | WER of its words | frames equal to the transcript's phones | "
        "fallbacks | CPU s per audio s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, result in figures["tokenizers"].items():
        lines.append(
            f"| `{name}` | {100 * result['word_error_rate']:.1f}% | "
            f"{100 * result['phone_agreement']:.1f}% | {result['recognition_fallbacks']} | "
            f"{result['cpu_rtf']:.3f} |"
        )
    if per_voice:
        names = list(figures["tokenizers"])
        heads = " | ".join(f"`{n}` WER / agreement" for n in names)
        lines += ["", f"| voice | clips | {heads} |"]
        lines.append("|---|---:|" + "---:|" * len(names))
        voices = figures["tokenizers"][names[0]]["per_voice"]
        for voice, first in voices.items():
            cells = [
                f"{100 * figures['tokenizers'][n]['per_voice'][voice]['word_error_rate']:.0f}% / "
                f"{100 * figures['tokenizers'][n]['per_voice'][voice]['phone_agreement']:.0f}%"
                for n in names
            ]
            lines.append(f"| {voice} | {first['clips']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="soundstorm corpus folder")
    parser.add_argument("--items", type=int, default=120, help="test recordings (default 120)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-voice", action="store_true", help="a row per voice too")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.items < 1:
        parser.error("--items must be >= 1")
    try:
        figures = measure(args.corpus, read_items(args.corpus, args.items, args.seed))
    except SoundStormError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(to_markdown(figures, args.per_voice))
    if args.out is not None:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
