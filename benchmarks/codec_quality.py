"""Quality and speed of the embedded codec per number of RVQ levels, on synthetic speech.

Run (a few minutes on a 2-core CPU; needs Debian ``flite`` and the ``eval`` extra):

    apt-get install -y flite wordnet-base      # wordnet-base only widens the sentence pool
    pip install -e '.[eval]'
    python benchmarks/codec_quality.py                 # the default codec (128 log-mel bands)
    python benchmarks/codec_quality.py --num-mels 0    # the linear log-spectrum variant

It synthesises utterances offline with flite (voices kal16, awb, rms, slt), fits an
``EmbeddedCodec`` on the training utterances, then encodes the held-out utterances (other
sentences) and decodes them with 1, 2, 4, 8 and 12 levels, reporting STOI (pystoi) and
wide-band PESQ (pesq) against the originals, and encode/decode speed in x real time
(audio seconds per second of wall-clock time, and per second of this process's CPU time,
which a busy shared machine inflates less; one CPU thread by default). Prints a markdown
table.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from soundstorm.audio import load_audio
from soundstorm.codecs import EmbeddedCodec
from soundstorm.corpus.text import HARVARD_SENTENCES
from soundstorm.corpus.voices import FLITE_VOICES as VOICES

WORDNET_NOUNS = Path("/usr/share/wordnet/data.noun")
FALLBACK_SENTENCES = HARVARD_SENTENCES


def sentence_pool(count: int, seed: int) -> list[str]:
    """``count`` distinct sentences: WordNet noun glosses when installed, else a fixed list."""
    sentences: list[str] = []
    if WORDNET_NOUNS.is_file():
        for line in WORDNET_NOUNS.read_text(encoding="latin-1").splitlines():
            if line.startswith(" ") or "|" not in line:
                continue
            gloss = line.split("|", 1)[1].split(";")[0].strip()
            gloss = re.sub(r"[^A-Za-z ,'-]", "", gloss)
            if 6 <= len(gloss.split()) <= 18:
                sentences.append(gloss)
    if len(sentences) < count:
        sentences = [f"{a} {b}" for a in FALLBACK_SENTENCES for b in FALLBACK_SENTENCES if a != b]
    random.Random(seed).shuffle(sentences)
    return sentences[:count]


def synthesise(sentences: list[str], folder: Path) -> list[Path]:
    """One wav per sentence with flite, cycling through ``VOICES``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, sentence in enumerate(sentences):
        voice = VOICES[index % len(VOICES)]
        path = folder / f"{index:04d}_{voice}.wav"
        if not path.exists():
            subprocess.run(["flite", "-voice", voice, "-t", sentence, "-o", str(path)], check=True)
        paths.append(path)
    return paths


def measure(codec: EmbeddedCodec, wavs: list[torch.Tensor], levels: list[int]) -> list[dict]:
    """STOI, wide-band PESQ and speed per number of levels on held-out audio ``[S]`` at 16 kHz."""
    from pesq import pesq
    from pystoi import stoi

    seconds = sum(w.shape[-1] for w in wavs) / codec.sample_rate
    start, start_cpu = time.perf_counter(), time.process_time()
    all_codes = [codec.encode(w[None, None], codec.sample_rate) for w in wavs]  # (1, Q, T) each
    encode_time = time.perf_counter() - start
    encode_cpu = time.process_time() - start_cpu
    rows = []
    for level in levels:
        stoi_scores, pesq_scores, decode_time, decode_cpu = [], [], 0.0, 0.0
        for wav, codes in zip(wavs, all_codes):
            start, start_cpu = time.perf_counter(), time.process_time()
            decoded = codec.decode(codes[:, :level])[0, 0, : wav.shape[-1]]
            decode_time += time.perf_counter() - start
            decode_cpu += time.process_time() - start_cpu
            reference, estimate = wav.numpy(), decoded.numpy()
            stoi_scores.append(stoi(reference, estimate, codec.sample_rate, extended=False))
            pesq_scores.append(pesq(codec.sample_rate, reference, estimate, "wb"))
        rows.append(
            {
                "levels": level,
                "kbps": level * np.log2(codec.codebook_size) * codec.frame_rate / 1000,
                "stoi": float(np.mean(stoi_scores)),
                "pesq_wb": float(np.mean(pesq_scores)),
                "encode_xrt": seconds / encode_time,
                "decode_xrt": seconds / decode_time,
                "encode_xrt_cpu": seconds / encode_cpu,
                "decode_xrt_cpu": seconds / decode_cpu,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=None, help="corpus folder (default: temp)")
    parser.add_argument("--train-utterances", type=int, default=480)
    parser.add_argument("--test-utterances", type=int, default=24)
    parser.add_argument("--levels", default="1,2,4,8,12")
    parser.add_argument("--num-levels", type=int, default=12)
    parser.add_argument("--codebook-size", type=int, default=1024)
    parser.add_argument("--max-frames", type=int, default=60000, help="k-means training frames")
    parser.add_argument("--num-mels", type=int, default=None, help="0: linear log spectrum")
    parser.add_argument("--griffin-lim-iters", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--save-codec", type=Path, default=None, help="keep the fitted codec")
    parser.add_argument(
        "--codec", type=Path, default=None, help="evaluate this fitted codec file (no fitting)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if shutil.which("flite") is None:
        parser.error("flite not found: apt-get install -y flite")

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="codec_quality_"))
    sentences = sentence_pool(args.train_utterances + args.test_utterances, seed=0)
    start = time.perf_counter()
    paths = synthesise(sentences, work_dir / "flite")
    print(f"synthesised {len(paths)} utterances in {time.perf_counter() - start:.0f} s")
    train_paths, test_paths = paths[: args.train_utterances], paths[args.train_utterances :]
    overrides = {}
    if args.num_mels is not None:
        overrides["num_mels"] = args.num_mels
    if args.griffin_lim_iters is not None:
        overrides["griffin_lim_iters"] = args.griffin_lim_iters

    if args.codec is not None:
        codec, fit_seconds = EmbeddedCodec.load(args.codec), 0.0
        if "griffin_lim_iters" in overrides:
            codec.config = replace(codec.config, griffin_lim_iters=overrides["griffin_lim_iters"])
    else:
        start = time.perf_counter()
        codec = EmbeddedCodec.fit(
            (load_audio(p, sample_rate=16000)[0][0] for p in train_paths),
            16000,
            num_levels=args.num_levels,
            codebook_size=args.codebook_size,
            max_frames=args.max_frames,
            **overrides,
        )
        fit_seconds = time.perf_counter() - start
    train_seconds = sum(load_audio(p)[0].shape[-1] / 16000 for p in train_paths)
    if args.codec is None:
        print(f"fitted on {train_seconds / 60:.1f} min of audio in {fit_seconds:.0f} s")
    if args.save_codec is not None:
        codec.save(args.save_codec)

    test_wavs = [load_audio(p, sample_rate=16000)[0][0] for p in test_paths]
    test_seconds = sum(w.shape[-1] for w in test_wavs) / 16000
    levels = [int(q) for q in args.levels.split(",") if int(q) <= codec.num_levels]
    rows = measure(codec, test_wavs, levels)
    print(
        f"\nEmbeddedCodec {codec.config}\ntrain {len(train_paths)} utterances "
        f"({train_seconds / 60:.1f} min), held-out {len(test_wavs)} utterances "
        f"({test_seconds:.0f} s), fit {fit_seconds:.0f} s, {args.threads} thread(s)\n"
    )
    print(
        "| levels | kbps | STOI | PESQ (wb) | encode x RT (wall / CPU) | decode x RT (wall / CPU) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['levels']} | {row['kbps']:.1f} | {row['stoi']:.3f} | {row['pesq_wb']:.2f} "
            f"| {row['encode_xrt']:.0f} / {row['encode_xrt_cpu']:.0f} "
            f"| {row['decode_xrt']:.1f} / {row['decode_xrt_cpu']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
