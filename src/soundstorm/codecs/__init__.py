"""Audio codecs: the embedded default (fitted on your audio) and EnCodec/DAC/Mimi adapters.

``get_codec`` turns a name or a path into a ``Codec``:

- a file written by ``EmbeddedCodec.save`` (``*.safetensors``) -> ``EmbeddedCodec``;
- ``"encodec"``, ``"encodec_24khz"`` or any hub id containing ``encodec`` ->
  ``EncodecCodec`` (models without chunking: not the 48 kHz one);
- ``"dac"``, ``"dac_16khz"``, ``"dac_24khz"``, ``"dac_44khz"`` or any hub id containing
  ``dac`` -> ``DacCodec``;
- ``"mimi"`` or any hub id containing ``mimi`` -> ``MimiCodec``;
- a local directory written by ``save_pretrained`` -> the adapter named by the
  ``model_type`` of its ``config.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from soundstorm.codecs.base import Codec
from soundstorm.codecs.embedded import EmbeddedCodec, EmbeddedCodecConfig
from soundstorm.errors import SoundStormError
from soundstorm.validation import require_optional_int, resolve_device

__all__ = [
    "Codec",
    "EmbeddedCodec",
    "EmbeddedCodecConfig",
    "get_codec",
    "CODEC_ALIASES",
    "load_codec",
]

#: Short names accepted by ``get_codec`` and the hub ids they stand for.
CODEC_ALIASES: dict[str, str] = {
    "encodec": "facebook/encodec_24khz",
    "encodec_24khz": "facebook/encodec_24khz",
    "dac": "descript/dac_24khz",
    "dac_16khz": "descript/dac_16khz",
    "dac_24khz": "descript/dac_24khz",
    "dac_44khz": "descript/dac_44khz",
    "mimi": "kyutai/mimi",
}

_FAMILIES = ("encodec", "dac", "mimi")


def _family_of_directory(path: Path) -> str | None:
    """The codec family named by ``config.json`` in a ``save_pretrained`` directory."""
    config_file = path / "config.json"
    if not config_file.is_file():
        return None
    try:
        model_type = json.loads(config_file.read_text()).get("model_type", "")
    except (OSError, json.JSONDecodeError) as error:
        raise SoundStormError(f"cannot read {config_file}: {error}") from error
    return model_type if model_type in _FAMILIES else None


def _family_of_name(name: str) -> str | None:
    """The codec family a hub id or alias belongs to, from its last path component."""
    last = name.lower().rstrip("/").rsplit("/", 1)[-1]
    for family in _FAMILIES:
        if family in last:
            return family
    return None


def _valid_choices() -> str:
    return (
        "a fitted embedded codec file (.safetensors), a save_pretrained directory of an "
        "EnCodec/DAC/Mimi model, or one of: "
        + ", ".join(CODEC_ALIASES)
        + " (or a hub id such as facebook/encodec_24khz)"
    )


def get_codec(
    name_or_path: str | os.PathLike, num_levels: int | None = None, device: str = "cpu", **kwargs
) -> Codec:
    """Build a codec from a name, a hub id or a path.

    Args:
        name_or_path: see the module docstring.
        num_levels: RVQ levels to produce (default: the codec's own default; for an
            embedded codec, all the levels it was fitted with).
        device: torch device of the neural adapters (the embedded codec runs on CPU).
        **kwargs: passed to the codec's constructor or loader.

    Returns:
        The codec.

    Raises:
        SoundStormError: unknown name, missing file, a file of the wrong kind, or a device
            this machine lacks (``resolve_device``).
        ValueError: ``num_levels`` not an integer >= 1 (never truncated).
    """
    num_levels = require_optional_int("num_levels", num_levels, minimum=1)
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return EmbeddedCodec.load(path, num_levels=num_levels, **kwargs)
    if path.is_dir():
        family = _family_of_directory(path)
        if family is None:
            raise SoundStormError(
                f"{path} is not a save_pretrained directory of an EnCodec, DAC or Mimi model "
                f"(config.json with model_type encodec/dac/mimi); expected {_valid_choices()}"
            )
        hub_id = str(path)
    elif text.endswith(".safetensors") or os.sep in text and text.startswith((".", os.sep, "~")):
        raise SoundStormError(f"codec file not found: {text}")
    else:
        hub_id = CODEC_ALIASES.get(text.lower(), text)
        family = _family_of_name(hub_id)
        if family is None:
            raise SoundStormError(f"unknown codec {text!r}; expected {_valid_choices()}")

    from soundstorm.codecs import hf

    adapter = {"encodec": hf.EncodecCodec, "dac": hf.DacCodec, "mimi": hf.MimiCodec}[family]
    device = str(resolve_device(device))
    return adapter(hub_id, num_levels=num_levels, device=device, **kwargs)


#: Alias of ``get_codec`` (name used by some callers).
load_codec = get_codec
