"""``soundstorm decode``: a token file -> audio, with the codec recorded in the file.

Run it::

    soundstorm decode ab.tokens -o ab.wav            # a file holding one utterance
    soundstorm decode ab.tokens -o decoded/          # several: decoded/<id>.wav each
    soundstorm decode ab.tokens -o coarse.wav --levels 4 --codec data/tokens/codec.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

from soundstorm.data.token_files import decode_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``soundstorm decode``."""
    parser.add_argument("tokens", metavar="TOKENS_FILE", help="token file from soundstorm encode")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output .wav (one utterance) or folder (several)",
    )
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


def main(args: argparse.Namespace) -> int:
    """Run ``soundstorm decode``; returns the exit status."""
    codec = None
    if args.codec is not None:
        from soundstorm.data.encoding import load_codec

        codec = load_codec(args.codec)
    written = decode_file(args.tokens, args.output, codec=codec, levels=args.levels)
    target = written[0] if len(written) == 1 else Path(args.output)
    print(f"wrote {len(written)} audio file(s) to {target}")
    return 0
