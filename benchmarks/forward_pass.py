"""Time one forward pass of a SoundStorm preset (default: the paper's, T=1500, batch 1).

Run:
    python benchmarks/forward_pass.py --preset paper --frames 1500 --repeats 3

Prints the parameter count, the FLOPs of one pass, the warm-up time and the median
steady-state time of ``model(codes, cond, level=0)`` (one head, as in decoding) and of the
all-heads pass, with the achieved FLOP/s. The model is built with random weights.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from soundstorm import SoundStorm, SoundStormConfig
from soundstorm.validation import resolve_device


def time_call(fn, repeats: int) -> tuple[float, float]:
    """(first call, median of ``repeats`` further calls) in seconds."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    start = time.perf_counter()
    fn()
    sync()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="paper", choices=["paper", "small", "tiny"])
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    args.device = str(resolve_device(args.device))  # "cuda" without CUDA: a clear error

    torch.set_num_threads(args.threads)
    config = SoundStormConfig.from_name(args.preset)
    dtype = getattr(torch, args.dtype)
    model = SoundStorm(config).to(args.device, dtype).eval()
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(
        0, config.codebook_size, (args.batch, config.num_levels, args.frames), generator=g
    )
    cond = torch.randint(0, config.cond_vocab_size, (args.batch, args.frames), generator=g)
    codes, cond = codes.to(args.device), cond.to(args.device)

    results = {
        "preset": args.preset,
        "parameters": model.num_parameters(),
        "frames": args.frames,
        "batch": args.batch,
        "device": args.device
        if args.device != "cpu"
        else f"cpu ({platform.processor() or platform.machine()}, {args.threads} threads)",
        "dtype": args.dtype,
        "torch": torch.__version__,
    }
    with torch.inference_mode():
        for name, level in (("one_head", 0), ("all_heads", None)):
            first, median = time_call(
                lambda level=level: model(codes, cond, level=level, validate=False), args.repeats
            )
            flops = model.flops_per_forward(args.frames, level_only=level is not None) * args.batch
            results[name] = {
                "first_s": round(first, 4),
                "median_s": round(median, 4),
                "gflop": round(flops / 1e9, 1),
                "gflop_per_s": round(flops / median / 1e9, 1),
            }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
