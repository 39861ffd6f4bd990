"""``soundstorm decode``: a token file -> audio, with the codec recorded in the file.

Run it::

    soundstorm decode ab.tokens --out ab.wav          # a file holding one utterance
    soundstorm decode ab.tokens --out-dir decoded/    # decoded/<id>.wav per utterance
    soundstorm decode ab.tokens --out coarse.wav --levels 4 --codec data/tokens/codec.safetensors

``-o`` / ``--output`` (older spellings of ``--out``) take a ``.wav`` for one utterance or a
folder for several. The library function is ``soundstorm.data.token_files.decode_file``.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from soundstorm.commands.options import (
    add_device_argument,
    add_out_argument,
    add_out_dir_argument,
    add_quiet_argument,
    progress_disabled,
)
from soundstorm.data.token_files import decode_file
from soundstorm.errors import SoundStormError
from soundstorm.files import check_writable, output_folder
from soundstorm.validation import resolve_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``soundstorm decode``."""
    parser.add_argument("tokens", metavar="TOKENS_FILE", help="token file from soundstorm encode")
    add_out_argument(
        parser,
        "output .wav (a token file of one utterance; a folder for several is accepted too)",
        aliases=("-o", "--output"),
        metavar="OUT",
    )
    add_out_dir_argument(parser, "output folder: <id>.wav per utterance")
    parser.add_argument(
        "--codec",
        default=None,
        metavar="NAME_OR_PATH",
        help="codec to decode with (default: the one recorded in the file)",
    )
    parser.add_argument(
        "--levels",
        type=int,
        default=None,
        help="decode only the first (coarsest) LEVELS RVQ levels",
    )
    add_device_argument(parser, default="cpu", what="a neural codec")
    add_quiet_argument(parser)


def main(args: argparse.Namespace) -> int:
    """Run ``soundstorm decode``; returns the exit status."""
    if (args.out is None) == (args.out_dir is None):
        raise SoundStormError("give --out FILE (one utterance) or --out-dir DIR, one of them")
    device = str(resolve_device(args.device))  # "cuda" without CUDA: one line, exit 2
    codec = None
    if args.codec is not None:
        from soundstorm.codecs import get_codec

        codec = get_codec(args.codec, device=device)
    output = args.out if args.out is not None else args.out_dir
    with contextlib.ExitStack() as held:
        if args.out_dir is not None:  # a folder of files: one run at a time
            held.enter_context(output_folder(args.out_dir, "soundstorm decode"))
        else:
            check_writable(Path(args.out).parent)
        written = decode_file(
            args.tokens,
            output,
            codec=codec,
            levels=args.levels,
            folder=True if args.out_dir is not None else None,
            progress=False if progress_disabled(args) else None,
            device=device,
        )
    if not args.quiet:
        target = written[0] if len(written) == 1 and args.out_dir is None else Path(output)
        print(f"wrote {len(written)} audio file(s) to {target}")
    return 0
