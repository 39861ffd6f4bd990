"""``soundstorm demo``: generate acoustic tokens with a randomly initialised model.

A smoke test of the whole generation path that needs no download and no trained model:
builds a model from a preset, makes random conditioning tokens and a voice prompt, runs
level-by-level decoding, checks the result and writes the tokens to a ``.pt``-free ``.npz``.

    soundstorm demo --preset tiny --seconds 10 --out demo_tokens.npz
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from soundstorm.config import SoundStormConfig
from soundstorm.decoding import resolve_steps
from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_path
from soundstorm.model import SoundStorm

FRAME_RATE = 50  # frames per second of the paper's codec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="tiny", choices=["tiny", "small", "paper"])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length to generate")
    parser.add_argument("--prompt-seconds", type=float, default=3.0, help="voice prompt length")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--first-level-steps", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="demo_tokens.npz", help="where to write the tokens")


def main(args: argparse.Namespace) -> int:
    if args.seconds <= 0 or args.prompt_seconds < 0 or args.prompt_seconds >= args.seconds:
        raise SoundStormError("need 0 <= --prompt-seconds < --seconds")
    if args.batch < 1:
        raise SoundStormError("--batch must be >= 1")
    torch.manual_seed(args.seed)
    config = SoundStormConfig.from_name(args.preset)
    model = SoundStorm(config).eval()
    frames = round(args.seconds * FRAME_RATE)
    prompt_frames = round(args.prompt_seconds * FRAME_RATE)
    g = torch.Generator().manual_seed(args.seed)
    cond = torch.randint(0, config.cond_vocab_size, (args.batch, frames), generator=g)
    prompt = torch.randint(
        0, config.codebook_size, (args.batch, config.num_levels, prompt_frames), generator=g
    )
    steps = resolve_steps(args.first_level_steps, config.num_levels)

    start = time.perf_counter()
    codes = model.generate(cond, prompt=prompt, steps=steps, generator=g)
    elapsed = time.perf_counter() - start

    assert torch.equal(codes[..., :prompt_frames], prompt), "prompt must be kept"
    assert int(codes.max()) < config.codebook_size and int(codes.min()) >= 0
    with atomic_path(args.out, suffix=".npz") as temp:
        np.savez(temp, codes=codes.numpy().astype(np.uint16), cond=cond.numpy())

    audio_seconds = args.seconds * args.batch
    print(
        f"SoundStorm demo ({args.preset} preset, {model.num_parameters() / 1e6:.2f}M parameters, random weights)\n"
        f"  generated codes {tuple(codes.shape)} = [batch, levels, frames] for {args.seconds:g} s "
        f"at {FRAME_RATE} frames/s, with a {args.prompt_seconds:g} s prompt kept unchanged\n"
        f"  {sum(steps)} forward passes (steps {steps[0]} + {len(steps) - 1} x 1) in {elapsed:.2f} s: "
        f"{audio_seconds / elapsed:.1f}x real time\n"
        f"  tokens written to {args.out}"
    )
    return 0
