"""``TokenShardDataset``: random access to the utterances of a prepared token directory.

Usage::

    from soundstorm.data import TokenShardDataset

    ds = TokenShardDataset("data/tokens", split="train")
    item = ds[0]            # {"id", "codes" uint16 [Q, T], "semantic" int64 [T], "duration"}
    ds.lengths              # int64 [len(ds)]: T of every utterance, for length bucketing
    ds.meta["num_levels"]   # codec / semantic configuration of the directory

Opening a dataset verifies it once: every shard's ``index.json`` and the SHA-256 of its
arrays (``soundstorm.data.shards.open_shard(verify=True)``: one pass over the data, about
1-2 GB/s; ``verify=False`` reads only the manifest and the small ``offsets.npy`` of each
shard), and its offsets against the recorded frame counts. Shards are then memory-mapped on
first use. The dataset pickles without its memory maps (they are reopened in each
DataLoader worker, which does not verify again).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from soundstorm.data.shards import SHARDS_DIRNAME, open_shard, read_manifest
from soundstorm.data.token_format import check_value_ranges
from soundstorm.errors import SoundStormError


class TokenShardDataset(Sequence):
    """The utterances of a directory written by ``soundstorm prepare``.

    Args:
        root: The prepared directory (holding ``manifest.json`` and ``shards/``).
        split: ``"train"``, ``"valid"``, ... or ``None`` for every split.
        check_values: Check each item's code and semantic id ranges when it is read
            (cheap: one utterance at a time).
        verify: Check every shard against the checksums it records when the dataset is
            opened (once per file, in this process only; shards written before checksums
            existed are checked for consistency only).

    Attributes:
        meta: ``codec`` and ``semantic`` config dicts, ``num_levels``, ``codebook_size``,
            ``semantic_vocab_size``, ``frame_rate``, ``semantic_frame_rate``, ``codec_path``
            (the fitted codec's file, or the codec name; may be ``None``), ``semantic_path``
            (the saved semantic tokenizer's directory; ``None`` for a named one), ``root``,
            ``split``.
        lengths: ``int64[len(self)]``, number of frames ``T`` of every utterance.

    Raises:
        FileNotFoundError: if ``root`` or its manifest is missing.
        SoundStormError: if the manifest is invalid or ``split`` has no shard.
        DamagedFileError: (``verify``) a file differs from what was written: run
            ``soundstorm prepare`` again, it rewrites the damaged shards.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        check_values: bool = True,
        verify: bool = True,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.check_values = check_values
        manifest = read_manifest(self.root)
        shards = [s for s in manifest["shards"] if split is None or s.get("split") == split]
        if not shards:
            available = sorted({s.get("split") for s in manifest["shards"]})
            raise SoundStormError(
                f"{self.root}: no shard for split {split!r} (available: {', '.join(available)})"
            )
        codec_path = manifest.get("codec_path")
        if codec_path and (self.root / codec_path).exists():
            codec_path = str(self.root / codec_path)
        semantic_path = manifest.get("semantic_path")  # a saved tokenizer (prepare's default)
        if semantic_path and (self.root / semantic_path).exists():
            semantic_path = str(self.root / semantic_path)
        self.meta: dict = {
            "codec": manifest["codec"],
            "semantic": manifest["semantic"],
            "num_levels": manifest["num_levels"],
            "codebook_size": manifest["codebook_size"],
            "semantic_vocab_size": manifest["semantic_vocab_size"],
            "frame_rate": manifest["frame_rate"],
            "semantic_frame_rate": manifest.get("semantic_frame_rate"),
            "codec_path": codec_path,
            "semantic_path": semantic_path,
            "root": str(self.root),
            "split": split,
        }
        self._shard_dirs = [self.root / SHARDS_DIRNAME / s["name"] for s in shards]
        offsets = []
        for directory, entry in zip(self._shard_dirs, shards):
            path = directory / "offsets.npy"
            if verify:  # every file once, here: the workers trust what this process checked
                header, _, _, shard_offsets = open_shard(directory, mmap=True, verify=True)
                if (
                    header["codec"] != manifest["codec"]
                    or header["semantic"] != manifest["semantic"]
                ):
                    raise SoundStormError(
                        f"{directory}: codec/semantic config differs from manifest"
                    )
            elif not path.is_file():
                raise FileNotFoundError(f"shard array not found: {path}")
            else:
                try:
                    shard_offsets = np.load(path)
                except (ValueError, OSError, EOFError) as error:
                    raise SoundStormError(f"{path}: unreadable array ({error})") from None
            if shard_offsets.shape != (entry["num_utterances"] + 1,):
                raise SoundStormError(f"{directory}: offsets disagree with manifest.json")
            offsets.append(shard_offsets.astype(np.int64))
        self._offsets = offsets
        counts = np.array([len(o) - 1 for o in offsets], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])  # first global index per shard
        self.lengths: np.ndarray = (
            np.concatenate([np.diff(o) for o in offsets]).astype(np.int64)
            if offsets
            else np.zeros(0, dtype=np.int64)
        )
        self._opened: dict[int, tuple[dict, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_opened"] = {}  # memory maps are reopened in the unpickling process
        return state

    def _shard(self, shard_index: int) -> tuple[dict, np.ndarray, np.ndarray]:
        """Header and memory-mapped ``codes`` / ``semantic`` of one shard (opened once)."""
        opened = self._opened.get(shard_index)
        if opened is None:
            directory = self._shard_dirs[shard_index]
            header, codes, semantic, offsets = open_shard(directory, mmap=True)
            if header["codec"] != self.meta["codec"] or header["semantic"] != self.meta["semantic"]:
                raise SoundStormError(f"{directory}: codec/semantic config differs from manifest")
            if not np.array_equal(offsets, self._offsets[shard_index]):
                raise SoundStormError(f"{directory}: offsets changed since the dataset was opened")
            opened = self._opened[shard_index] = (header, codes, semantic)
        return opened

    def _locate(self, index: int) -> tuple[int, int]:
        """``(shard index, position in that shard)`` of utterance ``index``."""
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset indices must be integers, got {type(index).__name__}")
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"index {index} out of range for {size} utterances")
        index = int(index) % size
        shard_index = int(np.searchsorted(self._starts, index, side="right")) - 1
        return shard_index, index - int(self._starts[shard_index])

    def locate(self, index: int) -> tuple[Path, int]:
        """The shard directory holding utterance ``index`` and its position in that shard."""
        shard_index, local = self._locate(index)
        return self._shard_dirs[shard_index], local

    def __getitem__(self, index: int) -> dict:
        """One utterance.

        Returns:
            ``{"id": str, "codes": uint16[Q, T], "semantic": int64[T], "duration": float}``
            (fresh, writable arrays).
        """
        shard_index, local = self._locate(index)
        header, codes, semantic = self._shard(shard_index)
        start, stop = self._offsets[shard_index][local : local + 2]
        record = header["utterances"][local]
        item_codes = np.array(codes[:, start:stop])  # (Q, T) copy out of the memory map
        item_semantic = np.array(semantic[start:stop], dtype=np.int64)  # (T,)
        if self.check_values:
            check_value_ranges(
                header, item_codes, item_semantic, f"{self._shard_dirs[shard_index]}:{record['id']}"
            )
        return {
            "id": record["id"],
            "codes": item_codes,
            "semantic": item_semantic,
            "duration": float(record.get("duration", 0.0)),
        }

    def ids(self) -> list[str]:
        """Every utterance id, in dataset order (reads every shard's ``index.json``)."""
        shards = range(len(self._shard_dirs))
        return [u["id"] for i in shards for u in self._shard(i)[0]["utterances"]]

    def __repr__(self) -> str:
        hours = float(self.lengths.sum()) / float(self.meta["frame_rate"]) / 3600.0
        return (
            f"TokenShardDataset(root={str(self.root)!r}, split={self.split!r}, "
            f"utterances={len(self)}, hours={hours:.3f}, shards={len(self._shard_dirs)})"
        )
