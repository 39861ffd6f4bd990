"""Generation speed: ours against the peer (soundstorm-pytorch), side by side, same config.

    bash benchmarks/setup_peer_env.sh          # once: the peer's virtual environment
    python benchmarks/generate_speed.py --frames 500 --repeats 5 --threads 2
    python benchmarks/generate_speed.py --frames 250 500 1500 --no-peer      # ours only
    python benchmarks/generate_speed.py --device cuda --frames 250 500 1500 3000 15000 \
        --batch 1 8 --compile --no-peer

Both implementations run in their own worker process (ours: this file with ``--worker``; the
peer: ``benchmarks/peer_soundstorm_pytorch.py --serve`` in ``benchmarks/.peer-venv``) with the
same dimensions (dim, depth, heads, feed-forward, conv kernel, Q, K, conditioning vocabulary),
the same batch and length and the same number of forward passes: the paper's schedule, 16
iterations at the first level and 1 at each other level (16 + Q - 1 passes). Each worker warms
up first (compilation included: reported apart), then the driver alternates single timed runs
(ours, peer, ours, peer, ...) so that load on a shared machine hits both alike, and reports
medians. Per point: wall seconds, process CPU seconds, real-time factor (50 frames/s audio),
frames/s, passes/s, estimated MFU (``SoundStorm.flops_per_forward``; the peer: 2 x its
non-embedding parameters per frame, all Q heads included, plus attention), peak memory (CPU:
the worker's peak RSS). ``--profile`` adds a torch.profiler table of one of our runs.

Results go to ``--out`` (JSON) and a Markdown section appended to ``docs/bench/speed.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER_PYTHON = ROOT / "benchmarks" / ".peer-venv" / "bin" / "python"
PEER_SCRIPT = ROOT / "benchmarks" / "peer_soundstorm_pytorch.py"
FRAME_RATE = 50.0


# ---------------------------------------------------------------------- worker (ours)
def run_worker(args: argparse.Namespace) -> int:
    """Serve timed runs of our ``generate`` over stdin/stdout (JSON lines), like the peer."""
    import torch

    from soundstorm import SoundStorm, SoundStormConfig
    from soundstorm.bench import CountingEngine, peak_memory_mib, time_generate
    from soundstorm.decoding import DecodeOptions
    from soundstorm.validation import resolve_device

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = SoundStormConfig.from_name(args.preset, **model_overrides(args))
    device = resolve_device(args.device)
    engine = CountingEngine(
        SoundStorm(config), device=device, compile=args.compile, buckets=(args.frames[0],)
    )
    options = DecodeOptions(steps=args.first_level_steps)  # passed whole to every call
    steps = options.level_steps(config.num_levels)
    frames, batch = args.frames[0], args.batch[0]
    start = time.perf_counter()
    for i in range(args.warmup):
        time_generate(engine, batch, frames, seed=i, options=options)
    warmup_s = time.perf_counter() - start
    ready = {
        "impl": "ours",
        "torch": torch.__version__,
        "device": str(device),
        "dtype": str(engine.dtype),
        "threads": torch.get_num_threads(),
        "compile": args.compile,
        "config": config.to_dict(),
        "params": engine.model.num_parameters(),
        "non_embedding_params": engine.model.num_parameters(exclude_embeddings=True),
        "flops_per_generate": sum(steps) * batch * engine.model.flops_per_forward(frames),
        "warmup_s": warmup_s,
        "ready": True,
    }
    print(json.dumps(ready), flush=True)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for index, line in enumerate(sys.stdin):
        command = line.strip()
        if command == "quit":
            break
        if command == "profile":
            print(json.dumps({"profile": profile_one(engine, batch, frames, options)}), flush=True)
            continue
        wall, cpu, passes = time_generate(engine, batch, frames, seed=1000 + index, options=options)
        result = {"time_s": wall, "cpu_s": cpu, "passes": passes}
        print(json.dumps({**result, "peak_memory_mib": peak_memory_mib(device)}), flush=True)
    return 0


def profile_one(engine, batch: int, frames: int, options) -> str:
    """A torch.profiler table (top operators by self time) of one generate call."""
    from torch.profiler import ProfilerActivity, profile

    from soundstorm.bench import time_generate

    activities = [ProfilerActivity.CPU]
    if engine.device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        time_generate(engine, batch, frames, seed=7, options=options)
    sort = "self_cuda_time_total" if engine.device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=20)


def model_overrides(args: argparse.Namespace) -> dict:
    names = (
        "dim",
        "depth",
        "heads",
        "ff_dim",
        "conv_kernel",
        "num_levels",
        "codebook_size",
        "cond_vocab_size",
    )
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


# ---------------------------------------------------------------------- driver
class Worker:
    """A benchmark worker process speaking the ready / run / quit JSON-lines protocol."""

    def __init__(self, command: list[str]):
        self.command = command
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        self.info = self._read()

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise RuntimeError(f"worker {self.command[:3]} exited ({self.process.returncode})")
        return json.loads(line)

    def request(self, command: str = "run") -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            self.process.wait(timeout=60)


def ours_command(args: argparse.Namespace, frames: int, batch: int) -> list[str]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--frames",
        str(frames),
        "--batch",
        str(batch),
        "--preset",
        args.preset,
        "--threads",
        str(args.threads),
        "--device",
        args.device,
        "--warmup",
        str(args.warmup),
        "--first-level-steps",
        str(args.first_level_steps),
    ]
    for name, value in model_overrides(args).items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    return command + (["--compile"] if args.compile else [])


def peer_command(args: argparse.Namespace, config: dict, frames: int, batch: int) -> list[str]:
    return [
        args.peer_python,
        str(PEER_SCRIPT),
        "--serve",
        "--dim",
        str(config["dim"]),
        "--depth",
        str(config["depth"]),
        "--heads",
        str(config["heads"]),
        "--ff-dim",
        str(config["ff_dim"]),
        "--conv-kernel",
        str(config["conv_kernel"]),
        "--levels",
        str(config["num_levels"]),
        "--codebook-size",
        str(config["codebook_size"]),
        "--cond-vocab-size",
        str(config["cond_vocab_size"]),
        "--frames",
        str(frames),
        "--batch",
        str(batch),
        "--first-level-steps",
        str(args.first_level_steps),
        "--residual-streams",
        str(args.peer_residual_streams),
        "--threads",
        str(args.threads),
        "--device",
        args.device,
        "--warmup",
        str(args.warmup),
    ]


def peer_flops(info: dict, frames: int, batch: int) -> float:
    """The peer's FLOPs per generate: 2 x non-embedding params x T + attention, x passes."""
    cfg = info["config"]
    per_pass = 2.0 * info["non_embedding_params"] * frames
    per_pass += 4.0 * cfg["depth"] * frames**2 * cfg["dim"]
    return info["expected_passes"] * batch * per_pass


def summarise(
    runs: list[dict], info: dict, flops: float, frames: int, batch: int, peak: float
) -> dict:
    times = [r["time_s"] for r in runs]
    median = statistics.median(times)
    audio_s = batch * frames / FRAME_RATE
    summary = {
        "warmup_s": info["warmup_s"],
        "times_s": times,
        "median_s": median,
        "real_time_factor": median / audio_s,
        "times_real_time": audio_s / median,
        "frames_per_s": batch * frames / median,
        "passes": runs[-1]["passes"],
        "passes_per_s": runs[-1]["passes"] / median,
        "flops": flops,
        "mfu": flops / median / peak,
        "peak_memory_mib": max(r["peak_memory_mib"] for r in runs),
        "params": info["params"],
    }
    if "cpu_s" in runs[0]:
        summary["cpu_median_s"] = statistics.median(r["cpu_s"] for r in runs)
    return summary


def measure_point(
    args: argparse.Namespace, frames: int, batch: int, with_peer: bool, peak: float
) -> dict:
    ours = Worker(ours_command(args, frames, batch))
    print(f"  ours ready: warm-up {ours.info['warmup_s']:.2f} s", flush=True)
    peer = None
    try:
        if with_peer:
            peer = Worker(peer_command(args, ours.info["config"], frames, batch))
            print(f"  peer ready: warm-up {peer.info['warmup_s']:.2f} s", flush=True)
        ours_runs, peer_runs = [], []
        for i in range(args.repeats):
            ours_runs.append(ours.request())
            line = f"  run {i + 1}/{args.repeats}: ours {ours_runs[-1]['time_s']:.3f} s"
            if peer is not None:
                peer_runs.append(peer.request())
                line += f", peer {peer_runs[-1]['time_s']:.3f} s"
            print(line, flush=True)
        profile = ours.request("profile")["profile"] if args.profile else None
    finally:
        ours.close()
        if peer is not None:
            peer.close()
    point = {
        "frames": frames,
        "batch": batch,
        "audio_s": batch * frames / FRAME_RATE,
        "ours": summarise(
            ours_runs, ours.info, ours.info["flops_per_generate"], frames, batch, peak
        ),
        "ours_info": ours.info,
    }
    if peer is not None:
        point["peer"] = summarise(
            peer_runs, peer.info, peer_flops(peer.info, frames, batch), frames, batch, peak
        )
        point["peer_info"] = peer.info
        point["speedup"] = point["peer"]["median_s"] / point["ours"]["median_s"]
        paired = [p["time_s"] / o["time_s"] for o, p in zip(ours_runs, peer_runs)]
        point["speedup_paired_median"] = statistics.median(paired)
    if profile:
        point["profile"] = profile
        print(profile)
    return point


def markdown(
    args: argparse.Namespace, points: list[dict], peak: float, peak_source: str, command: str
) -> str:
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    info = points[0]["ours_info"]
    cfg = info["config"]
    lines = [
        f"#### Generation speed, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `{command}`",
        f"- machine: {args.machine}; device {args.device}, {info['dtype']}, "
        f"torch {info['torch']}, {args.threads} thread(s), python {platform.python_version()}",
        f"- commit: {commit}",
        f"- model: dim {cfg['dim']}, depth {cfg['depth']}, heads {cfg['heads']}, ff "
        f"{cfg['ff_dim']}, conv kernel {cfg['conv_kernel']}, Q {cfg['num_levels']}, K "
        f"{cfg['codebook_size']} ({info['params'] / 1e6:.2f}M params); schedule "
        f"({args.first_level_steps}, 1 x {cfg['num_levels'] - 1}); compile {args.compile}",
        f"- MFU against {peak / 1e12:.3f} TFLOP/s ({peak_source}); RTF = seconds per second "
        f"of audio (50 frames/s); medians of {args.repeats} runs, ours and peer alternated",
        "",
        "| impl | batch | frames | audio s | passes | warm-up s | median s | CPU s | RTF "
        "| frames/s | passes/s | MFU | peak MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for point in points:
        for impl in ("ours", "peer"):
            if impl not in point:
                continue
            r = point[impl]
            name = (
                "ours"
                if impl == "ours"
                else (f"soundstorm-pytorch {point['peer_info']['peer_version']}")
            )
            cpu = f"{r['cpu_median_s']:.2f}" if "cpu_median_s" in r else "-"
            lines.append(
                f"| {name} | {point['batch']} | {point['frames']} | {point['audio_s']:.0f} "
                f"| {r['passes']} | {r['warmup_s']:.2f} | {r['median_s']:.3f} | {cpu} "
                f"| {r['real_time_factor']:.4f} | {r['frames_per_s']:.0f} "
                f"| {r['passes_per_s']:.2f} | {r['mfu']:.1%} | {r['peak_memory_mib']:.0f} |"
            )
    speedups = [p for p in points if "speedup" in p]
    if speedups:
        lines.append("")
        for p in speedups:
            lines.append(
                f"- T={p['frames']}, B={p['batch']}: ours is **{p['speedup']:.2f}x** faster than "
                f"the peer (ratio of medians; median of paired ratios "
                f"{p['speedup_paired_median']:.2f}x)"
            )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preset", default="small", choices=("tiny", "small", "paper"))
    for name in (
        "dim",
        "depth",
        "heads",
        "ff-dim",
        "conv-kernel",
        "num-levels",
        "codebook-size",
        "cond-vocab-size",
    ):
        parser.add_argument(f"--{name}", type=int, default=None, help="override the preset")
    parser.add_argument("--frames", type=int, nargs="+", default=[500])
    parser.add_argument("--batch", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--peer-frames",
        type=int,
        nargs="*",
        default=None,
        help="lengths the peer also runs at (default: all of --frames)",
    )
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument(
        "--peer-python",
        default=str(PEER_PYTHON),
        help="the Python that runs the peer (default: benchmarks/.peer-venv; on a machine "
        "without that venv, a Python that imports soundstorm_pytorch, e.g. with its wheels "
        "on PYTHONPATH)",
    )
    parser.add_argument(
        "--peer-residual-streams",
        type=int,
        default=4,
        help="the peer's hyper-connection streams (its default: 4)",
    )
    parser.add_argument("--first-level-steps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--profile", action="store_true", help="profile one of our runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--machine", default="2-core CPU container, no GPU")
    parser.add_argument("--out", default="runs/bench/generate_speed.json")
    parser.add_argument("--doc", default="docs/bench/speed.md")
    args = parser.parse_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    if not args.no_peer and shutil.which(args.peer_python) is None:
        raise SystemExit(
            f"no peer environment ({args.peer_python}): run `bash benchmarks/setup_peer_env.sh` "
            "first, or pass --peer-python"
        )
    import torch

    from soundstorm.bench import peak_flops
    from soundstorm.validation import resolve_device

    torch.set_num_threads(args.threads)
    peak, peak_source = peak_flops(resolve_device(args.device))
    peer_frames = set(args.frames if args.peer_frames is None else args.peer_frames)
    points = []
    for batch in args.batch:
        for frames in args.frames:
            print(f"T={frames} frames ({frames / FRAME_RATE:.0f} s), batch {batch}", flush=True)
            with_peer = not args.no_peer and frames in peer_frames
            points.append(measure_point(args, frames, batch, with_peer, peak))
    command = "python benchmarks/generate_speed.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    section = markdown(args, points, peak, peak_source, command.strip())
    print(section)
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "peak_flops": peak,
        "peak_source": peak_source,
        "points": points,
        "command": command,
        "markdown": section,
    }
    temporary = out.with_suffix(".tmp")
    temporary.write_text(json.dumps(payload, indent=2))
    os.replace(temporary, out)
    doc = ROOT / args.doc
    doc.parent.mkdir(parents=True, exist_ok=True)
    with open(doc, "a") as handle:
        handle.write("\n" + section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
