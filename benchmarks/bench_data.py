"""Token-shard reader speed: open time and random-access reads of ``TokenShardDataset``.

Run it::

    python benchmarks/bench_data.py --hours 100 --shard-hours 5
    python benchmarks/bench_data.py --prepare data/wavs   # also time soundstorm prepare

It writes synthetic shards (random codes, Q=12, K=1024, 50 frames/s, utterances of 2-20 s;
``synthetic_shards`` and ``write_shards``, which ``checksums.py`` uses too) into a temporary
folder, then measures: writing, opening the dataset (manifest + offsets), reading random
utterances (cold: first touch of each shard; warm: memory maps open).
With ``--prepare DIR`` it also runs ``prepare`` on a folder of audio with the default
codec and tokenizer and reports its speed in real-time factor.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from soundstorm.data import ShardWriter, TokenShardDataset, TokenUtterance, write_manifest
from soundstorm.data.shards import SHARDS_DIRNAME

CODEC = {
    "name": "synthetic",
    "sample_rate": 24000,
    "frame_rate": 50.0,
    "num_levels": 12,
    "codebook_size": 1024,
}
SEMANTIC = {"name": "synthetic", "frame_rate": 25.0, "vocab_size": 500}


def synthetic_shards(
    hours: float, shard_hours: float, seed: int = 0
) -> Iterator[list[TokenUtterance]]:
    """Random utterances of 2-20 s totalling ``hours``, grouped in shards of ``shard_hours``
    (one shard at a time: a large set is never held whole)."""
    rng = np.random.default_rng(seed)
    index, current, seconds, total = 0, [], 0.0, 0.0
    while total < hours * 3600:
        duration = float(rng.uniform(2.0, 20.0))
        frames = int(duration * CODEC["frame_rate"])
        codes = rng.integers(0, 1024, (12, frames), dtype=np.uint16)
        semantic = rng.integers(0, 500, frames, dtype=np.int32)
        current.append(TokenUtterance(f"u{len(current)}-{index}", codes, semantic, duration))
        seconds += duration
        total += duration
        if seconds >= shard_hours * 3600:
            yield current
            index, current, seconds = index + 1, [], 0.0
    if current:
        yield current


def write_shards(root: Path, shards: Iterable[list[TokenUtterance]]) -> int:
    """Write ``shards`` as ``train-00000``, ``train-00001``, ... and the manifest of ``root``;
    returns the number of utterances."""
    names, count = [], 0
    for index, utterances in enumerate(shards):
        writer = ShardWriter(root / SHARDS_DIRNAME / f"train-{index:05d}", CODEC, SEMANTIC)
        writer.utterances = list(utterances)
        writer.write()
        names.append((f"train-{index:05d}", "train"))
        count += len(utterances)
    write_manifest(root, names)
    return count


def write_synthetic(
    root: Path, hours: float, shard_hours: float, seed: int = 0
) -> tuple[int, float]:
    """Write random shards totalling ``hours``; returns (utterances, seconds taken)."""
    started = time.perf_counter()
    count = write_shards(root, synthetic_shards(hours, shard_hours, seed))
    return count, time.perf_counter() - started


def time_reads(root: Path, num_reads: int, seed: int = 1) -> dict:
    started = time.perf_counter()
    ds = TokenShardDataset(root, split="train")
    open_s = time.perf_counter() - started
    order = np.random.default_rng(seed).integers(0, len(ds), size=num_reads)
    started = time.perf_counter()
    frames = sum(ds[int(i)]["codes"].shape[1] for i in order)
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    frames = sum(ds[int(i)]["codes"].shape[1] for i in order)
    warm_s = time.perf_counter() - started
    return {
        "utterances": len(ds),
        "open_s": open_s,
        "cold_items_per_s": num_reads / cold_s,
        "warm_items_per_s": num_reads / warm_s,
        "warm_frames_per_s": frames / warm_s,
    }


def time_prepare(source: str, workers: int) -> str:
    from soundstorm.commands.prepare import format_summary
    from soundstorm.data.prepare import prepare

    with tempfile.TemporaryDirectory() as out:
        summary = prepare(source, out, workers=workers, progress=False)
        return format_summary(summary) + f"\ntotal {summary['total_seconds']:.1f} s (fit + encode)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=20.0)
    parser.add_argument("--shard-hours", type=float, default=2.0)
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--prepare", default=None, metavar="AUDIO_DIR")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        count, write_s = write_synthetic(Path(tmp), args.hours, args.shard_hours)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.npy")) / 1e6
        print(f"wrote {args.hours:g} h ({count} utterances, {size:.0f} MB) in {write_s:.1f} s")
        result = time_reads(Path(tmp), args.reads)
        print(
            f"open {result['open_s'] * 1e3:.1f} ms; random reads: cold {result['cold_items_per_s']:.0f} "
            f"items/s, warm {result['warm_items_per_s']:.0f} items/s "
            f"({result['warm_frames_per_s'] / 50 / 3600:.1f} h of tokens/s)"
        )
    if args.prepare:
        print(time_prepare(args.prepare, args.workers))


if __name__ == "__main__":
    main()
