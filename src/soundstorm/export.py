"""A trained checkpoint -> a self-contained voice model directory: ``export_model``.

The directory holds what ``soundstorm generate`` / ``soundstorm demo --model`` need and
nothing else: ``model.safetensors`` (weights cast to 16-bit floats: half the size, loaded back
as float32 on a CPU and bfloat16 on a GPU), ``config.json``, a copy of the codec file, a copy
of the semantic tokenizer's directory when it is a fitted one (``semantic_tokenizer/``), and
``pipeline.json`` naming the codec and the semantic tokenizer (paths relative to the
directory; its version follows ``soundstorm.formats``, kind ``pipeline``), and ``README.md``,
the model card of ``soundstorm.model_card`` (what the model is, its codec, tokenizer, training
data, measured figures, licences and limits; what the export was not told reads "not
recorded"). The command line is ``soundstorm export`` (``soundstorm.commands.export``)::

    soundstorm export runs/default/checkpoints/step_00004000/model OUT_DIR \
        --codec data/tokens/codec.safetensors --data data/tokens \
        --corpus-summary data/corpus/summary.json --figures eval/summary.md

The directory is written beside ``OUT_DIR`` and renamed into place at the end: a failed export
leaves nothing half-written. ``OUT_DIR`` is locked while it is written (``.OUT_DIR.lock``
beside it: a second export into it is refused), its parent checked for writing before the
checkpoint loads, and a killed export's temporaries beside it are removed. The weights carry
their SHA-256 (``soundstorm.checksums``), checked whenever the model is loaded.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch

from soundstorm.checksums import check_safetensors
from soundstorm.errors import SoundStormError
from soundstorm.files import (
    atomic_directory,
    check_writable,
    folder_lock,
    remove_stale_temp_files,
)
from soundstorm.formats import current_version
from soundstorm.model_card import (
    CardSources,
    model_card,
    read_card_sources,
    read_training_history,
    write_training_json,
)
from soundstorm.validation import require_optional_int

#: Where an exported model keeps its copies of the codec file and of a fitted tokenizer.
CODEC_FILE = "codec.safetensors"
TOKENIZER_DIR = "semantic_tokenizer"

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def export_model(
    checkpoint: str | Path,
    out_dir: str | Path,
    codec: str,
    semantic: str | None = None,
    dtype: torch.dtype = torch.float16,
    force: bool = False,
    steps: int | None = None,
    data: str | Path | None = None,
    corpus_summary: str | Path | None = None,
    figures: str | Path | None = None,
) -> Path:
    """Write a voice model directory (see the module docstring).

    Args:
        checkpoint: a ``SoundStorm.save_pretrained`` directory.
        out_dir: where to write; must not exist unless ``force``.
        codec: a codec file, or an alias of one (``shipped``), copied in as
            ``codec.safetensors``; or a codec name (kept as is).
        semantic: a semantic tokenizer name (recorded as is in ``pipeline.json``) or the
            directory of a fitted one (copied in as ``semantic_tokenizer/``, recorded by
            that relative path: the model directory carries it). None or ``"default"``: the
            one ``soundstorm prepare`` saved beside the codec file
            (``CODEC_DIR/semantic_tokenizer``).
        dtype: dtype of the saved weights.
        force: replace an existing ``out_dir``.
        steps: first-level decoding passes recorded in ``pipeline.json`` (None: none recorded,
            the paper's 16 apply).
        data: the ``soundstorm prepare`` directory the model was trained on, described in the
            model card (None: its training data reads "not recorded").
        corpus_summary: the ``summary.json`` of the ``soundstorm corpus`` run behind ``data``
            (voices, hours, licences), described in the model card.
        figures: a Markdown file of measured figures (e.g. ``benchmarks/eval_voice.py``'s
            ``summary.md``), inserted verbatim in the model card under "Measured".

    Returns:
        ``out_dir``.

    Raises:
        SoundStormError / FileNotFoundError: bad inputs, ``out_dir`` exists without ``force``,
            no ``semantic`` given and no saved tokenizer beside the codec file, or a
            ``data`` / ``corpus_summary`` / ``figures`` file missing or unreadable (checked
            before anything is written).
        ValueError: ``steps`` not an integer >= 1.
    """
    from soundstorm.inference import load_pretrained

    out_dir = Path(out_dir)
    steps = require_optional_int("steps", steps, minimum=1)  # 8.5 is refused, not truncated
    if out_dir.exists() and not force:
        raise SoundStormError(f"{out_dir} exists: pass --force to replace it")
    sources = read_card_sources(data, corpus_summary, figures)  # a bad file: nothing written
    sources = dataclasses.replace(sources, training=read_training_history(checkpoint))
    from soundstorm.semantic.registry import DEFAULT_NAME, get_semantic_tokenizer

    if semantic is None or semantic == DEFAULT_NAME:
        from soundstorm.data.prepare import tokenizer_beside

        semantic = tokenizer_beside(codec)
        if semantic is None:
            get_semantic_tokenizer(DEFAULT_NAME)  # raises: where the fitted default is saved
    with folder_lock(out_dir, "soundstorm export", beside=True):
        check_writable(out_dir.parent)  # a read-only or full destination, before the work
        for pattern in (f".{out_dir.name}.*.tmp", f".{out_dir.name}.old-*"):  # a killed export's
            remove_stale_temp_files(out_dir.parent, pattern)
        model = load_pretrained(checkpoint, "cpu", dtype=torch.float32)
        _write_model_dir(model, out_dir, codec, semantic, dtype, steps, sources)
    return out_dir


def _write_model_dir(
    model, out_dir: Path, codec: str, semantic, dtype, steps, sources: CardSources
) -> None:
    """Write the voice model directory in a temporary folder renamed to ``out_dir``."""
    from soundstorm.codecs.registry import codec_file

    codec_path = codec_file(codec)  # a file, or the file of an alias such as ``shipped``
    with atomic_directory(out_dir) as temp:  # the usual modes; replaces out_dir at the end
        model.to(dtype).save_pretrained(temp)
        spec = {"codec": codec, "semantic": semantic}
        if steps is not None:
            spec["steps"] = steps
        if codec_path is not None:
            check_safetensors(codec_path)  # a damaged codec is not carried on
            shutil.copyfile(codec_path, temp / CODEC_FILE)
            spec["codec"] = CODEC_FILE
        tokenizer_path = Path(semantic).expanduser()
        if tokenizer_path.is_dir():  # a fitted tokenizer: carried, not pointed at
            from soundstorm.semantic.registry import read_saved_config

            read_saved_config(tokenizer_path)  # a saved tokenizer this soundstorm reads
            shutil.copytree(tokenizer_path, temp / TOKENIZER_DIR)
            spec["semantic"] = TOKENIZER_DIR
        if current_version("pipeline") > 1:  # version 1 files carry no version entry
            spec["format_version"] = current_version("pipeline")
        (temp / "pipeline.json").write_text(json.dumps(spec, indent=1) + "\n")
        # the hub mixin's generic card (it says the model was pushed to the Hub) replaced
        (temp / "README.md").write_text(model_card(temp, sources), encoding="utf-8")
        if sources.training:  # the history travels with the weights (warm starts continue it)
            write_training_json(temp, sources.training)
