"""``soundstorm prepare``: a folder (or manifest) of audio -> token shards.

Run it::

    soundstorm prepare data/wavs data/tokens                      # codec + tokenizer fitted here
    soundstorm prepare data/wavs data/tokens --semantic phones-words  # PocketSphinx phones
    soundstorm prepare data/wavs data/tokens --embedded-codec v1  # 16 kHz codec, Griffin-Lim
    soundstorm prepare data/wavs data/tokens --workers 8 --shard-size 2000
    soundstorm prepare list.jsonl data/tokens --codec data/tokens/codec.safetensors
    torchrun --nnodes 4 --nproc-per-node 8 -m soundstorm prepare data/wavs data/tokens

Resumable and idempotent; under torchrun each rank encodes its share of the shards and rank 0
writes the manifest. The library function is ``soundstorm.data.prepare.prepare``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from soundstorm.commands.options import add_device_argument, add_quiet_argument
from soundstorm.data.codec_fitting import DEFAULT_PRESET, PRESETS
from soundstorm.data.prepare import (
    BAD_FILES_NAME,
    DEFAULT_SEMANTIC,
    FITTED_CODEC_NAME,
    FITTED_TOKENIZER_NAME,
    STOP_AFTER_ENV,
    prepare,
)
from soundstorm.data.semantic_fitting import DEFAULT_SEMANTIC_CLUSTERS
from soundstorm.data.shards import MANIFEST_NAME


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``soundstorm prepare``."""
    parser.add_argument(
        "source",
        metavar="AUDIO_DIR_OR_MANIFEST",
        help="folder searched recursively for audio, or a .txt/.jsonl manifest",
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="output folder for the token shards")
    parser.add_argument(
        "--codec",
        default=None,
        metavar="NAME_OR_PATH",
        help="codec name or fitted codec file; 'shipped': the shipped model's codec, to "
        "fine-tune that model on the shards (default: fit the embedded "
        f"codec on the input and save it as OUT_DIR/{FITTED_CODEC_NAME})",
    )
    parser.add_argument(
        "--semantic",
        default=DEFAULT_SEMANTIC,
        metavar="NAME",
        help="semantic tokenizer: 'default' fits Moonshine encoder features + k-means on the "
        f"input and saves it as OUT_DIR/{FITTED_TOKENIZER_NAME}; or a name (phones, "
        "phones-words: PocketSphinx) or a saved tokenizer directory (default: %(default)s)",
    )
    parser.add_argument(
        "--transcripts",
        action="store_true",
        help="give the phone tokenizer each file's transcript (a .jsonl manifest's \"text\"): "
        "the known words are force-aligned instead of recognised (cleaner phones, 9x faster)",
    )
    parser.add_argument(
        "--semantic-clusters",
        type=int,
        default=DEFAULT_SEMANTIC_CLUSTERS,
        metavar="K",
        help="k-means ids of the default semantic tokenizer (default: %(default)s)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="encoding processes per rank (default: %(default)s)"
    )
    parser.add_argument(
        "--shard-size",
        type=int,
        default=1000,
        metavar="FILES",
        help="audio files per shard (default: %(default)s)",
    )
    parser.add_argument(
        "--valid-fraction",
        type=float,
        default=0.01,
        help="fraction of utterances in the 'valid' split (default: %(default)s)",
    )
    parser.add_argument(
        "--min-duration",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="skip shorter files (default: %(default)s)",
    )
    parser.add_argument(
        "--num-levels",
        type=int,
        default=12,
        help="RVQ levels of a fitted embedded codec (default: %(default)s)",
    )
    parser.add_argument(
        "--keep-levels",
        type=int,
        default=None,
        metavar="N",
        help="store only the first N RVQ levels of the codec's codes (the model's num_levels; "
        "default: all). Shards shrink with them: carried to a lent GPU, more speech fits",
    )
    parser.add_argument(
        "--codebook-size",
        type=int,
        default=1024,
        help="codebook size of a fitted embedded codec (default: %(default)s)",
    )
    parser.add_argument(
        "--embedded-codec",
        choices=PRESETS,
        default=DEFAULT_PRESET,
        help="version of the fitted embedded codec: v2 (HiFi-GAN mel features and decoder, "
        "86 frames/s) or v1 (16 kHz log-mel, Griffin-Lim, 50 frames/s) (default: %(default)s)",
    )
    parser.add_argument(
        "--fit-files",
        type=int,
        default=200,
        help="files sampled from the train split to fit the embedded codec and the default "
        "semantic tokenizer (default: %(default)s)",
    )
    add_device_argument(parser, default="cpu", what="a neural codec")
    add_quiet_argument(parser)


def main(args: argparse.Namespace) -> int:
    """Run ``soundstorm prepare``; returns the exit status."""
    stop_after = os.environ.get(STOP_AFTER_ENV)
    summary = prepare(
        args.source,
        args.out_dir,
        codec=args.codec,
        semantic=args.semantic,
        semantic_clusters=args.semantic_clusters,
        workers=args.workers,
        shard_size=args.shard_size,
        valid_fraction=args.valid_fraction,
        min_duration=args.min_duration,
        num_levels=args.num_levels,
        codebook_size=args.codebook_size,
        fit_files=args.fit_files,
        embedded_codec=args.embedded_codec,
        device=args.device,
        progress=not args.quiet,
        stop_after_shards=int(stop_after) if stop_after else None,
        transcripts=args.transcripts,
        keep_levels=args.keep_levels,
    )
    if not args.quiet:
        print(format_summary(summary))
    return 0


def format_summary(summary: dict) -> str:
    """A few human-readable lines summarising a ``prepare`` run."""
    lines = []
    hours, seconds = summary["hours_encoded"], summary["encode_seconds"]
    speed = f", {hours * 3600 / seconds:.1f}x real time" if seconds > 0 and hours > 0 else ""
    lines.append(
        f"rank {summary['rank']}/{summary['world_size']}: encoded {summary['num_utterances_encoded']} "
        f"utterances ({hours:.3f} h) into {summary['num_shards_written']} shards in "
        f"{seconds:.1f} s{speed}; {summary['num_shards_skipped']} shards already done; "
        f"{summary['num_bad_files_encoded']} bad files"
    )
    manifest = summary.get("manifest")
    if manifest is not None:
        out = Path(summary["out_dir"])
        for split, totals in sorted(manifest["splits"].items()):
            lines.append(
                f"{split}: {totals['num_utterances']} utterances, {totals['hours']:.3f} h, "
                f"{totals['num_shards']} shards"
            )
        lines.append(
            f"{manifest['num_bad_files']} bad files listed in {out / BAD_FILES_NAME}; "
            f"manifest: {out / MANIFEST_NAME}"
        )
    return "\n".join(lines)
