"""``soundstorm encode``: audio files -> one token file (codes + aligned semantic ids).

Run it::

    soundstorm encode a.wav b.flac -o ab.tokens --codec data/tokens/codec.safetensors
    soundstorm decode ab.tokens -o decoded/          # back to audio (one file per utterance)

The token file is the versioned format of ``soundstorm.data.token_format``; it records the
codec and tokenizer configs, and where the codec came from, so ``decode`` needs no option.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from soundstorm.data.token_files import encode_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``soundstorm encode``."""
    parser.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files to encode")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="TOKENS_FILE",
        help="token file to write (e.g. out.tokens)",
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
        default="default",
        metavar="NAME",
        help="semantic tokenizer name or saved directory (default: %(default)s)",
    )


def main(args: argparse.Namespace) -> int:
    """Run ``soundstorm encode``; returns the exit status."""
    from soundstorm.data.encoding import load_codec, load_semantic_tokenizer

    for path in args.audio:
        if not Path(path).is_file():
            raise FileNotFoundError(f"audio file not found: {path}")
    codec = load_codec(args.codec)
    tokenizer = load_semantic_tokenizer(args.semantic)
    codec_path = Path(args.codec).expanduser()
    codec_source = str(codec_path.resolve()) if codec_path.exists() else args.codec
    output = encode_files(args.audio, args.output, codec, tokenizer, codec_source, args.semantic)
    print(f"wrote {len(args.audio)} utterance(s) to {output}")
    return 0
