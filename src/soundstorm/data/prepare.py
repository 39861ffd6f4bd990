"""Encode a folder (or manifest) of audio into token shards: ``prepare``.

The command line is ``soundstorm prepare`` (``soundstorm.commands.prepare``)::

    soundstorm prepare data/wavs data/tokens                      # codec + tokenizer fitted here
    soundstorm prepare data/wavs data/tokens --workers 8 --shard-size 2000
    soundstorm prepare list.jsonl data/tokens --codec data/tokens/codec.safetensors
    torchrun --nnodes 4 --nproc-per-node 8 -m soundstorm prepare data/wavs data/tokens

It is resumable and idempotent: the shards are planned from the sorted input list before
any encoding, each is written under a temporary name and renamed when complete, and a
re-run skips every shard already there and intact (checked by a fingerprint of its inputs
and settings, and by the SHA-256 of its arrays: a damaged shard is written again).

One run at a time writes ``OUT_DIR``: it holds ``OUT_DIR/.soundstorm.lock`` (another run is
refused, naming it; the lock of a dead run is taken over), sweeps the temporaries a killed
run left, and checks that it can write there before fitting anything. Every setting that
determines the output (inputs, shard size, splits, the codec or the embedded codec's fit
options, the semantic tokenizer and its clusters, the fit sample) is recorded in
``OUT_DIR/prepare.json`` and checked before any work: a re-run with other settings is
refused with what differs. A re-run on a finished folder only reads it (it may be
read-only): nothing is rewritten when nothing changed. Under torchrun each rank (``RANK`` / ``WORLD_SIZE``) encodes shards
``rank, rank + world_size, ...``; rank 0 then waits for all of them and writes
``manifest.json`` and ``bad_files.tsv``. Files that cannot be used are skipped and listed
with the reason in ``bad_files.tsv``.

By default two things are fitted on a sample of the input (``--fit-files``) before encoding,
and saved in ``OUT_DIR`` so that every shard, rank and re-run uses them: the embedded codec
(``codec.safetensors``, ``soundstorm.data.codec_fitting``) and the semantic tokenizer, Moonshine
encoder features + k-means (``semantic_tokenizer/``, ``soundstorm.data.semantic_fitting``).
The manifest records both (``codec_path``, ``semantic_path``), so that training can export a
model that carries them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from soundstorm.data.inputs import ShardPlan, inputs_digest, list_inputs, plan_shards
from soundstorm.data.shards import (
    MANIFEST_NAME,
    SHARDS_DIRNAME,
    ShardWriter,
    open_shard,
    read_shard_header,
    remove_stale_temp_dirs,
    write_json_atomic,
    write_manifest,
)
from soundstorm.errors import DamagedFileError, SoundStormError
from soundstorm.files import check_writable, folder_lock, sweep_temp_files, update_text
from soundstorm.validation import (
    distributed_env,
    distributed_group,
    require_int,
    resolve_rank_device,
)

SETTINGS_NAME = "prepare.json"
BAD_FILES_NAME = "bad_files.tsv"
FITTED_CODEC_NAME = "codec.safetensors"
#: Where the default semantic tokenizer is saved, in OUT_DIR (``--semantic default``).
FITTED_TOKENIZER_NAME = "semantic_tokenizer"
#: ``--semantic`` value that fits the default tokenizer on the input (``semantic_fitting``).
DEFAULT_SEMANTIC = "default"
STOP_AFTER_ENV = "SOUNDSTORM_PREPARE_STOP_AFTER_SHARDS"


class PrepareInterrupted(KeyboardInterrupt):
    """Raised by the test hook ``stop_after_shards`` to simulate a killed run."""


def _log_to_stderr(message: str) -> None:
    print(f"soundstorm prepare: {message}", file=sys.stderr, flush=True)


def wait_for(predicate, what: str, timeout: float | None, poll: float = 1.0) -> None:
    """Poll ``predicate()`` until it is true; ``SoundStormError`` after ``timeout`` s."""
    start = time.monotonic()
    if timeout is not None:
        poll = min(poll, max(timeout / 4, 0.01))
    while not predicate():
        if timeout is not None and time.monotonic() - start > timeout:
            raise SoundStormError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def load_named_codec(codec, device: str = "cpu"):
    """``(codec, codec_path)`` for a ``Codec`` instance or a name / fitted file; ``(None,
    None)`` when ``codec`` is ``None`` (the embedded codec is then fitted, see
    ``fitted_codec``)."""
    from soundstorm.codecs.base import Codec

    if codec is None:
        return None, None
    if isinstance(codec, Codec):
        return codec, getattr(codec, "name", None)
    from soundstorm.codecs import get_codec

    path = Path(codec).expanduser()
    codec_path = str(path.resolve()) if path.exists() else str(codec)
    return get_codec(str(codec), device=device), codec_path


def fitted_codec(inputs, out_dir: Path, rank: int, options: dict, timeout: float | None):
    """The embedded codec fitted on a sample of ``inputs``, saved as ``out_dir/codec.safetensors``.

    Rank 0 fits and saves it (atomically); other ranks wait for the file. A re-run loads
    the saved file instead of fitting again, so resumed shards use the same codebooks.

    Returns:
        ``(codec, codec_path)`` with ``codec_path`` relative to ``out_dir``.

    Raises:
        SoundStormError: the saved codec is of another version than ``options["preset"]``.
    """
    from soundstorm.codecs import get_codec

    path = out_dir / FITTED_CODEC_NAME
    if not path.exists():
        if rank == 0:
            from soundstorm.data.codec_fitting import fit_embedded_codec

            fit_embedded_codec(inputs, path, **options)
        else:
            wait_for(path.exists, f"rank 0 to fit {path}", timeout)
    codec = get_codec(str(path))
    preset = options.get("preset")
    found = f"v{codec.config.format_version}" if hasattr(codec, "config") else None
    if preset is not None and found is not None and found != preset:
        raise SoundStormError(
            f"{path} holds an embedded codec {found}, not {preset}: use --embedded-codec "
            f"{found} to resume, or another OUT_DIR"
        )
    for option, value in (
        ("--num-levels", codec.num_levels),
        ("--codebook-size", codec.codebook_size),
    ):
        asked = options.get(option.lstrip("-").replace("-", "_"))
        if asked is not None and asked != value:  # a codec an interrupted run fitted here
            raise SoundStormError(
                f"{path} holds a codec fitted with {option} {value}, not {asked}: use "
                f"{option} {value} to resume, or another OUT_DIR"
            )
    return codec, FITTED_CODEC_NAME


def fitted_semantic_tokenizer(
    inputs, out_dir: Path, rank: int, options: dict, timeout: float | None
):
    """The default semantic tokenizer fitted on a sample of ``inputs``, in
    ``out_dir/semantic_tokenizer/``.

    Rank 0 fits and saves it; other ranks wait for its ``semantic_tokenizer.json`` (written
    last). A re-run loads the saved one instead of fitting again, so resumed shards use the
    same centroids.

    Args:
        inputs: The files to fit on (the train split), sorted by id.
        out_dir: The output folder.
        rank: This process's rank.
        options: ``num_clusters``, ``max_files``, ``log`` of
            ``soundstorm.data.semantic_fitting.fit_default_semantic_tokenizer``.
        timeout: Seconds other ranks wait (None: no limit).

    Returns:
        The tokenizer, loaded from the saved directory.
    """
    from soundstorm.semantic import get_semantic_tokenizer
    from soundstorm.semantic.registry import CONFIG_NAME

    directory = out_dir / FITTED_TOKENIZER_NAME
    if not (directory / CONFIG_NAME).is_file():
        if rank == 0:
            from soundstorm.data.semantic_fitting import fit_default_semantic_tokenizer

            fit_default_semantic_tokenizer(inputs, directory, **options)
        else:
            wait_for((directory / CONFIG_NAME).is_file, f"rank 0 to fit {directory}", timeout)
    return get_semantic_tokenizer(directory)


def tokenizer_beside(codec: str | os.PathLike | None) -> str | None:
    """The semantic tokenizer ``prepare`` saved beside a codec file it fitted, if any.

    Args:
        codec: A codec file (e.g. ``data/tokens/codec.safetensors``) or name.

    Returns:
        ``CODEC_DIR/semantic_tokenizer`` when the codec is a file and that directory holds a
        saved tokenizer; None otherwise.
    """
    from soundstorm.semantic.registry import CONFIG_NAME

    if codec is None or not Path(codec).expanduser().is_file():
        return None
    directory = Path(codec).expanduser().parent / FITTED_TOKENIZER_NAME
    return str(directory) if (directory / CONFIG_NAME).is_file() else None


def saved_tokenizer_digest(directory: str | os.PathLike) -> str:
    """SHA-1 of a saved features + k-means tokenizer's centroids (``kmeans.safetensors``)."""
    from soundstorm.semantic.features_kmeans import CENTROIDS_NAME

    return codec_file_digest(Path(directory) / CENTROIDS_NAME)


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def setting_differences(previous: dict, settings: dict, prefix: str = "") -> list[str]:
    """What differs between two settings dicts, one ``"key: A before, B now"`` each.

    At the top level only the keys both hold are compared (a setting an older release did
    not record, or that applies to one run only, such as the fit options of a codec given by
    name, is not a difference); inside a setting (a codec configuration) every key is.
    """
    differences = []
    keys = set(previous) & set(settings) if not prefix else set(previous) | set(settings)
    for key in sorted(keys):
        before, now = previous.get(key), settings.get(key)
        if before == now:
            continue
        if isinstance(before, dict) and isinstance(now, dict):
            differences += setting_differences(before, now, f"{prefix}{key}.")
        else:
            differences.append(f"{prefix}{key}: {_short(before)} before, {_short(now)} now")
    return differences


def check_settings(out_dir: Path, settings: dict, record: bool = True) -> None:
    """Check ``settings`` against those recorded in ``OUT_DIR/prepare.json`` by earlier runs,
    and record the ones not recorded yet.

    Called twice by ``prepare``: before any work with the options it was given (inputs,
    shard size, the fit options of the codec and of the semantic tokenizer, where they come
    from), then, once they are loaded or fitted, with the codec's and tokenizer's own
    configurations and digests.

    Args:
        out_dir: The output folder.
        settings: Setting name -> JSON value.
        record: Write the new settings (rank 0 of a writable folder); the file is only
            rewritten when something is added.

    Raises:
        SoundStormError: ``out_dir`` was prepared with other inputs or options (one line
            saying what differs), or its ``prepare.json`` is unreadable.
    """
    path = out_dir / SETTINGS_NAME
    previous = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DamagedFileError(path, f"not valid JSON: {error}", "delete OUT_DIR") from None
        changed = setting_differences(previous, settings)
        if changed:
            raise SoundStormError(
                f"{out_dir} was prepared with other settings ({'; '.join(changed)}): use "
                "another OUT_DIR or delete it"
            )
    merged = {**previous, **settings}
    if record and merged != previous:
        write_json_atomic(path, merged)


def shard_is_done(directory: Path, fingerprint: str) -> bool:
    """Whether ``directory`` holds a complete, intact shard written for this exact plan.

    Reads the index and compares every array with the SHA-256 it records (one pass over
    the shard; a shard written before checksums existed has its id ranges checked instead):
    a damaged shard (an empty or truncated ``codes.npy``, a flipped value, shifted offsets)
    counts as not done and is written again.
    """
    try:
        header, *_ = open_shard(directory, mmap=True, verify=True)
        if "array_sha256" not in header:
            open_shard(directory, mmap=True, check_values=True)
    except (OSError, SoundStormError):  # FileNotFoundError, DamagedFileError, unreadable
        return False
    return header.get("fingerprint") == fingerprint


def codec_file_digest(path: str | os.PathLike | None) -> str | None:
    """Digest of the codec saved in a file (``Codec.content_digest``); ``None`` when ``path``
    is not a file. ``prepare`` resumes only with a codec of the same digest.

    The codec's settings and tensors are hashed, never the file's bytes: safetensors writes
    metadata keys in no fixed order, and re-saving a codec (by this or a later soundstorm,
    whatever format version it writes) must keep its digest. A file that is no codec, or a
    codec kind without a content digest, is hashed by its bytes.
    """
    import hashlib

    from soundstorm.codecs import get_codec

    if path is None or not Path(path).is_file():
        return None
    try:
        content = get_codec(path).content_digest()
    except SoundStormError:
        content = None
    if content is not None:
        return content
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def kept_levels_config(codec_config: dict, keep_levels: int | None) -> dict:
    """The codec config of shards that keep the first ``keep_levels`` levels (``None``: the
    codec's own config, unchanged, so earlier preparations keep their fingerprints).

    Raises:
        SoundStormError: ``keep_levels`` above the codec's levels.
    """
    levels = codec_config["num_levels"]
    if keep_levels is None or keep_levels == levels:
        return dict(codec_config)
    if keep_levels > levels:
        raise SoundStormError(
            f"--keep-levels {keep_levels}: the codec has only {levels} RVQ levels"
        )
    return {**codec_config, "num_levels": keep_levels, "codec_num_levels": levels}


def _encode_shards(pending, codec, tokenizer, specs, settings, options, out):
    """Encode and write ``pending`` ``(plan, fingerprint)`` shards; returns counters.

    ``specs`` is ``(codec, tokenizer)`` as the worker processes rebuild them: spec strings
    (a name or a path) or the objects themselves. ``options`` holds ``workers``,
    ``progress`` and ``stop_after_shards``.
    """
    from tqdm import tqdm

    from soundstorm.data.encoding import encode_task, init_worker

    counters = {"shards": 0, "utterances": 0, "bad": 0, "seconds_audio": 0.0}
    kept = settings["codec"]["num_levels"]
    total_files = sum(len(plan.inputs) for plan, _ in pending)
    workers, stop_after_shards = options["workers"], options["stop_after_shards"]
    disable = not options["progress"] or None  # None: tqdm hides itself off a terminal
    bar = tqdm(total=total_files, unit="file", desc="prepare", disable=disable)
    pool = None
    if workers > 1 and total_files > 1:
        import multiprocessing

        worker_args = (*specs, settings["min_duration"], 1, options["device"])
        pool = multiprocessing.get_context("spawn").Pool(workers, init_worker, worker_args)
    else:
        init_worker(codec, tokenizer, settings["min_duration"], num_threads=None)  # objects
    try:
        for plan, fingerprint in pending:
            if pool is not None:
                chunksize = max(1, min(16, len(plan.inputs) // (4 * workers)))
                results = pool.imap(encode_task, plan.inputs, chunksize=chunksize)
            else:
                results = map(encode_task, plan.inputs)
            writer = ShardWriter(
                out / SHARDS_DIRNAME / plan.name,
                settings["codec"],
                tokenizer.config_dict(),
                fingerprint=fingerprint,
                split=plan.split,
                skipped=[],
            )
            for item, utterance, reason in results:
                if utterance is None:
                    writer.extra["skipped"].append(
                        {"id": item.id, "path": item.path, "reason": reason}
                    )
                else:
                    utterance.codes = utterance.codes[:kept]  # --keep-levels (a view)
                    writer.add(utterance)
                    counters["seconds_audio"] += utterance.duration
                bar.update(1)
            if stop_after_shards is not None and counters["shards"] >= stop_after_shards:
                writer.write_temp()  # the worst moment to be killed: complete but not renamed
                raise PrepareInterrupted(f"stopped after {counters['shards']} shards (test hook)")
            writer.write()
            counters["shards"] += 1
            counters["utterances"] += len(writer.utterances)
            counters["bad"] += len(writer.extra["skipped"])
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    return counters


def merge_outputs(
    out_dir: Path, plans: list[ShardPlan], codec_path, semantic_path: str | None = None
) -> dict:
    """Write ``manifest.json`` and ``bad_files.tsv`` from the finished shards (rank 0).

    ``semantic_path`` (a saved tokenizer directory, relative to ``out_dir`` when it lies in
    it) is recorded when given."""
    shards, bad_lines = [], []
    for plan in plans:
        header = read_shard_header(out_dir / SHARDS_DIRNAME / plan.name)
        if header["utterances"]:
            shards.append((plan.name, plan.split))
        for skipped in header.get("skipped", []):
            reason = " ".join(str(skipped["reason"]).split())
            bad_lines.append(f"{skipped['path']}\t{skipped['id']}\t{reason}\n")
    update_text(out_dir / BAD_FILES_NAME, "path\tid\treason\n" + "".join(bad_lines))  # if changed
    extra = {} if semantic_path is None else {"semantic_path": semantic_path}
    return write_manifest(
        out_dir, shards, codec_path=codec_path, num_bad_files=len(bad_lines), **extra
    )


def _codec_source(codec, out: Path) -> str | None:
    """Where the codec comes from, as ``prepare.json`` records it (``codec_path``): the fitted
    file's name, a resolved path, a codec name, or a ``Codec`` instance's name."""
    from soundstorm.codecs.base import Codec

    if codec is None:
        return FITTED_CODEC_NAME
    if isinstance(codec, Codec):
        return getattr(codec, "name", None)
    path = Path(codec).expanduser()
    source = str(path.resolve()) if path.exists() else str(codec)
    return FITTED_CODEC_NAME if source == str((out / FITTED_CODEC_NAME).resolve()) else source


def _semantic_source(semantic, out: Path) -> str | None:
    """Where the semantic tokenizer comes from (``semantic_source``): ``default`` (fitted
    here), a name, a resolved directory, or a ``SemanticTokenizer`` instance's name."""
    if not isinstance(semantic, str):
        return getattr(semantic, "name", None)
    path = Path(semantic).expanduser()
    if semantic == DEFAULT_SEMANTIC or not path.is_dir():
        return semantic
    fitted_here = path.resolve() == (out / FITTED_TOKENIZER_NAME).resolve()
    return DEFAULT_SEMANTIC if fitted_here else str(path.resolve())


def prepare(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    codec=None,
    semantic="default",
    semantic_clusters: int | None = None,
    workers: int = 1,
    shard_size: int = 1000,
    valid_fraction: float = 0.01,
    min_duration: float = 0.5,
    num_levels: int = 12,
    codebook_size: int = 1024,
    fit_files: int = 200,
    embedded_codec: str | None = None,
    device: str = "cpu",
    progress: bool = True,
    rank: int | None = None,
    world_size: int | None = None,
    merge_timeout: float | None = None,
    stop_after_shards: int | None = None,
    transcripts: bool = False,
    keep_levels: int | None = None,
) -> dict:
    """Encode a folder / manifest of audio into token shards in ``out_dir``.

    Args:
        source: Audio folder or manifest (see ``soundstorm.data.inputs``).
        out_dir: Output folder (created; re-runs resume in it).
        codec: ``Codec`` instance, codec name / fitted file (``shipped``: the shipped model's
            codec file), or ``None`` to fit the embedded
            codec on up to ``fit_files`` inputs of the ``train`` split (saved as
            ``out_dir/codec.safetensors``).
        semantic: ``SemanticTokenizer`` instance, tokenizer name (``phones``,
            ``phones-words``) or saved directory, or ``"default"``: Moonshine features +
            k-means fitted on up to ``fit_files`` ``train`` inputs (saved as
            ``out_dir/semantic_tokenizer/``, reused by re-runs).
        semantic_clusters: k-means ids of the default tokenizer (None:
            ``soundstorm.data.semantic_fitting.DEFAULT_SEMANTIC_CLUSTERS``).
        workers: Encoding processes of this rank (1: encode in this process).
        shard_size: Audio files per shard.
        valid_fraction: Fraction of utterances in the ``valid`` split.
        min_duration: Shorter files are skipped (seconds).
        num_levels: RVQ levels of a fitted embedded codec.
        codebook_size: Codebook size of a fitted embedded codec.
        fit_files: Files sampled to fit the embedded codec and the default tokenizer, from
            the ``train`` split only (all inputs if it is empty): utterances of other splits,
            such as a manifest's held-out voices, never shape the codebooks or the clusters,
            so their codes are ones the model trained on.
        embedded_codec: Version of the fitted embedded codec, ``"v1"`` or ``"v2"``
            (default: ``soundstorm.data.codec_fitting.DEFAULT_PRESET``).
        device: Device of a codec given by name (``"cuda"`` becomes ``cuda:$LOCAL_RANK`` under
            torchrun; see ``soundstorm.validation.resolve_rank_device``).
        progress: Show a tqdm progress bar.
        rank: This process's rank (default: ``$RANK`` or 0).
        world_size: Number of ranks (default: ``$WORLD_SIZE`` or 1).
        merge_timeout: Seconds rank 0 waits for other ranks (``None``: no limit).
        stop_after_shards: Test hook: after this many shards, write the next one without
            renaming it and raise ``PrepareInterrupted`` (simulates a kill).
        transcripts: Give the semantic tokenizer each file's transcript (a JSON-lines
            manifest's ``"text"``): a phone tokenizer then force-aligns the known words
            instead of recognising them (``PhoneTokenizer.decode_phones``). Files without
            a transcript are recognised.
        keep_levels: Store only the codec's first ``keep_levels`` RVQ levels (``None``: all).
            A model trains on its ``num_levels`` coarsest levels, so shards kept to those are
            all it needs, at ``2 * keep_levels`` bytes of codes per frame instead of
            ``2 * Q``. The shards' codec config then says ``num_levels: keep_levels`` and
            keeps the codec's own count as ``codec_num_levels``.

    Returns:
        A summary dict (counts, hours, timings, paths); see ``soundstorm.commands.prepare.format_summary``.

    Raises:
        FileNotFoundError: if ``source`` does not exist (nothing is written).
        SoundStormError: bad options (``keep_levels`` above the codec's levels), settings
            differing from a previous run in ``out_dir``.
        FolderInUseError: another live run writes ``out_dir``.
        OSError: ``out_dir`` cannot be written (checked before any work) or a write fails
            (no space left...), naming the file.
    """
    from soundstorm.semantic.base import SemanticTokenizer

    started = time.monotonic()
    env_rank, env_world, _ = distributed_env()
    rank = env_rank if rank is None else rank
    world_size = env_world if world_size is None else world_size
    workers = require_int("--workers", workers, minimum=1)
    shard_size = require_int("--shard-size", shard_size, minimum=1)
    num_levels = require_int("--num-levels", num_levels, minimum=1)
    codebook_size = require_int("--codebook-size", codebook_size, minimum=1)
    fit_files = require_int("--fit-files", fit_files, minimum=1)
    if keep_levels is not None:
        keep_levels = require_int("--keep-levels", keep_levels, minimum=1)
    from soundstorm.data.codec_fitting import DEFAULT_PRESET, PRESETS

    embedded_codec = DEFAULT_PRESET if embedded_codec is None else embedded_codec
    if embedded_codec not in PRESETS:
        raise SoundStormError(
            f"--embedded-codec must be one of {', '.join(PRESETS)}, got {embedded_codec!r}"
        )
    device = str(resolve_rank_device(device))  # no CUDA: a clear error, before any work
    if isinstance(codec, str | os.PathLike):
        from soundstorm.codecs.registry import codec_file

        # an alias of a file (``shipped``) is the file from here on: recorded, digested,
        # and found by training even when a later soundstorm ships another codec
        codec = str(codec_file(codec) or codec)
    if min_duration < 0:
        raise SoundStormError(f"--min-duration must be >= 0, got {min_duration}")
    # Everything that can fail on user input is checked before anything is written.
    inputs = list_inputs(source)
    if not transcripts:  # the text of a manifest is not used: no part of the settings either
        inputs = [dataclasses.replace(i, text=None) if i.text is not None else i for i in inputs]
    elif not any(i.text for i in inputs):
        raise SoundStormError(
            f'--transcripts: {source} gives no transcript (a JSON-lines manifest with "text")'
        )
    plans = plan_shards(inputs, shard_size, valid_fraction)
    # what the fits see: the training split (a held-out voice fitted into the codebooks gets
    # codes of its own that no training example ever targets: issue 15)
    fit_inputs = [i for plan in plans if plan.split == "train" for i in plan.inputs] or inputs
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SoundStormError(f"OUT_DIR {out} exists and is not a folder")
    fit_semantic = isinstance(semantic, str) and semantic == DEFAULT_SEMANTIC
    semantic_path = None  # a saved tokenizer directory, recorded in the manifest
    if isinstance(semantic, SemanticTokenizer):
        tokenizer = semantic
    elif fit_semantic:
        from soundstorm.data.semantic_fitting import DEFAULT_SEMANTIC_CLUSTERS

        if semantic_clusters is None:
            semantic_clusters = DEFAULT_SEMANTIC_CLUSTERS
        semantic_clusters = require_int("--semantic-clusters", semantic_clusters, minimum=2)
        tokenizer = None  # fitted below, once OUT_DIR exists
    else:
        from soundstorm.data.encoding import load_semantic_tokenizer

        tokenizer = load_semantic_tokenizer(semantic)
        if Path(semantic).expanduser().is_dir():
            semantic_path = str(Path(semantic).expanduser().resolve())
    if transcripts and (tokenizer is None or not tokenizer.accepts_transcripts):
        raise SoundStormError(
            "--transcripts needs a semantic tokenizer that aligns words (--semantic "
            f"phones-words, phones-moonshine or phones), not {semantic!r}"
        )
    specs = (codec, semantic)  # how worker processes rebuild the codec and the tokenizer
    # What was asked, known before any work: checked against prepare.json before fitting.
    request = {
        "inputs": inputs_digest(inputs),
        "num_inputs": len(inputs),
        "shard_size": shard_size,
        "valid_fraction": valid_fraction,
        "min_duration": min_duration,
        "codec_path": _codec_source(codec, out),
        "semantic_source": _semantic_source(semantic, out),
        "format_version": 1,
    }
    if codec is None or fit_semantic:
        request["fit_files"] = fit_files
    if codec is None:
        request["codec_fit"] = {
            "embedded_codec": embedded_codec,
            "num_levels": num_levels,
            "codebook_size": codebook_size,
        }
    if fit_semantic:
        request["semantic_clusters"] = semantic_clusters
    # recorded either way (a folder is held to it; folders of older releases lack the key)
    request["transcripts"] = bool(transcripts)
    request["keep_levels"] = keep_levels
    if codec is None:  # a fitted codec: its levels are known now
        kept_levels_config({"num_levels": num_levels}, keep_levels)
    elif not isinstance(codec, str | os.PathLike):  # a Codec instance
        kept_levels_config(codec.config_dict(), keep_levels)
    group = distributed_group() if world_size > 1 else None  # torchrun's ranks share OUT_DIR
    with folder_lock(out, "soundstorm prepare", group=group) as lock:
        writable = lock is not None  # None: a read-only folder, only verified
        if rank == 0 and writable:  # what a killed run left (ranks sweep their own shards)
            for folder in (out, out / FITTED_TOKENIZER_NAME):
                sweep_temp_files(folder, depth=0)
        if not (out / MANIFEST_NAME).is_file():  # it will write: read-only or full, say so now
            check_writable(out)
        first = not (out / SETTINGS_NAME).is_file()  # recorded now, so a killed fit is held to it
        check_settings(out, request, record=rank == 0 and writable and first)  # before any work
        codec, codec_path = load_named_codec(codec, device)
        if codec is not None:
            try:
                kept_levels_config(codec.config_dict(), keep_levels)
            except SoundStormError:
                if first and rank == 0 and writable:  # this run's record only: undo it
                    (out / SETTINGS_NAME).unlink(missing_ok=True)
                raise
        if codec_path == str((out / FITTED_CODEC_NAME).resolve()):
            codec_path = FITTED_CODEC_NAME  # the codec an earlier run fitted here
        if codec is None:
            options = {
                "num_levels": num_levels,
                "codebook_size": codebook_size,
                "max_files": fit_files,
                "log": _log_to_stderr if progress else None,
                "preset": embedded_codec,
            }
            codec, codec_path = fitted_codec(fit_inputs, out, rank, options, merge_timeout)
            specs = (str(out / FITTED_CODEC_NAME), semantic)
        if fit_semantic:
            options = {
                "num_clusters": semantic_clusters,
                "max_files": fit_files,
                "log": _log_to_stderr if progress else None,
            }
            tokenizer = fitted_semantic_tokenizer(fit_inputs, out, rank, options, merge_timeout)
            semantic_path = str((out / FITTED_TOKENIZER_NAME).resolve())
            specs = (specs[0], semantic_path)
        shard_settings = {
            "codec": kept_levels_config(codec.config_dict(), keep_levels),
            "codec_file_sha1": codec_file_digest(specs[0] if isinstance(specs[0], str) else None),
            "semantic": tokenizer.config_dict(),
            "min_duration": min_duration,
        }
        if transcripts:  # only then: the shards of earlier preparations stay valid
            shard_settings["transcripts"] = True
        fit_settings = {}
        if fit_semantic:  # its centroids are part of the settings, as the fitted codec file is
            shard_settings["semantic_file_sha1"] = saved_tokenizer_digest(semantic_path)
            fit_settings["semantic_clusters"] = semantic_clusters
        if semantic_path == str((out / FITTED_TOKENIZER_NAME).resolve()):
            semantic_path = FITTED_TOKENIZER_NAME  # fitted here, by this run or an earlier one
        check_settings(
            out,
            {**request, **shard_settings, **fit_settings, "codec_path": codec_path},
            record=rank == 0 and writable,
        )
        fingerprints = {plan.name: plan.fingerprint(shard_settings) for plan in plans}
        mine = plans[rank::world_size]
        (out / SHARDS_DIRNAME).mkdir(exist_ok=True)
        for plan in mine:
            remove_stale_temp_dirs(out / SHARDS_DIRNAME / plan.name)
        pending = [
            (plan, fingerprints[plan.name])
            for plan in mine
            if not shard_is_done(out / SHARDS_DIRNAME / plan.name, fingerprints[plan.name])
        ]
        encode_started = time.monotonic()
        options = {
            "workers": workers,
            "progress": progress,
            "stop_after_shards": stop_after_shards,
            "device": device,
        }
        counters = _encode_shards(pending, codec, tokenizer, specs, shard_settings, options, out)
        encode_seconds = time.monotonic() - encode_started
        manifest = None
        if rank == 0:
            waiting = {p.name for p in plans} - {p.name for p in mine}  # mine: checked or new

            def all_done() -> bool:
                for name in sorted(waiting):  # finished shards are not read again
                    if not shard_is_done(out / SHARDS_DIRNAME / name, fingerprints[name]):
                        return False
                    waiting.discard(name)
                return True

            wait_for(all_done, "the other ranks' shards", merge_timeout, poll=2.0)
            manifest = merge_outputs(out, plans, codec_path, semantic_path)
        return {
            "out_dir": str(out),
            "rank": rank,
            "world_size": world_size,
            "num_inputs": len(inputs),
            "num_shards_planned": len(plans),
            "num_shards_written": counters["shards"],
            "num_shards_skipped": len(mine) - len(pending),
            "num_utterances_encoded": counters["utterances"],
            "num_bad_files_encoded": counters["bad"],
            "hours_encoded": counters["seconds_audio"] / 3600.0,
            "encode_seconds": encode_seconds,
            "total_seconds": time.monotonic() - started,
            "manifest": manifest,
        }
