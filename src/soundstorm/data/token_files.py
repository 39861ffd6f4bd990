"""Audio files <-> one token file: the library behind ``soundstorm encode`` / ``decode``.

    from soundstorm.data.token_files import decode_file, encode_files
    encode_files(["a.wav", "b.flac"], "ab.tokens", codec, tokenizer, codec_source, "default")
    decode_file("ab.tokens", "decoded/")          # one <id>.wav per utterance

The token file is the versioned format of ``soundstorm.data.token_format``; it records the
codec and tokenizer configs, and where the codec came from, so decoding needs no option.
The command-line halves are ``soundstorm.commands.encode`` and ``soundstorm.commands.decode``.
"""

from __future__ import annotations

import os
from pathlib import Path

from soundstorm.errors import SoundStormError


def encode_files(
    paths: list[str | os.PathLike],
    output: str | os.PathLike,
    codec,
    tokenizer,
    codec_source: str,
    semantic_source: str,
    progress: bool | None = False,
) -> Path:
    """Encode audio files into one token file.

    Args:
        paths: Audio files; each becomes one utterance whose id is the file's stem.
        output: The token file to write (atomically).
        codec: A ``Codec``.
        tokenizer: A ``SemanticTokenizer``.
        codec_source: Name or absolute path of the codec, recorded for ``decode``.
        semantic_source: Name or path of the semantic tokenizer, recorded in the header.
        progress: Show a tqdm bar over the files (None: only on a terminal).

    Returns:
        The token file path.

    Raises:
        SoundStormError: unreadable audio, duplicate stems, or an output that is a folder.
    """
    from tqdm import tqdm

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
    disable = None if progress is None else not progress  # None: tqdm shows it on a terminal
    bar = tqdm(items, desc="encode", unit="file", disable=disable)
    utterances = [encode_file(codec, tokenizer, item) for item in bar]
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
    tokens_path: str | os.PathLike,
    output: str | os.PathLike,
    codec=None,
    levels: int | None = None,
    folder: bool | None = None,
    progress: bool | None = False,
    device: str = "cpu",
) -> list[Path]:
    """Decode every utterance of a token file to audio.

    Args:
        tokens_path: The token file.
        output: A ``.wav`` path when the file holds one utterance, else a folder that gets
            ``<id>.wav`` per utterance.
        codec: A ``Codec``; ``None`` loads the one recorded in the file (``codec_path``).
        levels: Decode only the first ``levels`` RVQ levels (default: all).
        folder: True: ``output`` is a folder whatever the number of utterances; None: a
            folder only when the file holds several.
        progress: Show a tqdm bar over the utterances (None: only on a terminal).
        device: Device of the recorded codec when ``codec`` is None.

    Returns:
        The audio files written.

    Raises:
        SoundStormError: a codec that does not match the tokens, ``levels`` out of range, or
            a ``.wav`` / ``.flac`` output for several utterances.
    """
    import torch
    from tqdm import tqdm

    from soundstorm.audio import save_audio
    from soundstorm.data.token_format import load_tokens

    token_file = load_tokens(tokens_path)
    if codec is None:
        from soundstorm.codecs import get_codec

        source = token_file.header.get("codec_path") or token_file.codec_config["name"]
        codec = get_codec(source, device=device)
    check_codec_matches(codec, token_file.codec_config)
    num_levels = token_file.codec_config["num_levels"]
    levels = num_levels if levels is None else levels
    if not 1 <= levels <= num_levels:
        raise SoundStormError(f"--levels must be in [1, {num_levels}], got {levels}")
    output = Path(output)
    several = bool(folder) or len(token_file.utterances) != 1
    if several and output.suffix.lower() in (".wav", ".flac"):
        raise SoundStormError(
            f"{tokens_path} holds {len(token_file.utterances)} utterances: give a folder "
            "(--out-dir)"
        )
    written = []
    disable = None if progress is None else not progress  # None: tqdm shows it on a terminal
    for utterance in tqdm(token_file.utterances, desc="decode", unit="utt", disable=disable):
        codes = torch.from_numpy(utterance.codes[:levels].astype("int64"))[None]  # (1, Q', T)
        wav = codec.decode(codes)[0]  # (1, S)
        path = output / f"{utterance.id}.wav" if several else output
        save_audio(path, wav, codec.sample_rate)
        written.append(path)
    return written
