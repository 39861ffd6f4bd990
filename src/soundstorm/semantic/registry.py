"""Find a semantic tokenizer by name or by the directory it was saved to.

get_semantic_tokenizer("default")              # embedded PocketSphinx phone ids, 50 Hz
get_semantic_tokenizer("phones", frame_rate=25)
get_semantic_tokenizer("runs/hubert_l6_k500")  # saved by HubertKMeansTokenizer.save
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from soundstorm.errors import SoundStormError
from soundstorm.semantic.base import SemanticTokenizer


def _phones(**kwargs) -> SemanticTokenizer:
    from soundstorm.semantic.phones import PhoneTokenizer

    return PhoneTokenizer(**kwargs)


def _phones_words(**kwargs) -> SemanticTokenizer:
    from soundstorm.semantic.phones import PhoneTokenizer

    return PhoneTokenizer(decoding="words", **kwargs)


#: Built-in tokenizers that need no files: name -> factory taking keyword options.
BUILTIN_TOKENIZERS: dict[str, Callable[..., SemanticTokenizer]] = {
    "default": _phones_words,  # most speaker-independent (docs/bench/semantic.md)
    "phones": _phones,
    "phones-words": _phones_words,
}


def get_semantic_tokenizer(name_or_path: str | os.PathLike, **kwargs) -> SemanticTokenizer:
    """Build a semantic tokenizer.

    Args:
        name_or_path: A built-in name (``"default"`` = ``"phones-words"``, ``"phones"``) or the directory of a
            k-means tokenizer saved with ``HubertKMeansTokenizer.save`` /
            ``W2VBertKMeansTokenizer.save`` (it holds ``semantic_tokenizer.json``).
        **kwargs: Options of the built-in tokenizer (e.g. ``frame_rate=25``), or of
            ``KMeansSemanticTokenizer.load`` for a directory (e.g. ``model_name_or_path=``,
            ``device=``).

    Returns:
        The tokenizer.

    Raises:
        SoundStormError: for an unknown name, a directory without a saved tokenizer, or
            options the tokenizer does not take.
    """
    key = str(name_or_path)
    if key in BUILTIN_TOKENIZERS:
        try:
            return BUILTIN_TOKENIZERS[key](**kwargs)
        except TypeError as error:
            raise SoundStormError(f"bad option for semantic tokenizer {key!r}: {error}") from error
    path = Path(key).expanduser()
    if path.is_dir():
        from soundstorm.semantic.kmeans_tokenizer import CONFIG_NAME, load_kmeans_tokenizer

        if not (path / CONFIG_NAME).is_file():
            raise SoundStormError(f"{path} holds no saved semantic tokenizer ({CONFIG_NAME})")
        return load_kmeans_tokenizer(path, **kwargs)
    choices = ", ".join(sorted(BUILTIN_TOKENIZERS))
    raise SoundStormError(
        f"unknown semantic tokenizer {key!r}: choose one of {choices}, "
        "or the directory of a saved k-means tokenizer"
    )
