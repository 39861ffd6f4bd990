"""One registry of semantic tokenizers: a built-in name or a saved directory -> the tokenizer.

get_semantic_tokenizer("data/tokens/semantic_tokenizer")  # saved: by its recorded kind
get_semantic_tokenizer("phones-words")         # PocketSphinx words -> phone ids, 50 Hz
get_semantic_tokenizer("phones-moonshine")     # Moonshine words -> aligned phone ids, 50 Hz
get_semantic_tokenizer("phones", frame_rate=25)

The default semantic tokenizer (Moonshine encoder features + k-means) is fitted on the user's
audio by ``soundstorm prepare`` and saved as ``OUT_DIR/semantic_tokenizer``
(``soundstorm.data.semantic_fitting``): it is a saved directory, not a built-in name, so
``get_semantic_tokenizer("default")`` says where to find it (``DEFAULT_NAME``). In
``pipeline.json`` files of format version 1, ``"default"`` names ``"phones-words"``
(``LEGACY_DEFAULT``), the default of those days.

Three tables, each filled by one call per member (bottom of this file):

- ``register_semantic_tokenizer(name, factory)``: built-in names that need no files;
- ``register_saved_kind(kind, load)``: saved directories, dispatched by the ``kind`` recorded
  in their ``semantic_tokenizer.json`` (read with the version policy of
  ``soundstorm.formats``);
- ``register_feature_extractor(kind, build)``: a ``FeatureExtractor`` for the generic
  features + k-means tokenizer (``soundstorm.semantic.features_kmeans``); it registers the
  saved kind too. A new encoder is one extractor file plus one line here, e.g.::

      register_feature_extractor("moonshine", "soundstorm.semantic.moonshine:MoonshineFeatures")

Factories and builders may be given as ``"module:attribute"`` strings, imported on first use
(so that listing the registry imports no ``transformers`` or ``pocketsphinx``). Every member
passes ``tests/semantic/test_tokenizer_contract.py``.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from soundstorm.errors import SoundStormError
from soundstorm.formats import check_format_version
from soundstorm.semantic.base import SemanticTokenizer

#: The JSON file of a saved tokenizer directory (``kind``, ``format_version``, settings).
CONFIG_NAME = "semantic_tokenizer.json"
#: The name of the default tokenizer: fitted by ``soundstorm prepare``, never built by name.
DEFAULT_NAME = "default"
#: What ``"default"`` named before the fitted default (``pipeline.json`` version 1).
LEGACY_DEFAULT = "phones-words"


def _resolve(target: Callable | str) -> Callable:
    """``target`` itself, or the object a ``"module:attr.attr"`` string names (imported now)."""
    if not isinstance(target, str):
        return target
    module_name, _, attributes = target.partition(":")
    value = importlib.import_module(module_name)
    for attribute in attributes.split("."):
        value = getattr(value, attribute)
    return value


@dataclass(frozen=True)
class TokenizerEntry:
    """A built-in tokenizer name: ``factory(**options) -> SemanticTokenizer``."""

    name: str
    factory: Callable[..., SemanticTokenizer] | str
    description: str = ""

    def build(self, **options) -> SemanticTokenizer:
        """The tokenizer with ``options``; a bad option is a ``SoundStormError``."""
        try:
            return _resolve(self.factory)(**options)
        except TypeError as error:
            raise SoundStormError(
                f"bad option for semantic tokenizer {self.name!r}: {error}"
            ) from None


@dataclass(frozen=True)
class SavedKindEntry:
    """A saved kind: ``load(directory, **options) -> SemanticTokenizer``."""

    kind: str
    load: Callable[..., SemanticTokenizer] | str
    description: str = ""


@dataclass(frozen=True)
class ExtractorEntry:
    """A feature-extractor kind of the features + k-means tokenizer.

    Attributes:
        kind: Recorded as ``kind`` in saved tokenizers.
        builder: ``builder(config: dict, device=...) -> FeatureExtractor`` from the entries of
            the extractor's ``config_dict()`` (or a ``"module:attr"`` string).
        tokenizer: The ``FeaturesKMeansTokenizer`` subclass ``load`` returns for this kind
            (None: the generic class).
        description: One phrase for listings.
    """

    kind: str
    builder: Callable | str
    tokenizer: type | str | None = None
    description: str = ""

    def build(self, config: dict, device="cpu"):
        """The extractor described by ``config`` on ``device``."""
        return _resolve(self.builder)(config, device=device)

    def tokenizer_class(self) -> type:
        """The tokenizer class of this kind (imported now)."""
        if self.tokenizer is None:
            from soundstorm.semantic.features_kmeans import FeaturesKMeansTokenizer

            return FeaturesKMeansTokenizer
        return _resolve(self.tokenizer)


_NAMES: dict[str, TokenizerEntry] = {}
_SAVED: dict[str, SavedKindEntry] = {}
_EXTRACTORS: dict[str, ExtractorEntry] = {}


def register_semantic_tokenizer(
    name: str, factory: Callable[..., SemanticTokenizer] | str, description: str = ""
) -> TokenizerEntry:
    """Register a built-in name (see ``TokenizerEntry``).

    Raises:
        ValueError: the name is taken.
    """
    if name in _NAMES:
        raise ValueError(f"semantic tokenizer {name!r} is already registered")
    _NAMES[name] = TokenizerEntry(name, factory, description)
    return _NAMES[name]


def register_saved_kind(
    kind: str, load: Callable[..., SemanticTokenizer] | str, description: str = ""
) -> SavedKindEntry:
    """Register how directories saved with ``"kind": kind`` are loaded.

    Raises:
        ValueError: the kind is taken.
    """
    if kind in _SAVED:
        raise ValueError(f"saved semantic tokenizer kind {kind!r} is already registered")
    _SAVED[kind] = SavedKindEntry(kind, load, description)
    return _SAVED[kind]


def register_feature_extractor(
    kind: str,
    builder: Callable | str,
    tokenizer: type | str | None = None,
    description: str = "",
) -> ExtractorEntry:
    """Register a feature extractor for features + k-means, and its saved kind.

    Raises:
        ValueError: the kind is taken.
    """
    if kind in _EXTRACTORS or kind in _SAVED:
        raise ValueError(f"feature extractor kind {kind!r} is already registered")
    _EXTRACTORS[kind] = ExtractorEntry(kind, builder, tokenizer, description)
    register_saved_kind(kind, _load_features_kmeans, f"features + k-means: {description}")
    return _EXTRACTORS[kind]


def _load_features_kmeans(directory, **options) -> SemanticTokenizer:
    from soundstorm.semantic.features_kmeans import FeaturesKMeansTokenizer

    return FeaturesKMeansTokenizer.load(directory, **options)


def registered_semantic_tokenizers() -> dict[str, TokenizerEntry]:
    """The built-in names, in registration order (a copy)."""
    return dict(_NAMES)


def saved_kinds() -> dict[str, SavedKindEntry]:
    """The saved kinds, in registration order (a copy)."""
    return dict(_SAVED)


def feature_extractor_kinds() -> list[str]:
    """The registered feature-extractor kinds (``soundstorm semantic fit --kind``)."""
    return list(_EXTRACTORS)


def feature_extractor_entry(kind: str) -> ExtractorEntry:
    """The registered extractor of ``kind``.

    Raises:
        SoundStormError: no extractor of that kind.
    """
    if kind not in _EXTRACTORS:
        known = ", ".join(_EXTRACTORS) or "none"
        raise SoundStormError(f"unknown feature extractor kind {kind!r}; known: {known}")
    return _EXTRACTORS[kind]


def semantic_choices() -> str:
    """What ``get_semantic_tokenizer`` accepts, in one phrase (help and error texts)."""
    return (
        f"one of {', '.join(_NAMES)}, or the directory of a saved tokenizer "
        f"(kinds: {', '.join(_SAVED)}; the default one is OUT_DIR/semantic_tokenizer of "
        "soundstorm prepare)"
    )


def read_saved_config(directory: str | os.PathLike) -> dict:
    """Read ``semantic_tokenizer.json`` of a saved directory and apply the version policy.

    Returns:
        The config; it has a ``kind`` entry. Files written before versions were recorded
        count as version 1.

    Raises:
        SoundStormError: unreadable or not a JSON object, or no ``kind``.
        FormatVersionError: a newer format version (upgrade soundstorm).
    """
    path = Path(directory) / CONFIG_NAME
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SoundStormError(f"cannot read saved semantic tokenizer {path}: {error}") from None
    if not isinstance(config, dict):
        raise SoundStormError(f"{path}: not a saved semantic tokenizer (not a JSON object)")
    check_format_version(path, "semantic-tokenizer", config.get("format_version"))
    if "kind" not in config:
        raise SoundStormError(f"{path} lacks the field 'kind'")
    return config


def get_semantic_tokenizer(name_or_path: str | os.PathLike, **kwargs) -> SemanticTokenizer:
    """Build a semantic tokenizer.

    Args:
        name_or_path: A built-in name (``"phones-words"``, ``"phones"``) or the directory
            of a saved tokenizer (it holds ``semantic_tokenizer.json``), loaded
            by the loader registered for its recorded ``kind``.
        **kwargs: Options of the built-in tokenizer (e.g. ``frame_rate=25``), or of the saved
            kind's loader (features + k-means: ``device=``, ``chunk_seconds=``, or a saved
            extractor setting to override, e.g. ``model_name_or_path=``).

    Returns:
        The tokenizer.

    Raises:
        SoundStormError: an unknown name, ``"default"`` (fitted by ``soundstorm prepare``:
            the message says where it is saved), a directory without a saved tokenizer or of
            an unknown kind, or options the tokenizer does not take.
        FormatVersionError: a directory saved by a newer soundstorm.
    """
    key = str(name_or_path)
    if key == DEFAULT_NAME and not Path(key).is_dir():
        raise SoundStormError(
            "the default semantic tokenizer (Moonshine features + k-means) is fitted on your "
            "audio by soundstorm prepare: pass the directory it saved, OUT_DIR/"
            f"semantic_tokenizer, or a built-in name ({', '.join(_NAMES)})"
        )
    if key in _NAMES:
        return _NAMES[key].build(**kwargs)
    path = Path(key).expanduser()
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise SoundStormError(f"{path} holds no saved semantic tokenizer ({CONFIG_NAME})")
        kind = read_saved_config(path)["kind"]
        if kind not in _SAVED:
            raise SoundStormError(
                f"{path}: unknown tokenizer kind {kind!r}; known: {', '.join(_SAVED)}"
            )
        try:
            return _resolve(_SAVED[kind].load)(path, **kwargs)
        except TypeError as error:
            raise SoundStormError(f"bad option for a saved tokenizer: {error}") from None
    raise SoundStormError(f"unknown semantic tokenizer {key!r}: choose {semantic_choices()}")


# -------------------------------------------------------------------- built-in tokenizers
def _phones(**options) -> SemanticTokenizer:
    from soundstorm.semantic.phones import PhoneTokenizer

    return PhoneTokenizer(**options)


def _phones_words(**options) -> SemanticTokenizer:
    from soundstorm.semantic.phones import PhoneTokenizer

    return PhoneTokenizer(decoding="words", **options)


def _phones_moonshine(**options) -> SemanticTokenizer:
    from soundstorm.semantic.phones import PhoneTokenizer

    return PhoneTokenizer(decoding="words", recogniser="moonshine", **options)


register_semantic_tokenizer("phones", _phones, "PocketSphinx allphone ids, 41 ids, 50 Hz")
register_semantic_tokenizer(
    "phones-words", _phones_words, "PocketSphinx words -> aligned phones (the shipped model's)"
)
register_semantic_tokenizer(
    "phones-moonshine", _phones_moonshine, "Moonshine tiny-en words -> PocketSphinx-aligned phones"
)
register_feature_extractor(
    "hubert",
    "soundstorm.semantic.hf_features:HubertFeatures.from_config",
    "soundstorm.semantic.kmeans_tokenizer:HubertKMeansTokenizer",
    "a HuBERT layer (transformers)",
)
register_feature_extractor(
    "w2v-bert",
    "soundstorm.semantic.hf_features:W2VBertFeatures.from_config",
    "soundstorm.semantic.kmeans_tokenizer:W2VBertKMeansTokenizer",
    "a w2v-BERT 2.0 layer (transformers)",
)
register_feature_extractor(
    "moonshine",
    "soundstorm.semantic.moonshine_features:MoonshineFeatures.from_config",
    None,
    "the Moonshine tiny-en encoder (onnxruntime, bundled in moonshine-voice)",
)
