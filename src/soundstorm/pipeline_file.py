"""``pipeline.json``: what a model directory names beside its weights (codec, semantic
tokenizer, recommended decoding passes). Read here without loading the heavier parts of
``soundstorm.pipeline`` (audio, text front end), so that exporting and the model card work on a
machine with only the training dependencies (a lent GPU).
"""

from __future__ import annotations

import json
from pathlib import Path

from soundstorm.errors import SoundStormError

PIPELINE_FILE = "pipeline.json"


def read_pipeline_file(model_dir: str | Path) -> dict:
    """The codec / semantic names of ``model_dir/pipeline.json`` (relative paths resolved),
    and ``steps``, the model's first-level decoding passes, when the file recommends some.

    Files of older versions are read (``soundstorm.formats``, kind ``pipeline``: a file
    without ``format_version`` is version 1; there ``"semantic": "default"`` means
    ``"phones-words"``, the default of those days); a newer one is a ``FormatVersionError``."""
    from soundstorm.formats import check_format_version
    from soundstorm.semantic.registry import DEFAULT_NAME, LEGACY_DEFAULT

    path = Path(model_dir) / PIPELINE_FILE
    if not path.is_file():
        return {}
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SoundStormError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(spec, dict):
        raise SoundStormError(f"{path} is not a JSON object")
    version = check_format_version(path, "pipeline", spec.get("format_version"))
    if version == 1 and spec.get("semantic") == DEFAULT_NAME:
        spec["semantic"] = LEGACY_DEFAULT
    resolved = {}
    for key in ("codec", "semantic"):
        if key in spec:
            candidate = Path(model_dir) / spec[key]
            resolved[key] = str(candidate) if candidate.exists() else str(spec[key])
    if "steps" in spec:
        steps = spec["steps"]
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise SoundStormError(f"{path}: 'steps' must be a positive integer, got {steps!r}")
        resolved["steps"] = steps
    return resolved
