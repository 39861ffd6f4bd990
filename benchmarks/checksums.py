"""The cost of the checksums (issue 14): SHA-256 speed, and writing / opening shards and
loading a model with and without verification.

Run it::

    python benchmarks/checksums.py --hours 20 --preset small
    python benchmarks/checksums.py --hours 2 --preset tiny --repeats 2   # quick

It measures, on this machine, with files in the page cache (the usual case right after they
were written or read once; a cold disk adds its read time to both columns alike):

- ``sha256_file`` throughput on a 256 MiB file (GB/s, one core);
- writing synthetic token shards (Q=12, K=1024, 50 frames/s, utterances of 2-20 s) with
  ``ShardWriter`` (which hashes each array), against the same writer with hashing off;
- opening the shard directory: ``TokenShardDataset(verify=True)`` (every array hashed once)
  against ``verify=False`` (manifest and offsets only);
- loading a model of ``--preset`` with ``load_pretrained`` (weights hashed once) against the
  same weights saved without a checksum (nothing to verify);
- and prints the cost per hour of audio for ``prepare`` (bytes written per hour x hash
  speed), for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from bench_data import synthetic_shards, write_shards

from soundstorm.checksums import sha256_file
from soundstorm.data import TokenShardDataset
from soundstorm.data.shards import SHARDS_DIRNAME


def best_of(repeats: int, run) -> float:
    """The fastest of ``repeats`` timings of ``run()`` (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def hash_speed(folder: Path, repeats: int) -> float:
    """``sha256_file`` throughput in GB/s on a 256 MiB file."""
    path = folder / "blob.bin"
    path.write_bytes(os.urandom(256 << 20))
    sha256_file(path)  # into the page cache
    seconds = best_of(repeats, lambda: sha256_file(path))
    path.unlink()
    return (256 << 20) / seconds / 1e9


def shard_costs(folder: Path, hours: float, shard_hours: float, repeats: int) -> dict:
    """Write / open times of a shard directory, with and without checksums."""
    shards = list(synthetic_shards(hours, shard_hours))
    root = folder / "tokens"

    def write_with_checksums():
        write_shards(root, shards)

    def write_without_checksums():  # the same writer with its hashing switched off
        import soundstorm.data.shards as shards_module

        real = shards_module.sha256_file
        shards_module.sha256_file = lambda path: ""
        try:
            write_with_checksums()
        finally:
            shards_module.sha256_file = real

    write = best_of(repeats, write_with_checksums)
    plain = best_of(repeats, write_without_checksums)
    write_with_checksums()  # the checksummed shards, for the opening times
    size = sum(p.stat().st_size for p in (root / SHARDS_DIRNAME).rglob("*.npy"))
    TokenShardDataset(root, verify=True)  # into the page cache
    verified = best_of(repeats, lambda: TokenShardDataset(root, verify=True))
    unverified = best_of(repeats, lambda: TokenShardDataset(root, verify=False))
    return {
        "hours": sum(u.duration for s in shards for u in s) / 3600,
        "shards": len(shards),
        "bytes": size,
        "write_s": write,
        "write_plain_s": plain,
        "open_verified_s": verified,
        "open_unverified_s": unverified,
    }


def model_costs(folder: Path, preset: str, repeats: int) -> dict:
    """``load_pretrained`` of a ``preset`` model with and without a checksum to verify."""
    from safetensors.torch import load_file, save_file

    from soundstorm import SoundStorm, SoundStormConfig
    from soundstorm.inference import load_pretrained

    torch.manual_seed(0)
    model = SoundStorm(SoundStormConfig.from_name(preset))
    sealed = folder / "sealed"
    start = time.perf_counter()
    model.save_pretrained(sealed)
    save_seconds = time.perf_counter() - start
    plain = folder / "plain_model"
    plain.mkdir()
    (plain / "config.json").write_bytes((sealed / "config.json").read_bytes())
    save_file(load_file(sealed / "model.safetensors"), str(plain / "model.safetensors"))
    del model
    load_pretrained(sealed)  # into the page cache
    load_pretrained(plain)
    return {
        "preset": preset,
        "bytes": (sealed / "model.safetensors").stat().st_size,
        "save_s": save_seconds,
        "load_verified_s": best_of(repeats, lambda: load_pretrained(sealed)),
        "load_unverified_s": best_of(repeats, lambda: load_pretrained(plain)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=20.0, help="audio in the shard set")
    parser.add_argument("--shard-hours", type=float, default=2.0)
    parser.add_argument("--preset", default="small", help="model size loaded (tiny, small, paper)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as temp:
        folder = Path(temp)
        speed = hash_speed(folder, args.repeats)
        shards = shard_costs(folder, args.hours, args.shard_hours, args.repeats)
        model = model_costs(folder, args.preset, args.repeats)
    per_hour = shards["bytes"] / shards["hours"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"sha256_file: {speed:.2f} GB/s")
    print(
        f"shards: {shards['hours']:.1f} h in {shards['shards']} shards, "
        f"{shards['bytes'] / 1e6:.0f} MB ({per_hour / 1e6:.2f} MB per hour of audio)"
    )
    print(
        f"  write with checksums {shards['write_s']:.2f} s, without "
        f"{shards['write_plain_s']:.2f} s; hashing costs {per_hour / speed / 1e9 * 1e3:.1f} ms "
        "per hour of audio written (and once more per re-run of prepare)"
    )
    print(
        f"  open verified {shards['open_verified_s']:.3f} s, unverified "
        f"{shards['open_unverified_s']:.3f} s"
    )
    print(
        f"model {model['preset']}: {model['bytes'] / 1e6:.0f} MB, save {model['save_s']:.2f} s, "
        f"load verified {model['load_verified_s']:.3f} s, unverified "
        f"{model['load_unverified_s']:.3f} s"
    )


if __name__ == "__main__":
    main()
