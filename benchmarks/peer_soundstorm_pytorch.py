"""Time the peer implementation's ``generate`` (lucidrains' soundstorm-pytorch 0.6.1).

Runs inside the peer's own virtual environment (``bash benchmarks/setup_peer_env.sh``)::

    benchmarks/.peer-venv/bin/python benchmarks/peer_soundstorm_pytorch.py \
        --dim 256 --depth 4 --heads 4 --levels 8 --codebook-size 1024 --frames 500 \
        --first-level-steps 16 --repeats 3 --threads 2

and prints one JSON line (``{"impl": "soundstorm-pytorch", ...}``) that
``benchmarks/generate_speed.py`` reads. It builds the peer with the same dimensions as ours:
model dimension, Conformer depth, heads (``dim_head = dim // heads``), feed-forward dimension
(``ff_mult = ff_dim // dim``), depthwise-convolution kernel, Q levels of K codes, semantic
conditioning at the codec frame rate (one condition token per frame, like ours).

How the peer decodes (read from ``soundstorm_pytorch/soundstorm.py``): ``SoundStorm(steps=S)``
runs S iterations at the first ``num_full_sampling_levels`` levels and ONE iteration at every
other level, so ``steps=16, num_full_sampling_levels=1`` gives 16 + (Q - 1) forward passes,
the paper's (16, 1, ..., 1) schedule. Each pass computes logits for all Q levels
(``[B, T * Q, K]``), top-k filters and Gumbel-samples all of them and ranks all T * Q scores
with two argsorts. The number of passes is counted with a forward hook on the peer's
``ConformerWrapper`` and checked against the expected count.

The peer's package imports its audio stack (``audiolm_pytorch``, ``spear_tts_pytorch`` and,
through them, ``fairseq``, which does not build on Python 3.11) and its trainer
(``accelerate``) at import time. Token generation uses none of them, so they are replaced by
empty stub modules before the import (see ``install_import_stubs``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
import types


def install_import_stubs() -> None:
    """Register empty modules for the peer's unused audio, text and trainer imports."""

    def stub(name: str, **attributes: object) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        module.__path__ = []  # a package, so that submodules can be stubbed too
        sys.modules[name] = module
        return module

    def placeholder(name: str) -> type:
        return type(name, (), {})

    for name in ("fairseq", "torchaudio"):
        if name not in sys.modules:
            stub(name)
    stub(
        "audiolm_pytorch",
        SoundStream=placeholder("SoundStream"),
        HubertWithKmeans=placeholder("HubertWithKmeans"),
        FairseqVQWav2Vec=placeholder("FairseqVQWav2Vec"),
    )
    stub("audiolm_pytorch.data", get_dataloader=None)
    stub("audiolm_pytorch.optimizer", get_optimizer=None)
    stub("spear_tts_pytorch", TextToSemantic=placeholder("TextToSemantic"))
    try:
        import accelerate  # noqa: F401
    except ImportError:
        stub("accelerate", Accelerator=placeholder("Accelerator"), DistributedType=None)


def build_peer(args: argparse.Namespace):
    """Build the peer's ``SoundStorm`` with our dimensions, conditioned on semantic tokens.

    Returns:
        The peer model (eval mode, fp32, on ``args.device``).
    """
    install_import_stubs()
    from soundstorm_pytorch import ConformerWrapper, SoundStorm

    if args.dim % args.heads:
        raise SystemExit(f"dim {args.dim} is not divisible by heads {args.heads}")
    net = ConformerWrapper(
        codebook_size=args.codebook_size,
        num_quantizers=args.levels,
        conformer=dict(
            dim=args.dim,
            depth=args.depth,
            heads=args.heads,
            dim_head=args.dim // args.heads,
            ff_mult=args.ff_dim // args.dim,
            conv_kernel_size=args.conv_kernel,
            num_residual_streams=args.residual_streams,
        ),
    )
    # Semantic tokens at 50 Hz (16 kHz / 320) against codec frames at 50 Hz (24 kHz / 480):
    # the peer's interpolation is then the identity, one condition token per frame, like ours.
    model = SoundStorm(
        net,
        steps=args.first_level_steps,
        schedule="cosine",
        num_semantic_token_ids=args.cond_vocab_size,
        wav2vec_target_sample_hz=16000,
        wav2vec_downsample_factor=320,
        codec_target_sample_hz=24000,
        codec_downsample_factor=480,
    )
    return model.to(args.device).eval()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--ff-dim", type=int, default=1024)
    parser.add_argument("--conv-kernel", type=int, default=5)
    parser.add_argument("--levels", type=int, default=8, help="Q, RVQ levels")
    parser.add_argument("--codebook-size", type=int, default=1024, help="K")
    parser.add_argument("--cond-vocab-size", type=int, default=1024)
    parser.add_argument("--frames", type=int, default=500, help="T, codec frames (50/s)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--first-level-steps", type=int, default=16)
    parser.add_argument(
        "--residual-streams",
        type=int,
        default=4,
        help="peer's hyper-connection streams (its default 4; 1 = plain residual)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--serve",
        action="store_true",
        help="after the warm-up, print a JSON line, then time one generate per 'run' line read "
        "from stdin (one JSON line each) until 'quit' or EOF: lets a driver interleave runs",
    )
    return parser.parse_args(argv)


class PeerRunner:
    """The peer model, its inputs and a forward-pass counter; ``run()`` times one generate."""

    def __init__(self, args: argparse.Namespace):
        import torch

        self.args = args
        self.torch = torch
        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        self.model = build_peer(args)
        self.num_params = sum(p.numel() for p in self.model.parameters())
        embeddings = self.model.net.code_embeds.weight.numel()
        embeddings += self.model.semantic_token_emb.weight.numel()
        self.non_embedding_params = self.num_params - embeddings
        self.forward_passes = 0
        self.model.net.register_forward_hook(self._count_pass)
        self.cond = torch.randint(
            0, args.cond_vocab_size, (args.batch, args.frames), device=args.device
        )
        self.expected_passes = args.first_level_steps + args.levels - 1
        # The peer wraps each level's loop in tqdm: keep its progress bars off stderr.
        import soundstorm_pytorch.soundstorm as peer_module

        peer_module.tqdm = lambda iterable, **kwargs: iterable

    def _count_pass(self, module, inputs, output) -> None:
        self.forward_passes += 1

    def _sync(self) -> None:
        if str(self.args.device).startswith("cuda"):
            self.torch.cuda.synchronize()

    def run(self) -> dict:
        """Time one ``generate``: ``{"time_s", "cpu_s", "passes", "peak_memory_mib", ...}``."""
        self.forward_passes = 0
        self._sync()
        start, cpu_start = time.perf_counter(), time.process_time()
        codes = self.model.generate(cond_semantic_token_ids=self.cond)
        self._sync()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        codes = codes.reshape(self.args.batch, self.args.frames, self.args.levels)
        if self.forward_passes != self.expected_passes:
            raise SystemExit(
                f"peer ran {self.forward_passes} forward passes, expected {self.expected_passes}"
            )
        return {
            "time_s": elapsed,
            "cpu_s": cpu,
            "passes": self.forward_passes,
            "peak_memory_mib": self.peak_memory_mib(),
            "codes_in_range": bool(((codes >= 0) & (codes < self.args.codebook_size)).all()),
        }

    def peak_memory_mib(self) -> float:
        if str(self.args.device).startswith("cuda"):
            return self.torch.cuda.max_memory_allocated() / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB

    def describe(self) -> dict:
        args = self.args
        return {
            "impl": "soundstorm-pytorch",
            "peer_version": _version("soundstorm-pytorch"),
            "torch": self.torch.__version__,
            "python": platform.python_version(),
            "device": args.device,
            "threads": args.threads,
            "config": {
                "dim": args.dim,
                "depth": args.depth,
                "heads": args.heads,
                "ff_dim": args.ff_dim,
                "conv_kernel": args.conv_kernel,
                "levels": args.levels,
                "codebook_size": args.codebook_size,
                "cond_vocab_size": args.cond_vocab_size,
                "residual_streams": args.residual_streams,
            },
            "params": self.num_params,
            "non_embedding_params": self.non_embedding_params,
            "batch": args.batch,
            "frames": args.frames,
            "expected_passes": self.expected_passes,
        }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runner = PeerRunner(args)
    start = time.perf_counter()
    for _ in range(args.warmup):
        runner.run()
    warmup_s = time.perf_counter() - start
    if args.serve:
        print(json.dumps({**runner.describe(), "warmup_s": warmup_s, "ready": True}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "quit":
                break
            if command != "run":
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
                continue
            print(json.dumps(runner.run()), flush=True)
        return 0
    runs = [runner.run() for _ in range(args.repeats)]
    timings = [r["time_s"] for r in runs]
    result = {
        **runner.describe(),
        "warmup_s": warmup_s,
        "passes": runs[-1]["passes"],
        "times_s": timings,
        "median_s": statistics.median(timings),
        "peak_memory_mib": runs[-1]["peak_memory_mib"],
        "codes_in_range": all(r["codes_in_range"] for r in runs),
    }
    print(json.dumps(result))
    return 0


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
