"""``soundstorm encode``: audio files -> one token file (codes + aligned semantic ids).

Run it::

    soundstorm encode a.wav b.flac --out ab.tokens --codec data/tokens/codec.safetensors
    soundstorm decode ab.tokens --out-dir decoded/     # back to audio (one file per utterance)

The token file is the versioned format of ``soundstorm.data.token_format``; it records the
codec and tokenizer configs, and where the codec came from, so ``decode`` needs no option.
The library function is ``soundstorm.data.token_files.encode_files``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from soundstorm.commands.options import (
    add_device_argument,
    add_out_argument,
    add_quiet_argument,
    progress_disabled,
)
from soundstorm.data.token_files import encode_files
from soundstorm.files import check_writable
from soundstorm.validation import resolve_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``soundstorm encode``."""
    parser.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files to encode")
    add_out_argument(
        parser,
        "token file to write (e.g. out.tokens)",
        required=True,
        aliases=("-o", "--output"),
        metavar="TOKENS_FILE",
    )
    parser.add_argument(
        "--codec",
        required=True,
        metavar="NAME_OR_PATH",
        help="fitted codec file (e.g. OUT_DIR/codec.safetensors written by soundstorm "
        "prepare) or codec name (encodec, dac, mimi: need the hf extra and the weights)",
    )
    parser.add_argument(
        "--semantic",
        default=None,
        metavar="NAME_OR_DIR",
        help="semantic tokenizer: a saved directory or a name (phones, phones-words) (default: "
        "the semantic_tokenizer directory soundstorm prepare saved beside the --codec file)",
    )
    add_device_argument(parser, default="cpu", what="a neural codec")
    add_quiet_argument(parser)


def main(args: argparse.Namespace) -> int:
    """Run ``soundstorm encode``; returns the exit status."""
    from soundstorm.codecs import get_codec
    from soundstorm.data.prepare import tokenizer_beside
    from soundstorm.semantic import get_semantic_tokenizer
    from soundstorm.semantic.registry import DEFAULT_NAME

    for path in args.audio:
        if not Path(path).is_file():
            raise FileNotFoundError(f"audio file not found: {path}")
    device = str(resolve_device(args.device))  # "cuda" without CUDA: one line, exit 2
    check_writable(Path(args.out).parent)  # read-only or full: said before the codec loads
    codec = get_codec(args.codec, device=device)
    semantic = args.semantic or tokenizer_beside(args.codec) or DEFAULT_NAME  # last: the hint
    tokenizer = get_semantic_tokenizer(semantic)
    codec_path = Path(args.codec).expanduser()
    codec_source = str(codec_path.resolve()) if codec_path.exists() else args.codec
    progress = False if progress_disabled(args) else None
    output = encode_files(
        args.audio, args.out, codec, tokenizer, codec_source, semantic, progress=progress
    )
    if not args.quiet:
        print(f"wrote {len(args.audio)} utterance(s) to {output}")
    return 0
