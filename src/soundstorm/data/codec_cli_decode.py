"""``soundstorm decode``: a token file -> audio, with the codec recorded in the file.

Run it::

    soundstorm decode ab.tokens -o ab.wav            # a file holding one utterance
    soundstorm decode ab.tokens -o decoded/          # several: decoded/<id>.wav each
    soundstorm decode ab.tokens -o coarse.wav --levels 4 --codec data/tokens/codec.safetensors
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from soundstorm.errors import SoundStormError


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


def check_codec_matches(codec, recorded: dict) -> None:
    """Raise ``SoundStormError`` if ``codec`` cannot decode codes described by ``recorded``."""
    current = codec.config_dict()
    for key in ("num_levels", "codebook_size", "sample_rate", "frame_rate"):
        if current.get(key) != recorded.get(key):
            raise SoundStormError(
                f"codec {current.get('name')!r} has {key}={current.get(key)}, but the tokens "
                f"were made with {key}={recorded.get(key)} ({recorded.get('name')!r})"
            )


def decode_file(
    tokens_path: str | os.PathLike, output: str | os.PathLike, codec=None, levels: int | None = None
) -> list[Path]:
    """Decode every utterance of a token file to audio.

    Args:
        tokens_path: The token file.
        output: A ``.wav`` path when the file holds one utterance, else a folder that gets
            ``<id>.wav`` per utterance.
        codec: A ``Codec``; ``None`` loads the one recorded in the file (``codec_path``).
        levels: Decode only the first ``levels`` RVQ levels (default: all).

    Returns:
        The audio files written.
    """
    import torch

    from soundstorm.audio import save_audio
    from soundstorm.data.token_format import load_tokens

    token_file = load_tokens(tokens_path)
    if codec is None:
        from soundstorm.data.encoding import load_codec

        source = token_file.header.get("codec_path") or token_file.codec_config["name"]
        codec = load_codec(source)
    check_codec_matches(codec, token_file.codec_config)
    num_levels = token_file.codec_config["num_levels"]
    levels = num_levels if levels is None else levels
    if not 1 <= levels <= num_levels:
        raise SoundStormError(f"--levels must be in [1, {num_levels}], got {levels}")
    output = Path(output)
    several = len(token_file.utterances) != 1
    if several and output.suffix.lower() in (".wav", ".flac"):
        raise SoundStormError(
            f"{tokens_path} holds {len(token_file.utterances)} utterances: give a folder as -o"
        )
    written = []
    for utterance in token_file.utterances:
        codes = torch.from_numpy(utterance.codes[:levels].astype("int64"))[None]  # (1, Q', T)
        wav = codec.decode(codes)[0]  # (1, S)
        path = output / f"{utterance.id}.wav" if several else output
        save_audio(path, wav, codec.sample_rate)
        written.append(path)
    return written


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
