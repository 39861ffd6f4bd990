"""Token shards on disk: the writer, the reader and the directory manifest.

A prepared dataset is a directory::

    OUT_DIR/
      manifest.json           the index of the whole directory (written last, by rank 0)
      shards/
        train-00000/          one shard: many utterances, flat memory-mappable arrays
          codes.npy           uint16 [Q, N_total]   all utterances concatenated in time
          semantic.npy        uint8 / uint16 / int32 [N_total]   semantic ids aligned to codec
                              frames, in the narrowest dtype of the vocabulary
          offsets.npy         int64  [U + 1]        utterance u = frames offsets[u]:offsets[u+1]
          index.json          the token-format header: codec/semantic configs, ids, durations,
                              frame counts, the arrays' SHA-256 and its own checksum
        train-00001/ ...
        valid-00000/ ...

This is nanoGPT's flat ``.bin`` idea with a header: a reader memory-maps ``codes.npy`` and
slices one utterance without reading the rest. A shard directory is written under a
temporary name and renamed into place in one step, so a shard either exists complete or
not at all (a killed writer leaves only a ``.tmp`` directory, removed by the next run).

Nothing read is trusted blindly: ``index.json`` records the SHA-256 of each array
(``array_sha256``) and each utterance's frame count (``num_frames``), and carries its own
checksum (``soundstorm.checksums``). ``open_shard(verify=True)`` hashes the arrays (once per
file: ``prepare`` when it decides whether a shard is done, ``TokenShardDataset`` when it
opens a directory) and cross-checks the offsets against the recorded frame counts, or
against the recorded durations in shards written before frame counts were (old shards
have no checksums and are read as they are).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from soundstorm.checksums import JSON_KEY, check_json, seal_json, sha256_file
from soundstorm.data.token_format import (
    TokenUtterance,
    check_arrays,
    check_header,
    check_utterance_frames,
    make_header,
    narrowest_semantic_dtype,
    pack_utterances,
    utterance_records,
)
from soundstorm.errors import DamagedFileError, SoundStormError
from soundstorm.files import replace_directory, update_text
from soundstorm.formats import check_format_version, current_version

MANIFEST_NAME = "manifest.json"
MANIFEST_MAGIC = "soundstorm-shards"
MANIFEST_VERSION = current_version("shard-manifest")
SHARDS_DIRNAME = "shards"
INDEX_NAME = "index.json"
_ARRAY_NAMES = ("codes", "semantic", "offsets")
#: ``index.json`` entry: ``{"codes.npy": sha256, ...}`` of the shard's arrays.
ARRAYS_CHECKSUM_KEY = "array_sha256"
_REDO_HINT = "run soundstorm prepare again: it writes the shard anew"


def write_json_atomic(path: str | os.PathLike, data: object) -> bool:
    """Write ``data`` as indented JSON to ``path`` atomically, unless the file already holds
    exactly that (``soundstorm.files.update_text``: a finished folder is only read).

    Returns:
        Whether the file was written.
    """
    return update_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def temp_shard_dir(directory: Path) -> Path:
    """The temporary name a shard is written under before its rename."""
    return directory.with_name(f".{directory.name}.tmp-{os.getpid()}")


def remove_stale_temp_dirs(directory: Path) -> int:
    """Remove temporary directories left for shard ``directory`` by a killed writer.

    Returns:
        The number of directories removed.
    """
    stale = list(directory.parent.glob(f".{directory.name}.tmp-*"))
    stale += list(directory.parent.glob(f".{directory.name}.old-*"))
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return len(stale)


class ShardWriter:
    """Collects utterances and writes them as one shard directory, atomically.

    Example::

        writer = ShardWriter("out/shards/train-00000", codec.config_dict(), tok.config_dict())
        for utterance in utterances:
            writer.add(utterance)
        writer.write()

    Args:
        directory: Final path of the shard directory.
        codec_config: ``Codec.config_dict()`` of the codes' codec.
        semantic_config: ``SemanticTokenizer.config_dict()``.
        **extra: Extra JSON entries for ``index.json`` (e.g. the shard's input fingerprint).
    """

    def __init__(
        self, directory: str | os.PathLike, codec_config: dict, semantic_config: dict, **extra
    ) -> None:
        self.directory = Path(directory)
        self.codec_config = dict(codec_config)
        self.semantic_config = dict(semantic_config)
        self.extra = extra
        self.utterances: list[TokenUtterance] = []

    def add(self, utterance: TokenUtterance) -> None:
        """Append one utterance (``codes uint16[Q, T]``, ``semantic int[T]``)."""
        self.utterances.append(utterance)

    @property
    def num_frames(self) -> int:
        """Total number of frames added so far."""
        return sum(u.num_frames for u in self.utterances)

    def write_temp(self) -> Path:
        """Write the shard under its temporary name; ``commit`` renames it into place.

        Returns:
            The temporary directory.
        """
        header = make_header(
            self.codec_config,
            self.semantic_config,
            utterance_records(self.utterances),
            **self.extra,
        )
        codes, semantic, offsets = pack_utterances(self.utterances, self.codec_config["num_levels"])
        check_arrays(header, codes, semantic, offsets, str(self.directory))  # ids in range
        semantic = semantic.astype(narrowest_semantic_dtype(header["semantic"]["vocab_size"]))
        temp = temp_shard_dir(self.directory)
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        for name, array in zip(_ARRAY_NAMES, (codes, semantic, offsets)):
            np.save(temp / f"{name}.npy", array)
        header[ARRAYS_CHECKSUM_KEY] = {
            f"{name}.npy": sha256_file(temp / f"{name}.npy") for name in _ARRAY_NAMES
        }
        text = json.dumps(seal_json(header), indent=1, sort_keys=True)
        (temp / INDEX_NAME).write_text(text + "\n")  # flushed by commit (replace_directory)
        return temp

    def commit(self, temp: Path) -> Path:
        """Rename a directory from ``write_temp`` to the shard's final name.

        An existing shard of that name is replaced (moved aside, then deleted); the files are
        flushed to disk first (``soundstorm.files.replace_directory``).
        """
        return replace_directory(temp, self.directory)

    def write(self) -> Path:
        """Write the shard atomically and return its directory."""
        return self.commit(self.write_temp())


def read_shard_header(directory: str | os.PathLike) -> dict:
    """Read and check the ``index.json`` header of a shard directory.

    Raises:
        FileNotFoundError: if the shard or its index does not exist.
        SoundStormError: if the index is not valid JSON or not a valid token header.
        DamagedFileError: the index differs from what was written (its checksum).
    """
    index = Path(directory) / INDEX_NAME
    if not index.is_file():
        raise FileNotFoundError(f"shard index not found: {index}")
    try:
        header = json.loads(index.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SoundStormError(f"{index}: not valid JSON") from None
    check_header(header, str(index))
    check_json(header, index)
    return header


def verify_shard_arrays(directory: str | os.PathLike, header: dict) -> bool:
    """Compare the shard's arrays with the SHA-256 its index records (one pass over each).

    Returns:
        True when they match; False for a shard written before checksums existed.

    Raises:
        DamagedFileError: an array differs from what was written (a flipped code stays in
            range: only this finds it).
        OSError: an array cannot be read.
    """
    recorded = header.get(ARRAYS_CHECKSUM_KEY)
    if not isinstance(recorded, dict):
        return False
    for name in _ARRAY_NAMES:
        path = Path(directory) / f"{name}.npy"
        if sha256_file(path) != recorded.get(f"{name}.npy"):
            raise DamagedFileError(
                path, f"its content does not match the sha256 recorded in {INDEX_NAME}", _REDO_HINT
            )
    return True


def open_shard(
    directory: str | os.PathLike,
    mmap: bool = True,
    check_values: bool = False,
    verify: bool = False,
) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """Open a shard: header and (memory-mapped) arrays, checked for consistency.

    Args:
        directory: The shard directory.
        mmap: Memory-map ``codes.npy`` and ``semantic.npy`` (read-only) instead of reading.
        check_values: Also check every id's range (reads the whole shard).
        verify: Also compare the arrays with their recorded SHA-256 (reads the whole shard
            once) and the offsets with the recorded durations of shards that have no frame
            counts (see ``verify_shard_arrays`` and ``check_utterance_frames``).

    Returns:
        ``(header, codes uint16[Q, N_total], semantic int32[N_total], offsets int64[U + 1])``.

    Raises:
        FileNotFoundError: if a file of the shard is missing.
        SoundStormError: if the shard is inconsistent or an array unreadable (e.g. empty).
        DamagedFileError: (``verify``) a file differs from what was written.
    """
    directory = Path(directory)
    header = read_shard_header(directory)
    paths = [directory / f"{name}.npy" for name in _ARRAY_NAMES]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"shard array not found: {path}")
    if verify:
        verify_shard_arrays(directory, header)
    arrays = []
    for name, path in zip(_ARRAY_NAMES, paths):
        try:
            arrays.append(np.load(path, mmap_mode="r" if mmap and name != "offsets" else None))
        except (ValueError, OSError, EOFError) as error:  # EOFError: an empty file
            raise SoundStormError(f"{path}: unreadable array ({error or 'empty file'})") from None
    codes, semantic, offsets = arrays
    check_arrays(header, codes, semantic, offsets, str(directory), check_values=check_values)
    check_utterance_frames(header, offsets, str(directory / "offsets.npy"), durations=verify)
    return header, codes, semantic, offsets


def shard_summary(directory: str | os.PathLike, split: str) -> dict:
    """The manifest entry of one shard: name, split, utterance/frame counts, duration."""
    header, codes, _, offsets = open_shard(directory)
    return {
        "name": Path(directory).name,
        "split": split,
        "num_utterances": len(header["utterances"]),
        "num_frames": int(offsets[-1]),
        "duration": round(sum(u.get("duration", 0.0) for u in header["utterances"]), 6),
    }


def write_manifest(root: str | os.PathLike, shards: list[tuple[str, str]], **extra) -> dict:
    """Write ``root/manifest.json`` describing finished shards.

    Args:
        root: The prepared directory (holding ``shards/``).
        shards: ``(shard name, split)`` pairs, in dataset order.
        **extra: Extra manifest entries (e.g. ``codec_path``, ``num_bad_files``).

    Returns:
        The manifest written.

    Raises:
        SoundStormError: if shards disagree on the codec or semantic configuration.
    """
    root = Path(root)
    entries, codec_config, semantic_config = [], None, None
    for name, split in shards:
        directory = root / SHARDS_DIRNAME / name
        header = read_shard_header(directory)
        if codec_config is None:
            codec_config, semantic_config = header["codec"], header["semantic"]
        elif header["codec"] != codec_config or header["semantic"] != semantic_config:
            raise SoundStormError(f"{directory}: codec/semantic config differs from other shards")
        entries.append(shard_summary(directory, split))
    if codec_config is None:
        raise SoundStormError(f"{root}: no shard to index (no usable audio?)")
    splits: dict[str, dict] = {}
    for entry in entries:
        total = splits.setdefault(
            entry["split"], {"num_shards": 0, "num_utterances": 0, "num_frames": 0, "hours": 0.0}
        )
        total["num_shards"] += 1
        total["num_utterances"] += entry["num_utterances"]
        total["num_frames"] += entry["num_frames"]
        total["hours"] = round(total["hours"] + entry["duration"] / 3600.0, 6)
    manifest = {
        "magic": MANIFEST_MAGIC,
        "version": MANIFEST_VERSION,
        "codec": codec_config,
        "semantic": semantic_config,
        "num_levels": codec_config["num_levels"],
        "codebook_size": codec_config["codebook_size"],
        "frame_rate": codec_config["frame_rate"],
        "semantic_vocab_size": semantic_config["vocab_size"],
        "semantic_frame_rate": semantic_config["frame_rate"],
        "shards": entries,
        "splits": splits,
        **extra,
    }
    path = root / MANIFEST_NAME
    try:  # unchanged, or written before checksums existed with the same content: kept
        existing = json.loads(path.read_text())
        unchanged = {k: v for k, v in existing.items() if k != JSON_KEY} == manifest
    except (OSError, ValueError, AttributeError):
        unchanged = False
    if not unchanged:
        write_json_atomic(path, seal_json(manifest))
    return manifest


def read_manifest(root: str | os.PathLike) -> dict:
    """Read and check ``root/manifest.json``.

    Manifests of older versions are read too (``soundstorm.formats``, kind
    ``shard-manifest``); entries added since get their defaults.

    Raises:
        FileNotFoundError: if ``root`` or its manifest does not exist.
        SoundStormError: on a wrong magic or a malformed manifest.
        FormatVersionError: a newer format version (upgrade soundstorm), or none.
    """
    root = Path(root)
    path = root / MANIFEST_NAME
    if not root.is_dir():
        raise FileNotFoundError(f"token directory not found: {root}")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: not a prepared token directory (run soundstorm prepare)"
        )
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SoundStormError(f"{path}: not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("magic") != MANIFEST_MAGIC:
        raise SoundStormError(f"{path}: not a soundstorm shard manifest (wrong magic)")
    check_format_version(path, "shard-manifest", manifest.get("version"))
    check_json(manifest, path)
    if not isinstance(manifest.get("shards"), list):
        raise SoundStormError(f"{path}: manifest has no shard list")
    required = ("codec", "semantic", "num_levels", "codebook_size", "frame_rate")
    missing = [key for key in (*required, "semantic_vocab_size") if key not in manifest]
    if missing:
        raise SoundStormError(f"{path}: manifest lacks {', '.join(missing)}")
    return manifest
