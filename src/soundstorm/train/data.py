"""Training batches: random crops, padding, length buckets, per-rank sharding, masks.

Everything random here is a pure function of ``(seed, epoch, utterance index)``, never of
the process, the worker or the batch position. So the batches of a run are the same with
any number of DataLoader workers, the union of the ranks' batches at a step is the batch a
single process would see with the same global batch size, and a resumed run sees exactly
the batches the uninterrupted one would have seen.

Any ``Sequence`` of dicts ``{"id": str, "codes": uint16[Q, T], "semantic": int[T]}`` is a
dataset (``soundstorm.data.TokenShardDataset`` for a directory; plain lists in tests).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from soundstorm.config import SoundStormConfig
from soundstorm.errors import SoundStormError
from soundstorm.masking import sample_training_masks
from soundstorm.tokens import check_token_range

_STREAM_CROP = 1
_STREAM_MASK = 2
_STREAM_ORDER = 3


@dataclass
class TokenBatch:
    """A padded batch.

    Attributes:
        codes: ``LongTensor[B, Q, T]`` acoustic tokens (padding: 0).
        cond: ``LongTensor[B, T]`` conditioning tokens (padding: 0).
        lengths: ``LongTensor[B]`` real frames per example.
        masked: ``BoolTensor[B, Q, T]`` the training mask (True: replaced by the mask id).
        level: ``LongTensor[B]`` the level whose tokens are scored (0-based).
        prompt_len: ``LongTensor[B]`` frames of the known prefix (never masked, unless the
            example's prompt was dropped: ``MaskingConfig.prompt_dropout``).
        ids: utterance ids.
    """

    codes: torch.Tensor
    cond: torch.Tensor
    lengths: torch.Tensor
    masked: torch.Tensor
    level: torch.Tensor
    prompt_len: torch.Tensor
    ids: list[str]

    def to(self, device: torch.device | str) -> TokenBatch:
        """Move the tensors to ``device`` (non-blocking from pinned memory)."""
        move = {"device": device, "non_blocking": True}
        return TokenBatch(
            self.codes.to(**move),
            self.cond.to(**move),
            self.lengths.to(**move),
            self.masked.to(**move),
            self.level.to(**move),
            self.prompt_len.to(**move),
            self.ids,
        )

    def pin_memory(self) -> TokenBatch:
        tensors = [t.pin_memory() for t in (self.codes, self.cond, self.lengths, self.masked)]
        extra = [self.level.pin_memory(), self.prompt_len.pin_memory()]
        return TokenBatch(*tensors, *extra, self.ids)

    @property
    def num_frames(self) -> int:
        """Real (unpadded) frames in the batch."""
        return int(self.lengths.sum())


def utterance_lengths(dataset: Sequence[dict[str, Any]]) -> np.ndarray:
    """Frames per utterance: ``dataset.lengths`` when present, else read every item."""
    lengths = getattr(dataset, "lengths", None)
    if lengths is not None:
        return np.asarray(lengths, dtype=np.int64)
    return np.array([np.asarray(dataset[i]["codes"]).shape[-1] for i in range(len(dataset))])


def _rng(seed: int, stream: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *[k + 1 for k in keys]])


class CroppedTokenDataset(torch.utils.data.Dataset):
    """One training example per utterance: checked, cropped to ``max_frames``, masked.

    The crop start and the mask of utterance ``i`` in ``epoch`` depend only on
    ``(seed, epoch, i)``; the epoch is part of the index (see ``GlobalBatchSampler``).

    Args:
        dataset: a Sequence of token dicts.
        num_levels: Q of the model; coarser ``Q`` levels of the data are used.
        codebook_size: K of the model; tokens must be ``< K``.
        cond_vocab_size: conditioning vocabulary of the model; semantic tokens must be below.
        max_frames: crop length.
        seed: run seed.
        random_crop: False: always the first ``max_frames`` (validation).
        check_tokens: raise on out-of-range tokens (naming the utterance).
        known_suffix_fraction: of ``sample_training_masks`` (0: the paper's masks).
        prompt_dropout: of ``sample_training_masks`` (0: the paper's masks).
        level_weights: of ``sample_training_masks`` (None: the paper's uniform levels).
    """

    def __init__(
        self,
        dataset: Sequence[dict[str, Any]],
        num_levels: int,
        codebook_size: int,
        cond_vocab_size: int,
        max_frames: int,
        seed: int = 0,
        random_crop: bool = True,
        check_tokens: bool = True,
        known_suffix_fraction: float = 0.0,
        prompt_dropout: float = 0.0,
        level_weights: Sequence[float] | None = None,
    ) -> None:
        self.dataset = dataset
        self.num_levels = num_levels
        self.codebook_size = codebook_size
        self.cond_vocab_size = cond_vocab_size
        self.max_frames = max_frames
        self.seed = seed
        self.random_crop = random_crop
        self.check_tokens = check_tokens
        self.masking = {
            "known_suffix_fraction": known_suffix_fraction,
            "prompt_dropout": prompt_dropout,
            "level_weights": None if level_weights is None else tuple(level_weights),
        }

    def __len__(self) -> int:
        return len(self.dataset)

    def _where(self, item: dict[str, Any], index: int) -> str:
        where = f"utterance {item.get('id', index)!r}"
        shard = item.get("shard")
        if shard is None and hasattr(self.dataset, "locate"):  # TokenShardDataset
            shard = self.dataset.locate(index)[0]
        return f"{where} (shard {shard})" if shard is not None else where

    def _check(self, item: dict[str, Any], codes: np.ndarray, semantic: np.ndarray, index: int):
        where = self._where(item, index)
        if codes.ndim != 2 or codes.shape[0] < self.num_levels:
            raise SoundStormError(
                f"{where}: codes of shape {codes.shape} have fewer than {self.num_levels} levels"
            )
        if semantic.shape != (codes.shape[1],):
            raise SoundStormError(
                f"{where}: semantic tokens of shape {semantic.shape} are not aligned to "
                f"{codes.shape[1]} codec frames"
            )
        if not self.check_tokens:
            return
        check_token_range(
            codes[: self.num_levels],
            self.codebook_size,
            "acoustic token",
            source="model.codebook_size",
            where=where,
        )
        check_token_range(
            semantic,
            self.cond_vocab_size,
            "semantic token",
            source="model.cond_vocab_size",
            where=where,
        )

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, index = key
        item = self.dataset[index]
        codes = np.asarray(item["codes"])
        semantic = np.asarray(item["semantic"])
        self._check(item, codes, semantic, index)
        length = codes.shape[1]
        start = 0
        if self.random_crop and length > self.max_frames:
            start = int(
                _rng(self.seed, _STREAM_CROP, epoch, index).integers(length - self.max_frames + 1)
            )
        stop = min(length, start + self.max_frames)
        codes = torch.from_numpy(codes[: self.num_levels, start:stop].astype(np.int64))
        cond = torch.from_numpy(semantic[start:stop].astype(np.int64))
        mask_seed = int(_rng(self.seed, _STREAM_MASK, epoch, index).integers(2**62))
        generator = torch.Generator().manual_seed(mask_seed)
        masked, level, prompt_len = sample_training_masks(
            self.num_levels, torch.tensor([stop - start]), generator=generator, **self.masking
        )
        return {
            "id": str(item.get("id", index)),
            "codes": codes,
            "cond": cond,
            "masked": masked[0],
            "level": level[0],
            "prompt_len": prompt_len[0],
        }


def check_data_matches_model(meta: dict[str, Any], model: SoundStormConfig, where: str) -> None:
    """Compare a shard directory's metadata with the model config (clear error if unusable)."""
    if int(meta.get("num_levels", model.num_levels)) < model.num_levels:
        kept = (meta.get("codec") or {}).get("codec_num_levels")
        hint = f" (prepared with --keep-levels; prepare it with {model.num_levels})" if kept else ""
        raise SoundStormError(
            f"{where}: data has {meta['num_levels']} RVQ levels, model.num_levels is "
            f"{model.num_levels}{hint}"
        )
    if int(meta.get("codebook_size", 0)) > model.codebook_size:
        raise SoundStormError(
            f"{where}: data codebook_size {meta['codebook_size']} > model.codebook_size "
            f"{model.codebook_size}"
        )
    if int(meta.get("semantic_vocab_size", 0)) > model.cond_vocab_size:
        raise SoundStormError(
            f"{where}: data semantic_vocab_size {meta['semantic_vocab_size']} > "
            f"model.cond_vocab_size {model.cond_vocab_size}"
        )


def collate_token_batch(items: list[dict[str, Any]]) -> TokenBatch:
    """Pad examples to the longest one: ``codes [B, Q, T]``, ``cond [B, T]``, ``masked``."""
    lengths = torch.tensor([item["cond"].shape[0] for item in items], dtype=torch.long)
    batch, frames = len(items), int(lengths.max())
    num_levels = items[0]["codes"].shape[0]
    codes = torch.zeros(batch, num_levels, frames, dtype=torch.long)
    cond = torch.zeros(batch, frames, dtype=torch.long)
    masked = torch.zeros(batch, num_levels, frames, dtype=torch.bool)
    for row, item in enumerate(items):
        length = item["cond"].shape[0]
        codes[row, :, :length] = item["codes"]
        cond[row, :length] = item["cond"]
        masked[row, :, :length] = item["masked"]
    return TokenBatch(
        codes=codes,
        cond=cond,
        lengths=lengths,
        masked=masked,
        level=torch.stack([item["level"] for item in items]),
        prompt_len=torch.stack([item["prompt_len"] for item in items]),
        ids=[item["id"] for item in items],
    )


class GlobalBatchSampler(torch.utils.data.Sampler):
    """Deterministic global batches, each split across ranks.

    For epoch ``e``: the usable utterances are shuffled with ``(seed, e)``; with bucketing,
    windows of ``bucket_window`` global batches are sorted by length; the sequence is cut
    into global batches of ``batch_size * world_size`` (the remainder is dropped so all
    ranks take the same number of steps), whose order is shuffled again; rank ``r`` takes
    the ``r``-th slice of ``batch_size`` of each. Yields lists of ``(epoch, index)`` keys.

    Args:
        lengths: frames per utterance.
        batch_size: utterances per rank per batch.
        world_size, rank: the data-parallel group.
        seed: run seed.
        shuffle: False: dataset order (validation).
        bucket: group similar lengths (cropped lengths, capped at ``max_frames``).
        bucket_window: global batches per sorting window.
        max_frames: crop length (lengths above it count as ``max_frames`` for bucketing).
        min_frames: shorter utterances are skipped.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        world_size: int = 1,
        rank: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        bucket: bool = True,
        bucket_window: int = 50,
        max_frames: int | None = None,
        min_frames: int = 1,
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = batch_size
        self.world_size = world_size
        self.rank = rank
        self.seed = seed
        self.shuffle = shuffle
        self.bucket = bucket
        self.bucket_window = max(1, bucket_window)
        self.max_frames = max_frames
        self.usable = np.flatnonzero(self.lengths >= max(1, min_frames))
        self.global_batch = batch_size * world_size
        if len(self.usable) < self.global_batch:
            raise SoundStormError(
                f"{len(self.usable)} usable utterances (>= {min_frames} frames) are fewer than "
                f"one global batch of {self.global_batch} (batch_size {batch_size} x "
                f"{world_size} ranks)"
            )
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch, and skip its first ``start_batch`` batches (resume)."""
        self.epoch = epoch
        self.start_batch = start_batch

    def __len__(self) -> int:
        return len(self.usable) // self.global_batch - self.start_batch

    def global_batches(self, epoch: int) -> list[np.ndarray]:
        """All global batches of ``epoch`` (arrays of ``batch_size * world_size`` indices)."""
        order = self.usable.copy()
        rng = _rng(self.seed, _STREAM_ORDER, epoch)
        if self.shuffle:
            order = order[rng.permutation(len(order))]
        count = len(order) // self.global_batch
        if self.bucket:
            cropped = self.lengths[order]
            if self.max_frames is not None:
                cropped = np.minimum(cropped, self.max_frames)
            window = self.bucket_window * self.global_batch
            for begin in range(0, len(order), window):
                part = slice(begin, begin + window)
                order[part] = order[part][np.argsort(-cropped[part], kind="stable")]
        batches = [order[i * self.global_batch : (i + 1) * self.global_batch] for i in range(count)]
        if self.shuffle and self.bucket:
            batches = [batches[i] for i in rng.permutation(count)]
        return batches

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        begin, end = self.rank * self.batch_size, (self.rank + 1) * self.batch_size
        for batch in self.global_batches(self.epoch)[self.start_batch :]:
            yield [(self.epoch, int(i)) for i in batch[begin:end]]


def ignore_termination(worker_id: int | None = None) -> None:
    """DataLoader worker start: ignore SIGTERM. A scheduler (Slurm, Kubernetes, ``kill --
    -PGID``) signals the whole process group: the training process then checkpoints and
    stops (``TrainRecipe``), and needs its workers alive for that; they end with it."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def build_loader(
    dataset: CroppedTokenDataset,
    sampler: GlobalBatchSampler,
    num_workers: int,
    pin_memory: bool,
    persistent: bool = False,
) -> torch.utils.data.DataLoader:
    """A DataLoader over ``sampler``'s batches of its current epoch.

    It gets its own generator: creating an iterator must not consume the global torch RNG
    (dropout), or a resumed run would diverge from an uninterrupted one.

    Args:
        persistent: keep the worker processes between iterators (``num_workers > 0``), so
            that one loader serves every epoch: call ``sampler.set_epoch`` then ``iter``
            again (the batches are a pure function of the epoch and the utterance, so they do
            not depend on which worker made them). Starting the workers anew for every epoch
            costs more than a short epoch takes on a GPU.
    """
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_token_batch,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=persistent and num_workers > 0,
        generator=torch.Generator().manual_seed(dataset.seed),
        worker_init_fn=ignore_termination if num_workers > 0 else None,
    )


def load_token_dataset(root: str, split: str | None) -> Sequence[dict[str, Any]]:
    """Open a token shard directory (``soundstorm.data.TokenShardDataset``).

    The dataset does not check id ranges itself: ``CroppedTokenDataset`` checks each item once,
    against the model's sizes (``data.check_tokens``), naming the utterance and its shard.
    """
    from soundstorm.data import TokenShardDataset

    return TokenShardDataset(root, split=split, check_values=False)


class SyntheticTokenDataset(Sequence):
    """Random utterances of a fixed length, generated on access (throughput benchmarks).

    Args:
        count: number of utterances.
        num_levels, codebook_size, cond_vocab_size: token shapes and ranges.
        num_frames: frames per utterance.
        seed: utterance ``i`` is a function of ``(seed, i)``.
    """

    def __init__(
        self,
        count: int,
        num_levels: int,
        codebook_size: int,
        cond_vocab_size: int,
        num_frames: int,
        seed: int = 0,
    ) -> None:
        self.count = count
        self.shape = (num_levels, num_frames)
        self.codebook_size = codebook_size
        self.cond_vocab_size = cond_vocab_size
        self.seed = seed
        self.lengths = np.full(count, num_frames, dtype=np.int64)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.count:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        return {
            "id": f"synthetic-{index:06d}",
            "codes": rng.integers(0, self.codebook_size, self.shape).astype(np.uint16),
            "semantic": rng.integers(0, self.cond_vocab_size, self.shape[1]),
            "duration": 0.0,
        }
