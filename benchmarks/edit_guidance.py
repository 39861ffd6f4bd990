"""Speech editing and classifier-free guidance, measured on test items (issue 13).

Run (about 15 minutes on the 2-core CPU with the defaults; needs flite, the ``eval`` extra)::

    OMP_NUM_THREADS=2 python benchmarks/edit_guidance.py --out /tmp/edit_guidance

Test items (``ITEMS``, sentences written for this benchmark, in no corpus split): one sentence
said by voice A (``flite-slt``, ``flite-awb``, ``festival-ked`` in turn, all seen in training
by the shipped model), and one word of it replaced by another word said by voice B
(``flite-rms``, held out of training), cut out of B's reading of the new sentence. Word times
come from the synthesiser's phone times (each word's phones counted by synthesising it alone).

Systems, each judged on the same three figures:

- ``splice``: cut-and-paste of B's word into A's recording (what editing must beat on voice);
- ``reference``: A reading the new sentence (the ideal edit), and ``reference (codec)``: the
  same through the codec's 4 levels (the ceiling of any token edit);
- ``edit``: ``soundstorm.editing`` (``make_edit_request`` with B's word as content, the frames
  before and after known, ``edit_speech``, the whole recording decoded), per model and
  guidance scale.

Figures: Whisper tiny.en WER of the edited span alone (padded with 0.3 s of silence) against
the new word, and of the whole edited sentence against the new sentence; Resemblyzer speaker
similarity of the span (no silence trimming) to the rest of the recording; seam audibility:
positive spectral flux (dB spectrogram, 32 ms window, 10 ms hop, mean over bins of the rise
from the previous frame), its largest value within 20 ms of each span boundary, divided by the
median of the same statistic over every other frame of the recording (1 = a seam is as abrupt
as a typical moment of the recording; the reference's word boundaries give the natural level).

Guidance (scales ``--scales``, default 0, 0.5, 1, 2) on the edits and on prompted generation
(3 s of A's reading of the next item as prompt, B's reading of the new sentence as content:
similarity to the prompt, WER), for the shipped model (trained without prompt dropout, so its
unconditional pass is untrained) and for the shipped model fine-tuned for ``--finetune-minutes``
on ``--finetune-sentences`` WordNet sentences x 3 seen flite voices with
``masking.prompt_dropout=0.2`` and ``masking.known_suffix_fraction=0.3`` (0: skip). Greedy
level 2-4 steps, the model's 8 first-level steps, temperature 1, seeds fixed.

Writes ``--out/results.json`` and ``--out/results.md`` (and the wavs of the first item).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from soundstorm.assets import default_model_dir
from soundstorm.audio import resample_array, save_audio, spectrogram_db
from soundstorm.decoding import DecodeOptions
from soundstorm.editing import edit_speech, make_edit_request
from soundstorm.evaluate.asr import (
    corpus_word_error_rate,
    load_whisper_recognizer,
    normalize_text,
    word_errors,
)
from soundstorm.evaluate.speaker import cosine_similarity, load_speaker_encoder
from soundstorm.pipeline import VoicePipeline
from soundstorm.semantic.text import phone_segments, synthesize_text

RATE = 16000  # evaluation rate
#: (sentence, word replaced, new word)
ITEMS = (
    ("The old man sat by the fire and read a book.", "fire", "window"),
    ("She put the red cup on the table before dinner.", "red", "blue"),
    ("We walked to the station in the morning rain.", "station", "river"),
    ("My brother bought a new car last summer.", "car", "boat"),
    ("Please bring the green box to the kitchen.", "green", "small"),
    ("They watched the game at the house of a friend.", "game", "film"),
)
VOICES_A = ("flite-slt", "flite-awb", "festival-ked")
VOICE_B = "flite-rms"
FINETUNE_VOICES = ("flite-slt", "flite-awb", "flite-kal16")


def words_of(text: str) -> list[str]:
    return [w.strip(".,;:!?").lower() for w in text.split()]


def speak(text: str, voice: str) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """``text`` said by ``voice`` at 16 kHz, and each word's ``(start_s, end_s)``."""
    synthesis = synthesize_text(text, voice)
    audio = resample_array(synthesis.audio, synthesis.sample_rate, RATE)
    phones = [p for p in synthesis.phones if p[0] not in ("pau", "sil", "#")]
    spans, index = [], 0
    for word in words_of(text):
        count = len([p for p in phone_segments(word, voice) if p[0] not in ("pau", "sil", "#")])
        spans.append((phones[index][1], phones[index + count - 1][2]))
        index += count
    if index != len(phones):
        raise RuntimeError(f"{voice}: the words of {text!r} do not account for its phones")
    return audio, spans


def cut(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    return audio[round(start * RATE) : round(end * RATE)]


# ---------------------------------------------------------------- the figures


def positive_flux(audio: np.ndarray) -> np.ndarray:
    """Mean rise in dB of each 10 ms frame over the previous one (``[N]``, first 0)."""
    spec = spectrogram_db(torch.from_numpy(audio), n_fft=512, hop=160).numpy()  # (F, N)
    rise = np.maximum(np.diff(spec, axis=1), 0.0).mean(axis=0)
    return np.concatenate([[0.0], rise])


def seam_ratio(audio: np.ndarray, boundaries: list[float]) -> float:
    """Largest flux within 20 ms of each boundary over the median of the same elsewhere."""
    flux = positive_flux(audio)
    local = np.array([flux[max(0, i - 2) : i + 3].max() for i in range(len(flux))])
    seams = [round(t * 100) for t in boundaries]
    near = np.zeros(len(flux), dtype=bool)
    for s in seams:
        near[max(0, s - 5) : s + 6] = True
    typical = float(np.median(local[~near]))
    return float(np.mean([local[min(s, len(local) - 1)] for s in seams]) / max(typical, 1e-6))


class Judge:
    """Whisper tiny.en and Resemblyzer, shared."""

    def __init__(self) -> None:
        self.asr = load_whisper_recognizer()
        self.speaker = load_speaker_encoder()

    def words(self, audio: np.ndarray, reference: str):
        return word_errors(reference, self.asr.transcribe(audio, RATE))

    def transcript(self, audio: np.ndarray) -> list[str]:
        return normalize_text(self.asr.transcribe(audio, RATE)).split()

    def similarity(self, a: np.ndarray, b: np.ndarray, trim_a: bool = True) -> float:
        ea = self.speaker.embed(a, RATE, trim_silence=trim_a)
        return cosine_similarity(ea, self.speaker.embed(b, RATE))

    def edit_figures(self, audio: np.ndarray, span: tuple[float, float], item) -> dict:
        sentence, old, new = item
        start, end = span
        pad = np.zeros(int(0.3 * RATE), dtype=np.float32)
        rest = np.concatenate([cut(audio, 0, start), audio[round(end * RATE) :]])
        new_sentence = sentence.replace(old, new)
        heard = self.transcript(audio)
        return {
            "span_errors": self.words(np.concatenate([pad, cut(audio, start, end), pad]), new),
            "sentence_errors": word_errors(new_sentence, " ".join(heard)),
            "heard": " ".join(heard),
            "new_word_heard": new in heard,
            "similarity": self.similarity(cut(audio, start, end), rest, trim_a=False),
            "seam": seam_ratio(audio, [start, end]),
        }


def summarise(rows: list[dict]) -> dict:
    """The figures of a system over the items (and each item's transcript and figures)."""
    return {
        "rows": [
            {
                "heard": r["heard"],
                "span_wer": round(r["span_errors"].wer, 3),
                "similarity": round(r["similarity"], 3),
                "seam": round(r["seam"], 2),
            }
            for r in rows
        ],
        "items": len(rows),
        "span_wer": corpus_word_error_rate([r["span_errors"] for r in rows]),
        "sentence_wer": corpus_word_error_rate([r["sentence_errors"] for r in rows]),
        "new_word_heard": float(np.mean([r["new_word_heard"] for r in rows])),
        "similarity": float(np.mean([r["similarity"] for r in rows])),
        "seam": float(np.median([r["seam"] for r in rows])),
    }


# ---------------------------------------------------------------- fine-tuning


def finetune(pipeline: VoicePipeline, minutes: float, sentences: int, seed: int) -> dict:
    """Fine-tune a copy of the pipeline's model with prompt dropout and known suffixes."""
    from soundstorm.corpus.text import read_wordnet_examples
    from soundstorm.data.encoding import encode_waveform
    from soundstorm.train.data import CroppedTokenDataset, collate_token_batch
    from soundstorm.train.objective import MaskedTokenObjective

    rng = np.random.default_rng(seed)
    pool = [s for s in read_wordnet_examples() if 6 <= len(s.split()) <= 14]
    texts = [pool[i] for i in rng.choice(len(pool), sentences, replace=False)]
    started = time.perf_counter()
    items = []
    for i, text in enumerate(texts):
        for voice in FINETUNE_VOICES:
            synthesis = synthesize_text(text, voice)
            wav = torch.from_numpy(synthesis.audio)[None]
            codes, semantic = encode_waveform(
                pipeline.codec, pipeline.tokenizer, wav, synthesis.sample_rate
            )
            items.append({"id": f"{i}-{voice}", "codes": codes, "semantic": semantic})
    prepare_s = time.perf_counter() - started
    cfg = pipeline.engine.config
    dataset = CroppedTokenDataset(
        items, cfg.num_levels, cfg.codebook_size, cfg.cond_vocab_size, 300, seed,
        known_suffix_fraction=0.3, prompt_dropout=0.2,
    )  # fmt: skip
    model = copy.deepcopy(pipeline.engine.model).float().train()
    objective = MaskedTokenObjective(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0.01)
    losses, steps, epoch = [], 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < minutes * 60:
        order = np.random.default_rng([seed, epoch]).permutation(len(items))
        for first in range(0, len(order) - 7, 8):
            batch = collate_token_batch(
                [dataset[(epoch, int(i))] for i in order[first : first + 8]]
            )
            loss_sum, _, scored = objective(
                batch.codes, batch.cond, batch.lengths, batch.masked, batch.level
            )
            loss = loss_sum / scored.sum()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(float(loss))
            steps += 1
            if time.perf_counter() - started >= minutes * 60:
                break
        epoch += 1
    tuned = copy.copy(pipeline)
    tuned.engine = copy.copy(pipeline.engine)
    tuned.engine.model = model.eval()
    tuned.engine._hidden_states = model.hidden_states
    info = {
        "utterances": len(items),
        "prepare_s": round(prepare_s, 1),
        "train_s": round(time.perf_counter() - started, 1),
        "steps": steps,
        "batch": 8,
        "loss_first_10": round(float(np.mean(losses[:10])), 3),
        "loss_last_10": round(float(np.mean(losses[-10:])), 3),
    }
    return {"pipeline": tuned, "info": info}


# ---------------------------------------------------------------- the run


def build_items() -> list[dict]:
    built = []
    for n, item in enumerate(ITEMS):
        sentence, old, new = item
        voice = VOICES_A[n % len(VOICES_A)]
        new_sentence = sentence.replace(old, new)
        at = words_of(sentence).index(old)
        recording, spans = speak(sentence, voice)
        by_b, spans_b = speak(new_sentence, VOICE_B)
        reference, spans_ref = speak(new_sentence, voice)
        word = cut(by_b, *spans_b[at])
        start, end = spans[at]
        splice = np.concatenate([cut(recording, 0, start), word, recording[round(end * RATE) :]])
        built.append(
            {
                "item": item,
                "voice": voice,
                "recording": recording,
                "span": (start, end),
                "word": word,
                "splice": splice,
                "splice_span": (start, start + len(word) / RATE),
                "reference": reference,
                "reference_span": spans_ref[at],
                "content": by_b,
            }
        )
    return built


def run_edits(pipeline, items, scale, seed) -> tuple[list[np.ndarray], list[tuple]]:
    outputs, spans = [], []
    options = DecodeOptions(guidance_scale=scale)
    rate = pipeline.codec.frame_rate
    for n, it in enumerate(items):
        request = make_edit_request(
            pipeline,
            torch.from_numpy(it["recording"])[None],
            RATE,
            *it["span"],
            content=torch.from_numpy(it["word"])[None],
            content_rate=RATE,
        )
        generator = torch.Generator().manual_seed(seed + n)
        codes = edit_speech(pipeline, [request], options=options, generator=generator)[0]
        wav = pipeline.decode(codes)[0].numpy()
        outputs.append(resample_array(wav, pipeline.codec.sample_rate, RATE))
        spans.append((request.span[0] / rate, request.span[1] / rate))
    return outputs, spans


def run_prompted(pipeline, items, scale, seed, judge) -> dict:
    """Prompted generation: content = B's new sentence, prompt = 3 s of A's next item."""
    options = DecodeOptions(guidance_scale=scale)
    errors, similarity = [], []
    for n, it in enumerate(items):
        voice_item = next(o for o in items[n + 1 :] + items[:n] if o["voice"] == it["voice"])
        prompt = voice_item["recording"][: 3 * RATE]
        request = pipeline.make_request(
            torch.from_numpy(it["content"])[None], RATE, torch.from_numpy(prompt)[None], RATE
        )
        generator = torch.Generator().manual_seed(seed + n)
        codes = pipeline.generate([request], options=options, generator=generator)[0]
        wav = resample_array(pipeline.decode(codes)[0].numpy(), pipeline.codec.sample_rate, RATE)
        sentence, old, new = it["item"]
        errors.append(judge.words(wav, sentence.replace(old, new)))
        similarity.append(judge.similarity(wav, prompt))
    return {
        "wer": corpus_word_error_rate(errors),
        "similarity_to_prompt": float(np.mean(similarity)),
    }


def guidance_cost(pipeline, scales, seconds: float = 10.0, repeats: int = 3) -> dict:
    """Seconds of the shipped model's token generation for ``seconds`` of audio after a 3 s
    prompt (batch 1, its 8 first-level passes), per guidance scale: median wall and process
    CPU time of ``repeats`` after one warm-up call (CPU time is the steadier figure on a
    shared machine), and the network calls counted."""
    engine = pipeline.engine
    cfg = engine.config
    rate = pipeline.codec.frame_rate
    frames, prompt_frames = round((seconds + 3) * rate), round(3 * rate)
    generator = torch.Generator().manual_seed(0)
    cond = torch.randint(0, pipeline.tokenizer.vocab_size, (1, frames), generator=generator)
    prompt = torch.randint(0, cfg.codebook_size, (1, cfg.num_levels, prompt_frames))
    calls = []  # rows of each network call

    def counted(codes, cond_, lengths):
        calls.append(codes.shape[0])
        return engine.model.hidden_states(codes, cond_, lengths)

    engine._hidden_states = counted
    timings = {}
    for scale in scales:
        options = pipeline.recommended_options(DecodeOptions(guidance_scale=scale))
        times, cpu_times = [], []
        for _ in range(repeats + 1):
            calls.clear()
            start, cpu = time.perf_counter(), time.process_time()
            engine.generate(cond, prompt=prompt, options=options)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu)
        timings[f"{scale:g}"] = {
            "median_s": round(float(np.median(times[1:])), 3),
            "median_cpu_s": round(float(np.median(cpu_times[1:])), 3),
            "network_calls": len(calls),
            "rows_per_call": calls[0] if calls else None,
        }
    engine._hidden_states = engine.model.hidden_states
    return {"audio_s": seconds, "prompt_s": 3.0, "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--finetune-minutes", type=float, default=5.0)
    parser.add_argument("--finetune-sentences", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cost-only", action="store_true", help="only time tokens with and without guidance"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    shipped = VoicePipeline.from_directory(default_model_dir(), device="cpu")
    if args.cost_only:
        cost = guidance_cost(shipped, args.scales)
        (args.out / "cost.json").write_text(json.dumps(cost, indent=1))
        print(json.dumps(cost, indent=1))
        return
    judge = Judge()
    items = build_items()
    results: dict = {
        "command": "OMP_NUM_THREADS=2 python benchmarks/edit_guidance.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "scales"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip(),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} threads",
        "items": [list(it["item"]) + [it["voice"]] for it in items],
        "baselines": {},
        "edits": {},
        "prompted": {},
    }
    for name, key, span in (
        ("splice", "splice", "splice_span"),
        ("reference", "reference", "reference_span"),
    ):
        rows = [judge.edit_figures(it[key], it[span], it["item"]) for it in items]
        results["baselines"][name] = summarise(rows)
    codec = shipped.codec
    resynth = []
    for it in items:
        with torch.inference_mode():
            codes = codec.encode(torch.from_numpy(it["reference"])[None, None], RATE)
            wav = codec.decode(codes[:, : shipped.engine.config.num_levels])[0, 0].numpy()
        resynth.append(
            judge.edit_figures(
                resample_array(wav, codec.sample_rate, RATE), it["reference_span"], it["item"]
            )
        )
    results["baselines"]["reference (codec)"] = summarise(resynth)
    models = {"shipped": shipped}
    if args.finetune_minutes > 0:
        tuned = finetune(shipped, args.finetune_minutes, args.finetune_sentences, args.seed)
        models["fine-tuned (dropout)"] = tuned["pipeline"]
        results["finetune"] = tuned["info"]
    for name, pipeline in models.items():
        for scale in args.scales:
            key = f"{name}, scale {scale:g}"
            outputs, spans = run_edits(pipeline, items, scale, args.seed)
            rows = [judge.edit_figures(o, s, it["item"]) for o, s, it in zip(outputs, spans, items)]
            results["edits"][key] = summarise(rows)
            results["prompted"][key] = run_prompted(pipeline, items, scale, args.seed, judge)
            save_audio(
                args.out / f"edit_{name.split()[0]}_{scale:g}.wav", torch.tensor(outputs[0]), RATE
            )
            brief = {k: v for k, v in results["edits"][key].items() if k != "rows"}
            print(key, brief, results["prompted"][key], flush=True)
    save_audio(args.out / "splice.wav", torch.from_numpy(items[0]["splice"]), RATE)
    save_audio(args.out / "recording.wav", torch.from_numpy(items[0]["recording"]), RATE)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (args.out / "results.md").write_text(markdown(results))
    print(markdown(results))


def markdown(results: dict) -> str:
    lines = [
        "| system | span WER | sentence WER | new word heard | span-to-rest similarity | "
        "seam flux ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for group in ("baselines", "edits"):
        for name, s in results[group].items():
            lines.append(
                f"| {name} | {100 * s['span_wer']:.0f}% | {100 * s['sentence_wer']:.0f}% | "
                f"{s['new_word_heard']:.0%} | {s['similarity']:.3f} | {s['seam']:.2f} |"
            )
    lines += ["", "| prompted generation | WER | similarity to prompt |", "|---|---:|---:|"]
    for name, s in results["prompted"].items():
        lines.append(f"| {name} | {100 * s['wer']:.0f}% | {s['similarity_to_prompt']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
