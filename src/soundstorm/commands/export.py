"""``soundstorm export``: a trained checkpoint -> a self-contained voice model directory.

Run it::

    soundstorm export runs/default/checkpoints/step_00004000/model OUT_DIR \
        --codec data/tokens/codec.safetensors    # + data/tokens/semantic_tokenizer beside it

The directory's ``README.md`` is its model card (``soundstorm.model_card``); ``--data``,
``--corpus-summary`` and ``--figures`` tell it the training data and the measured figures
(without them those read "not recorded").

The library function is ``soundstorm.export.export_model``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from soundstorm.commands.options import add_quiet_argument
from soundstorm.export import DTYPES, export_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``soundstorm export``."""
    parser.add_argument("checkpoint", type=Path, help="a save_pretrained model directory")
    parser.add_argument("out_dir", type=Path, help="the voice model directory to write")
    parser.add_argument(
        "--codec",
        required=True,
        help="codec file to copy in (e.g. data/tokens/codec.safetensors) or a codec name",
    )
    parser.add_argument(
        "--semantic",
        default=None,
        metavar="NAME_OR_DIR",
        help="semantic tokenizer: a saved directory (copied in) or a name (phones, "
        "phones-words, phones-moonshine) (default: the semantic_tokenizer directory soundstorm prepare saved "
        "beside the --codec file)",
    )
    parser.add_argument("--dtype", default="float16", choices=sorted(DTYPES))
    parser.add_argument(
        "--steps", type=int, help="recommended first-level decoding passes, kept in pipeline.json"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing OUT_DIR")
    card = parser.add_argument_group("model card (README.md; what is not given: 'not recorded')")
    card.add_argument(
        "--data", type=Path, metavar="DIR", help="the soundstorm prepare directory trained on"
    )
    card.add_argument(
        "--corpus-summary",
        type=Path,
        metavar="FILE",
        help="the summary.json of soundstorm corpus (voices, hours, licences)",
    )
    card.add_argument(
        "--figures",
        type=Path,
        metavar="FILE",
        help="Markdown of measured figures (e.g. benchmarks/eval_voice.py's summary.md), "
        "inserted verbatim under 'Measured'; its summary.json beside it, when present, "
        "gives the Limits line on intelligibility",
    )
    add_quiet_argument(parser)


def main(args: argparse.Namespace) -> int:
    """Write the voice model directory; print its size; return 0."""
    out = export_model(
        args.checkpoint,
        args.out_dir,
        args.codec,
        args.semantic,
        DTYPES[args.dtype],
        args.force,
        args.steps,
        data=args.data,
        corpus_summary=args.corpus_summary,
        figures=args.figures,
    )
    if args.quiet:
        return 0
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"soundstorm export: wrote {out} ({size:.1f} MB)")
    return 0
