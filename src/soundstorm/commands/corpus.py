"""``soundstorm corpus OUT_DIR``: synthesise the offline multi-voice English speech corpus.

Run::

    soundstorm corpus data/corpus                      # default corpus (see docs/corpus.md)
    soundstorm corpus data/tiny --num-sentences 20 --voices flite-slt,flite-awb,flite-rms
    soundstorm corpus data/natural --voices 'hibari-*,kokoro-*' --held-out-voices kokoro-mix-ak \
        --voice-shares 'kokoro-*=1'                    # natural voices only, full shares
    soundstorm corpus --list-voices                    # voices and whether they are ready

A second run with the same options skips finished utterances and rewrites the same manifest.
"""

from __future__ import annotations

import argparse
import os

from soundstorm.commands.options import add_quiet_argument, add_seed_argument
from soundstorm.corpus.build import build_corpus
from soundstorm.corpus.text import WORDNET_DIR
from soundstorm.corpus.voices import (
    DEFAULT_HELD_OUT,
    KOKORO_SHARE,
    VOICES,
    missing_requirements,
)
from soundstorm.errors import SoundStormError
from soundstorm.files import output_folder


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _shares(value: str) -> dict[str, float]:
    """``"kokoro-*=0.5,hibari-heart=1"`` -> ``{"kokoro-*": 0.5, "hibari-heart": 1.0}``."""
    shares = {}
    for item in _names(value):
        pattern, _, share = item.partition("=")
        try:
            shares[pattern.strip()] = float(share)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected VOICE=SHARE, got {item!r}") from None
    return shares


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``corpus`` options to ``parser``."""
    parser.add_argument("out_dir", nargs="?", help="corpus directory (created or resumed)")
    parser.add_argument("--num-sentences", type=int, default=1000, help="sentences in all splits")
    parser.add_argument(
        "--voices",
        type=_names,
        default=None,
        help="comma-separated voices or patterns such as 'kokoro-*' (default: all)",
    )
    parser.add_argument(
        "--held-out-voices",
        type=_names,
        default=None,
        help="comma-separated voices kept out of training (default: those of "
        f"{','.join(DEFAULT_HELD_OUT)} among --voices)",
    )
    parser.add_argument(
        "--voices-per-sentence", type=int, default=3, help="training voices per train sentence"
    )
    parser.add_argument(
        "--voice-shares",
        type=_shares,
        default=None,
        help="comma-separated VOICE=SHARE (patterns allowed): the fraction of a full voice's "
        f"sentences a voice speaks (default: the table's, {KOKORO_SHARE:g} for Kokoro)",
    )
    parser.add_argument("--sample-rate", type=int, default=16000, help="output rate in Hz")
    parser.add_argument(
        "--workers", type=int, default=min(4, os.cpu_count() or 1), help="synthesis processes"
    )
    add_seed_argument(parser, "the sentence and voice selection")
    parser.add_argument("--valid-fraction", type=float, default=0.05)
    parser.add_argument("--test-fraction", type=float, default=0.05)
    parser.add_argument("--min-words", type=int, default=5)
    parser.add_argument("--max-words", type=int, default=20)
    parser.add_argument("--wordnet-dir", default=str(WORDNET_DIR), help="WordNet data.* folder")
    parser.add_argument(
        "--no-install", action="store_true", help="never apt-get install missing synthesisers"
    )
    add_quiet_argument(parser, "--no-progress")
    parser.add_argument("--list-voices", action="store_true", help="list voices and exit")


def list_voices() -> str:
    """One line per voice: name, speaker, description, share, held-out default, what is missing."""
    lines = []
    for voice in VOICES.values():
        debian, pip = missing_requirements(voice)
        missing = [*(f"apt:{p}" for p in debian), *(f"pip:{p}" for p in pip)]
        state = "ready" if not missing else "missing " + " ".join(missing)
        role = (
            "held out"
            if voice.name in DEFAULT_HELD_OUT
            else "train only"
            if voice.train_only
            else ""
        )
        lines.append(
            f"{voice.name:17s} {voice.speaker:13s} {voice.description:32s} "
            f"{voice.share:<5g} {role:10s} {state}"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Run the ``corpus`` command; print the summary; return 0."""
    if args.list_voices:
        print(list_voices())
        return 0
    if not args.out_dir:
        raise SoundStormError("give OUT_DIR (or --list-voices)")
    with output_folder(args.out_dir, "soundstorm corpus", sweep=False):  # it sweeps its own
        summary = build_corpus(
            args.out_dir,
            num_sentences=args.num_sentences,
            voices=args.voices,
            held_out_voices=args.held_out_voices,
            voices_per_sentence=args.voices_per_sentence,
            voice_share_overrides=args.voice_shares,
            sample_rate=args.sample_rate,
            seed=args.seed,
            workers=args.workers,
            valid_fraction=args.valid_fraction,
            test_fraction=args.test_fraction,
            min_words=args.min_words,
            max_words=args.max_words,
            wordnet_dir=args.wordnet_dir,
            install=not args.no_install,
            progress=not args.quiet,
        )
    if args.quiet:
        return 0
    print(f"corpus: {summary['num_utterances']} utterances, {summary['hours']} h in {args.out_dir}")
    for split, row in summary["splits"].items():
        print(
            f"  {split:5s} {row['sentences']:6d} sentences {row['utterances']:6d} utterances "
            f"{row['hours']:7.3f} h"
        )
    print(f"  held out of training: {', '.join(summary['held_out_voices']) or 'none'}")
    return 0
