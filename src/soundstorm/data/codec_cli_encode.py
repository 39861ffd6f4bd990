"""``soundstorm encode``: audio files -> one token file (codes + aligned semantic ids).

Run it::

    soundstorm encode a.wav b.flac -o ab.tokens --codec data/tokens/codec.safetensors
    soundstorm decode ab.tokens -o decoded/          # back to audio (one file per utterance)

The token file is the versioned format of ``soundstorm.data.token_format``; it records the
codec and tokenizer configs, and where the codec came from, so ``decode`` needs no option.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from soundstorm.errors import SoundStormError


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


def encode_files(
    paths: list[str | os.PathLike],
    output: str | os.PathLike,
    codec,
    tokenizer,
    codec_source: str,
    semantic_source: str,
) -> Path:
    """Encode audio files into one token file.

    Args:
        paths: Audio files; each becomes one utterance whose id is the file's stem.
        output: The token file to write (atomically).
        codec: A ``Codec``.
        tokenizer: A ``SemanticTokenizer``.
        codec_source: Name or absolute path of the codec, recorded for ``decode``.
        semantic_source: Name or path of the semantic tokenizer, recorded in the header.

    Returns:
        The token file path.

    Raises:
        SoundStormError: unreadable audio, duplicate stems, or an output that is a folder.
    """
    from soundstorm.data.encoding import encode_file
    from soundstorm.data.inputs import AudioInput
    from soundstorm.data.token_format import save_tokens

    output = Path(output)
    if output.is_dir():
        raise SoundStormError(f"output {output} is a folder; give a token file name")
    items, seen = [], set()
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"audio file not found: {path}")
        if path.stem in seen:
            raise SoundStormError(f"two inputs share the name {path.stem!r}; rename one")
        seen.add(path.stem)
        items.append(AudioInput(path.stem, str(path.resolve())))
    utterances = [encode_file(codec, tokenizer, item) for item in items]
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # e.g. a file where a folder of the path should be
        raise SoundStormError(f"cannot create the folder of {output}: {error}") from None
    return save_tokens(
        output,
        utterances,
        codec.config_dict(),
        tokenizer.config_dict(),
        codec_path=codec_source,
        semantic_path=semantic_source,
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
