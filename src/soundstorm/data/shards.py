"""Token shards on disk: the writer, the reader and the directory manifest.

A prepared dataset is a directory::

    OUT_DIR/
      manifest.json           the index of the whole directory (written last, by rank 0)
      shards/
        train-00000/          one shard: many utterances, flat memory-mappable arrays
          codes.npy           uint16 [Q, N_total]   all utterances concatenated in time
          semantic.npy        int32  [N_total]      semantic ids aligned to codec frames
          offsets.npy         int64  [U + 1]        utterance u = frames offsets[u]:offsets[u+1]
          index.json          the token-format header: codec/semantic configs, ids, durations
        train-00001/ ...
        valid-00000/ ...

This is nanoGPT's flat ``.bin`` idea with a header: a reader memory-maps ``codes.npy`` and
slices one utterance without reading the rest. A shard directory is written under a
temporary name and renamed into place in one step, so a shard either exists complete or
not at all (a killed writer leaves only a ``.tmp`` directory, removed by the next run).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from soundstorm.data.token_format import (
    TokenUtterance,
    check_arrays,
    check_header,
    make_header,
    pack_utterances,
    utterance_records,
)
from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_write_text, replace_directory
from soundstorm.formats import check_format_version, current_version

MANIFEST_NAME = "manifest.json"
MANIFEST_MAGIC = "soundstorm-shards"
MANIFEST_VERSION = current_version("shard-manifest")
SHARDS_DIRNAME = "shards"
INDEX_NAME = "index.json"
_ARRAY_NAMES = ("codes", "semantic", "offsets")


def write_json_atomic(path: str | os.PathLike, data: object) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (``soundstorm.files``)."""
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


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
        shutil.rmtree(path, ignore_errors=True)
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
        check_arrays(header, codes, semantic, offsets, str(self.directory))
        temp = temp_shard_dir(self.directory)
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        for name, array in zip(_ARRAY_NAMES, (codes, semantic, offsets)):
            np.save(temp / f"{name}.npy", array)
        (temp / INDEX_NAME).write_text(json.dumps(header, indent=1, sort_keys=True) + "\n")
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
    """
    index = Path(directory) / INDEX_NAME
    if not index.is_file():
        raise FileNotFoundError(f"shard index not found: {index}")
    try:
        header = json.loads(index.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SoundStormError(f"{index}: not valid JSON") from None
    return check_header(header, str(index))


def open_shard(
    directory: str | os.PathLike, mmap: bool = True, check_values: bool = False
) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """Open a shard: header and (memory-mapped) arrays, checked for consistency.

    Args:
        directory: The shard directory.
        mmap: Memory-map ``codes.npy`` and ``semantic.npy`` (read-only) instead of reading.
        check_values: Also check every id's range (reads the whole shard).

    Returns:
        ``(header, codes uint16[Q, N_total], semantic int32[N_total], offsets int64[U + 1])``.

    Raises:
        FileNotFoundError: if a file of the shard is missing.
        SoundStormError: if the shard is inconsistent.
    """
    directory = Path(directory)
    header = read_shard_header(directory)
    arrays = []
    for name in _ARRAY_NAMES:
        path = directory / f"{name}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"shard array not found: {path}")
        try:
            arrays.append(np.load(path, mmap_mode="r" if mmap and name != "offsets" else None))
        except (ValueError, OSError) as error:
            raise SoundStormError(f"{path}: unreadable array ({error})") from None
    codes, semantic, offsets = arrays
    check_arrays(header, codes, semantic, offsets, str(directory), check_values=check_values)
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
    write_json_atomic(root / MANIFEST_NAME, manifest)
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
    if not isinstance(manifest.get("shards"), list):
        raise SoundStormError(f"{path}: manifest has no shard list")
    required = ("codec", "semantic", "num_levels", "codebook_size", "frame_rate")
    missing = [key for key in (*required, "semantic_vocab_size") if key not in manifest]
    if missing:
        raise SoundStormError(f"{path}: manifest lacks {', '.join(missing)}")
    return manifest
