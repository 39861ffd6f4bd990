"""Generation speed of a SoundStorm model: timing, real-time factor, MFU, memory.

The library behind ``soundstorm bench`` (``soundstorm.commands.bench``) and the scripts of
``benchmarks/``::

    soundstorm bench --preset small --frames 250 500 --batch 1 --threads 2
    soundstorm bench --preset paper --frames 1500 --batch 1 8 --device cuda --compile

For each (batch, frames) it reports, for the paper's decoding schedule (16, 1, ..., 1):
warm-up seconds (first call, compilation included) apart from the steady-state median of
``--repeats`` timed calls, the real-time factor (50 frames/s codec audio), frames/s,
forward passes/s, estimated model FLOPs utilisation (MFU) and peak memory.

FLOPs per pass are ``SoundStorm.flops_per_forward`` (``soundstorm.flops.forward_flops``: 2 x
non-embedding parameters with one head, per frame, plus attention). The peak used for MFU: ``--peak-tflops``; else the datasheet
figure of a known GPU (bf16 dense); else (CPU) a measured fp32 matmul rate on the same threads,
so CPU MFU reads "fraction of what this machine's GEMM reaches".
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from soundstorm.decoding import DecodeOptions
from soundstorm.flops import guess_peak_flops
from soundstorm.inference import GenerationEngine
from soundstorm.model import SoundStorm
from soundstorm.validation import require_int

CODEC_FRAME_RATE = 50.0  # frames per second of audio (SoundStream / EnCodec 24 kHz)


@dataclass
class GenerationMeasurement:
    """Speed of ``generate`` for one (batch, frames) point; times in seconds."""

    batch: int
    frames: int
    passes: int
    warmup_s: float
    times_s: list[float]
    cpu_times_s: list[float]
    median_s: float
    audio_s: float
    real_time_factor: float  # median_s / audio seconds generated (lower is faster)
    times_real_time: float  # audio seconds generated per second
    frames_per_s: float
    passes_per_s: float
    flops: float  # per generate call
    mfu: float
    peak_memory_mib: float
    extra: dict = field(default_factory=dict)


def peak_flops(device: torch.device, threads: int | None = None) -> tuple[float, str]:
    """The FLOP/s that MFU is measured against, and where the figure comes from: the datasheet
    figure of a known GPU (``soundstorm.flops.PEAK_BF16_FLOPS``), else a measured matmul rate."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        datasheet = guess_peak_flops(device)
        if datasheet > 0:
            return datasheet, f"{name} bf16 dense datasheet"
        return measured_matmul_flops(device, torch.bfloat16), f"{name} measured bf16 matmul"
    return measured_matmul_flops(device, torch.float32), "fp32 1024^3 matmul, CPU time"


def measured_matmul_flops(device: torch.device, dtype: torch.dtype, seconds: float = 0.5) -> float:
    """Best observed FLOP/s of a 1024 x 1024 x 1024 matmul over about ``seconds``.

    On CPU the rate is taken against process CPU time per thread, not wall time, so that other
    processes of a shared machine do not lower the peak (wall-time MFU then reads low, not
    above 100%, when the machine is busy).
    """
    a = torch.randn(1024, 1024, device=device, dtype=dtype)
    b = torch.randn(1024, 1024, device=device, dtype=dtype)
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or best == 0.0:
        _synchronize(device)
        start = clock()
        a @ b
        _synchronize(device)
        elapsed = (clock() - start) / threads
        if elapsed > 0:
            best = max(best, 2 * 1024**3 / elapsed)
    return best


def peak_memory_mib(device: torch.device) -> float:
    """Peak CUDA memory allocated since the last reset, or the process' peak RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class CountingEngine(GenerationEngine):
    """A ``GenerationEngine`` that counts forward passes (``forward_passes``)."""

    forward_passes = 0

    def _level_forward(self, codes, cond, lengths, level):
        self.forward_passes += 1
        return super()._level_forward(codes, cond, lengths, level)


def time_generate(
    engine: CountingEngine,
    batch: int,
    frames: int,
    steps: Sequence[int] | int | None = None,
    seed: int = 0,
    *,
    options: DecodeOptions | None = None,
) -> tuple[float, float, int]:
    """One timed ``generate`` on random conditioning: (wall s, process CPU s, passes).

    ``steps`` is an alias of ``options.steps`` (``DecodeOptions``, passed whole to the engine).
    """
    options = DecodeOptions.merge(options, steps=steps)
    generator = torch.Generator(engine.device).manual_seed(seed)
    cond = torch.randint(
        0, engine.config.cond_vocab_size, (batch, frames), device=engine.device, generator=generator
    )
    engine.forward_passes = 0
    _synchronize(engine.device)
    wall, cpu = time.perf_counter(), time.process_time()
    engine.generate(cond, generator=generator, options=options)
    _synchronize(engine.device)
    return time.perf_counter() - wall, time.process_time() - cpu, engine.forward_passes


def measure_generation(
    engine: CountingEngine,
    batch: int,
    frames: int,
    steps: Sequence[int] | int | None = None,
    repeats: int = 3,
    warmup: int = 1,
    peak: float = float("nan"),
    *,
    options: DecodeOptions | None = None,
) -> GenerationMeasurement:
    """Warm up (compilation included), then time ``repeats`` calls and summarise them.

    ``steps`` is an alias of ``options.steps``; the decoding options are passed whole to every
    timed call.

    Raises:
        ValueError: ``batch``, ``frames``, ``repeats`` (>= 1) or ``warmup`` (>= 0) not an
            integer, or bad decoding options.
    """
    options = DecodeOptions.merge(options, steps=steps)
    options.level_steps(engine.config.num_levels)
    batch = require_int("batch", batch, minimum=1)
    frames = require_int("frames", frames, minimum=1)
    repeats = require_int("repeats", repeats, minimum=1)
    warmup = require_int("warmup", warmup, minimum=0)
    start = time.perf_counter()
    for i in range(warmup):
        time_generate(engine, batch, frames, seed=i, options=options)
    warmup_s = time.perf_counter() - start
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(engine.device)
    runs = [
        time_generate(engine, batch, frames, seed=100 + i, options=options) for i in range(repeats)
    ]
    times, cpu_times, passes = [r[0] for r in runs], [r[1] for r in runs], runs[-1][2]
    return summarise(
        engine.model,
        batch,
        frames,
        passes,
        warmup_s,
        times,
        cpu_times,
        peak,
        peak_memory_mib(engine.device),
    )


def summarise(
    model: SoundStorm,
    batch: int,
    frames: int,
    passes: int,
    warmup_s: float,
    times: list[float],
    cpu_times: list[float],
    peak: float,
    memory_mib: float,
) -> GenerationMeasurement:
    """Derive RTF, throughput and MFU from raw timings of one (batch, frames) point."""
    median = statistics.median(times)
    audio_s = batch * frames / CODEC_FRAME_RATE
    flops = passes * batch * model.flops_per_forward(frames)
    return GenerationMeasurement(
        batch=batch,
        frames=frames,
        passes=passes,
        warmup_s=warmup_s,
        times_s=times,
        cpu_times_s=cpu_times,
        median_s=median,
        audio_s=audio_s,
        real_time_factor=median / audio_s,
        times_real_time=audio_s / median,
        frames_per_s=batch * frames / median,
        passes_per_s=passes / median,
        flops=flops,
        mfu=flops / median / peak,
        peak_memory_mib=memory_mib,
    )


def format_table(rows: Sequence[GenerationMeasurement]) -> str:
    """A Markdown table of measurements."""
    header = (
        "| batch | frames | audio s | passes | warm-up s | median s | RTF | x real time "
        "| frames/s | passes/s | MFU | peak MiB |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [header]
    for r in rows:
        lines.append(
            f"| {r.batch} | {r.frames} | {r.audio_s:.1f} | {r.passes} | {r.warmup_s:.2f} "
            f"| {r.median_s:.3f} | {r.real_time_factor:.4f} | {r.times_real_time:.1f} "
            f"| {r.frames_per_s:.0f} | {r.passes_per_s:.1f} | {r.mfu:.1%} | {r.peak_memory_mib:.0f} |"
        )
    return "\n".join(lines)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
