"""``soundstorm bench``: generation speed of a SoundStorm model (random weights).

Usage::

    soundstorm bench --preset small --frames 250 500 --batch 1 --threads 2
    soundstorm bench --preset paper --frames 1500 --batch 1 8 --device cuda --compile

Prints one Markdown row per (batch, frames): warm-up apart from the steady-state median,
real-time factor, throughput, MFU and peak memory (see ``soundstorm.bench``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import torch

from soundstorm.bench import CountingEngine, format_table, measure_generation, peak_flops
from soundstorm.commands.options import (
    add_decoding_arguments,
    add_device_argument,
    add_out_argument,
    add_quiet_argument,
    add_seed_argument,
    decode_options_from_args,
    schedule_text,
)
from soundstorm.config import SoundStormConfig
from soundstorm.files import atomic_write_text, check_writable
from soundstorm.model import SoundStorm
from soundstorm.validation import require_int, resolve_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``soundstorm bench`` (decoding flags: ``add_decoding_arguments``)."""
    parser.add_argument("--preset", default="small", choices=("tiny", "small", "paper"))
    parser.add_argument(
        "--frames",
        type=int,
        nargs="+",
        default=[500],
        help="frames per example (50 per second of audio)",
    )
    parser.add_argument("--batch", type=int, nargs="+", default=[1])
    add_device_argument(parser)
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        default=None,
        help="default: bfloat16 on CUDA, float32 on CPU",
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch)")
    add_decoding_arguments(parser)
    parser.add_argument("--compile", action="store_true", help="torch.compile the forward")
    parser.add_argument("--no-buckets", action="store_true", help="run at the exact lengths")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="peak for MFU (default: datasheet GPU figure or measured CPU matmul)",
    )
    add_out_argument(parser, "also write the results to this JSON file", aliases=("--json",))
    add_seed_argument(parser, "the random weights and conditioning")
    add_quiet_argument(parser)


def main(args: argparse.Namespace) -> int:
    """Measure every (batch, frames) point; print the Markdown table; return 0."""
    if args.threads is not None:
        torch.set_num_threads(require_int("--threads", args.threads, minimum=1))
    options = decode_options_from_args(args)
    device = resolve_device(args.device)
    if min(args.frames) < 1 or min(args.batch) < 1 or args.repeats < 1 or args.warmup < 0:
        raise ValueError("--frames, --batch and --repeats must be >= 1, --warmup >= 0")
    if args.out:
        check_writable(Path(args.out).parent)  # said before minutes of measuring
    torch.manual_seed(args.seed)
    config = SoundStormConfig.from_name(args.preset)
    steps = options.level_steps(config.num_levels)
    dtype = getattr(torch, args.dtype) if args.dtype else None
    engine = CountingEngine(
        SoundStorm(config),
        device=device,
        dtype=dtype,
        compile=args.compile,
        buckets=None if args.no_buckets else (*sorted(set(args.frames)),),
    )
    if args.peak_tflops:
        peak, peak_source = args.peak_tflops * 1e12, "--peak-tflops"
    else:
        peak, peak_source = peak_flops(device)
    if not args.quiet:
        print(
            f"soundstorm bench: preset {args.preset} ({engine.model.num_parameters() / 1e6:.1f}M "
            f"params), {device} {engine.dtype}, threads {torch.get_num_threads()}, "
            f"compile {args.compile}, steps {schedule_text(steps)} = {sum(steps)} passes; "
            f"MFU against {peak / 1e12:.2f} TFLOP/s ({peak_source})",
            flush=True,
        )
    rows = []
    for batch in args.batch:
        for frames in args.frames:
            rows.append(
                measure_generation(
                    engine, batch, frames, None, args.repeats, args.warmup, peak, options=options
                )
            )
            if not args.quiet:
                print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    print(format_table(rows))
    if args.out:
        payload = {
            "preset": args.preset,
            "config": config.to_dict(),
            "device": str(device),
            "dtype": str(engine.dtype),
            "threads": torch.get_num_threads(),
            "compile": args.compile,
            "decoding": asdict(options),
            "peak_flops": peak,
            "peak_source": peak_source,
            "results": [asdict(r) for r in rows],
        }
        atomic_write_text(args.out, json.dumps(payload, indent=2))
    return 0
