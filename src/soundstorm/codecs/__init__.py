"""Audio codecs: the embedded default (fitted on your audio) and EnCodec/DAC/Mimi adapters.

``get_codec`` turns a name or a path into a ``Codec`` through one registry
(``soundstorm.codecs.registry``):

- a file written by ``EmbeddedCodec.save`` (``*.safetensors``) -> ``EmbeddedCodec``, found by
  the ``format`` recorded in the file's metadata;
- ``"encodec"``, ``"encodec_24khz"`` or any hub id containing ``encodec`` ->
  ``EncodecCodec`` (models without chunking: not the 48 kHz one);
- ``"dac"``, ``"dac_16khz"``, ``"dac_24khz"``, ``"dac_44khz"`` or any hub id containing
  ``dac`` -> ``DacCodec``;
- ``"mimi"`` or any hub id containing ``mimi`` -> ``MimiCodec``;
- a local directory written by ``save_pretrained`` -> the adapter registered for the
  ``model_type`` of its ``config.json``.

A new codec is an adapter (a ``Codec`` subclass) plus one ``register_codec`` call; every
registered codec passes ``tests/codecs/test_codec_contract.py``.
"""

from __future__ import annotations

from soundstorm.codecs.base import Codec
from soundstorm.codecs.embedded import EmbeddedCodec, EmbeddedCodecConfig
from soundstorm.codecs.registry import (
    CODEC_ALIASES,
    codec_choices,
    get_codec,
    register_codec,
    registered_codecs,
)

__all__ = [
    "CODEC_ALIASES",
    "Codec",
    "EmbeddedCodec",
    "EmbeddedCodecConfig",
    "codec_choices",
    "get_codec",
    "register_codec",
    "registered_codecs",
]
