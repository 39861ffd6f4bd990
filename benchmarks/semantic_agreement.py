"""Speaker independence, content and speed of a semantic tokenizer, on synthesised speech.

Run (needs Debian ``flite``; about a minute on 2 CPU cores):

    python benchmarks/semantic_agreement.py                        # PocketSphinx phones-words
    python benchmarks/semantic_agreement.py --tokenizer path/to/kmeans_dir --markdown out.md
    # features + k-means fitted here on other sentences of the corpus voices (held-out
    # voices never heard), one row per vocabulary size; ~10 minutes
    python benchmarks/semantic_agreement.py --fit moonshine --clusters 64,128,256,512 \
        --fit-voices 'flite-*' 'festival-*' piper-joe hibari-heart kokoro-alpha kokoro-kumo

Every sentence of a fixed list is spoken by several flite voices (different speakers,
sexes and accents: kal16, awb, rms, slt). Flite prints the end time of every phone it
synthesises (``-psdur``), which gives:

- ``cross-voice agreement``: the fraction of frames where two voices saying the SAME
  sentence get the same token, after mapping each frame of one voice to the same relative
  position inside the same phone of the other voice (exact alignment, no DTW);
- ``different-sentence baseline``: the same measure for two DIFFERENT sentences (frames
  paired by linear time warping), i.e. what agreement looks like when the content differs;
- ``edit distance``: normalised Levenshtein distance between the run-length-collapsed token
  sequences, same sentence / different voice vs. different sentences;
- ``cross-engine edit distance``: the same sentence spoken by other synthesisers and other
  speakers (eSpeak NG formant voices en-us and en-us+f3; and, where the ``soundstorm corpus``
  voices are installed, festival's ked diphone voice and the neural Piper voice
  en_US-joe-medium) against the flite voices, one row per engine;
- ``context consistency``: each voice's 16 sentences are also tokenized as ONE long clip;
  the fraction of frames whose token equals the token the sentence got on its own (tokens
  should not depend much on what surrounds a sentence);
- ``phone accuracy`` (phone tokenizers only): frames whose token is the phone flite says;
- ``phone purity`` (every tokenizer): a token -> phone map (each token's most frequent flite
  phone) learned on three flite voices, scored on the fourth, averaged over the four choices
  of held-out voice: how much of what is said one token tells, whatever the ids mean;
- ``speed``: tokens per second and real-time factor of ``tokenize`` (decoder start-up excluded).

Speaker-independent, content-bearing tokens have high cross-voice agreement, a large gap to
the baseline and a low same-sentence edit distance. ``--tokenizer mel-kmeans`` measures a
voice-DEPENDENT reference for contrast: k-means (64 clusters, fitted on this very corpus) of
50 Hz log-mel frames, i.e. what purely acoustic tokens score. ``--tokenizer phones-words``
measures the word-recognition variant of PocketSphinx phones.

``--fit KIND`` measures a features + k-means tokenizer of a registered feature extractor
(``moonshine``: the default of ``soundstorm prepare``) the way ``prepare`` makes it: k-means
fitted on OTHER sentences (``--fit-sentences`` train sentences of the ``soundstorm corpus``
sentence list, none of the test sentences) spoken by the corpus voices, except the held-out
ones (the corpus's held-out voices, flite rms and the Kokoro mix ak, and every eSpeak NG
voice; ``--fit-voices`` narrows the set). Figures are then also given for pairs that involve a held-out
voice (``held_out_*``). ``edit distance ratio`` = same-sentence edit distance / different-
sentence edit distance (0: tokens depend on the words only; 1: not at all).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from soundstorm.corpus.text import HARVARD_SENTENCES
from soundstorm.corpus.voices import FLITE_VOICES as VOICES

SENTENCES = HARVARD_SENTENCES
ESPEAK_VOICES = ("en-us", "en-us+f3")
CORPUS_VOICES = ("festival-ked", "piper-joe")  # soundstorm.corpus.voices names
FRAME_RATE_FOR_METRICS = 100.0  # tokens are aligned to 100 Hz before comparing
HELD_OUT = ("rms", "espeak")  # never in the audio a --fit tokenizer is fitted on


def synthesise(text: str, voice: str, directory: Path) -> tuple[np.ndarray, int, list]:
    """Speak ``text`` with a flite voice; return audio, sample rate and (phone, start, end)."""
    path = directory / f"{voice}_{abs(hash(text))}.wav"
    result = subprocess.run(
        ["flite", "-voice", voice, "-psdur", "-t", text, "-o", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    audio, sample_rate = sf.read(path, dtype="float32")
    phones, start = [], 0.0
    for item in result.stdout.split():
        name, end = item.rsplit(":", 1)
        phones.append((name, start, float(end)))
        start = float(end)
    return audio, sample_rate, phones


def synthesise_espeak(text: str, voice: str, directory: Path) -> tuple[np.ndarray, int]:
    """Speak ``text`` with eSpeak NG (22.05 kHz)."""
    path = directory / f"espeak_{voice}_{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    audio, sample_rate = sf.read(path, dtype="float32")
    return audio, sample_rate


def synthesise_corpus_voice(text: str, name: str) -> tuple[np.ndarray, int] | None:
    """Speak ``text`` with a ``soundstorm corpus`` voice, or None if it is not installed."""
    try:
        from soundstorm.corpus.voices import VOICES as CORPUS
        from soundstorm.corpus.voices import missing_requirements, synthesize
    except ImportError:
        return None
    voice = CORPUS.get(name)
    if voice is None or any(missing_requirements(voice)):
        return None
    result = synthesize(voice, text)
    return result.audio, result.sample_rate


def log_mel(wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """``[B, C, S]`` -> 40-bin log-mel frames at 50 Hz ``[B, T, 40]`` (16 kHz analysis)."""
    from soundstorm.semantic.base import mono_resampled

    audio = mono_resampled(wav, sample_rate, 16000)
    window = torch.hann_window(400)
    spec = (
        torch.stft(audio, 512, hop_length=320, win_length=400, window=window, return_complex=True)
        .abs()
        .pow(2)
    )  # (B, 257, T)
    freqs = torch.linspace(0, 8000, 257)
    mel = 2595 * torch.log10(1 + freqs / 700)
    edges = torch.linspace(0, float(mel[-1]), 42)
    fbank = torch.clamp(
        torch.minimum(
            (mel[None] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None]),
            (edges[2:, None] - mel[None]) / (edges[2:, None] - edges[1:-1, None]),
        ),
        min=0,
    )  # (40, 257)
    return torch.log(fbank @ spec + 1e-6).transpose(1, 2)


class MelKMeansReference:
    """Voice-dependent reference tokenizer: k-means over log-mel frames (benchmark only)."""

    frame_rate = 50.0

    def __init__(self, clips: list[tuple[np.ndarray, int]], num_clusters: int = 64) -> None:
        from soundstorm.kmeans import KMeans

        frames = torch.cat([log_mel(torch.from_numpy(a)[None, None], sr)[0] for a, sr in clips])
        self.kmeans = KMeans.fit(frames, num_clusters, seed=0)

    def tokenize(self, wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
        return self.kmeans.predict(log_mel(wav, sample_rate))

    def config_dict(self) -> dict:
        return {"name": "mel-kmeans", "frame_rate": 50.0, "vocab_size": self.kmeans.num_clusters}


def phone_warp(phones_a: list, phones_b: list, times_a: np.ndarray) -> np.ndarray:
    """Map times in utterance A to the same relative place of the same phone in B."""
    starts_a = np.array([p[1] for p in phones_a])
    ends_a = np.array([p[2] for p in phones_a])
    starts_b = np.array([p[1] for p in phones_b])
    ends_b = np.array([p[2] for p in phones_b])
    k = np.clip(np.searchsorted(ends_a, times_a, side="right"), 0, len(phones_a) - 1)
    rel = (times_a - starts_a[k]) / np.maximum(ends_a[k] - starts_a[k], 1e-6)
    return starts_b[k] + np.clip(rel, 0.0, 1.0) * (ends_b[k] - starts_b[k])


def frame_agreement(tokens_a: np.ndarray, tokens_b: np.ndarray, times_b: np.ndarray) -> float:
    """Fraction of frames of A whose token equals B's token at the mapped time."""
    idx = np.clip((times_b * FRAME_RATE_FOR_METRICS).astype(int), 0, len(tokens_b) - 1)
    return float(np.mean(tokens_a == tokens_b[idx]))


def collapse(tokens: np.ndarray) -> list[int]:
    """Run-length collapse: ``a a b b b a`` -> ``a b a``."""
    return [int(t) for i, t in enumerate(tokens) if i == 0 or t != tokens[i - 1]]


def edit_distance(a: list[int], b: list[int]) -> float:
    """Levenshtein distance normalised by the longer length."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1] / max(len(a), len(b), 1)


def context_consistency(tokenizer, utterances: dict) -> float:
    """Agreement of each sentence's tokens alone vs. inside one long clip per voice."""
    hits = total = 0
    for voice in VOICES:
        clips = [u for (_, v), u in sorted(utterances.items()) if v == voice]
        sample_rate = clips[0]["sr"]
        hop = round(sample_rate / tokenizer.frame_rate)  # samples per token frame
        pieces = [np.pad(c["audio"], (0, -len(c["audio"]) % hop)) for c in clips]
        long_clip = torch.from_numpy(np.concatenate(pieces))[None, None]
        in_context = tokenizer.tokenize(long_clip, sample_rate)[0]
        offset = 0
        for piece in pieces:
            alone = tokenizer.tokenize(torch.from_numpy(piece)[None, None], sample_rate)[0]
            inside = in_context[offset : offset + len(alone)]
            n = min(len(alone), len(inside))
            hits += int((alone[:n] == inside[:n]).sum())
            total += n
            offset += len(piece) // hop
    return hits / max(total, 1)


def synthesise_test_set() -> tuple[dict, dict]:
    """The test utterances: ``(flite, other engines)``, each ``(sentence, voice) -> dict``."""
    utterances = {}  # (sentence index, voice) -> dict
    espeak = {}  # (sentence index, voice) -> dict
    with tempfile.TemporaryDirectory() as tmp:
        for (s, text), voice in itertools.product(enumerate(SENTENCES), VOICES):
            audio, sample_rate, phones = synthesise(text, voice, Path(tmp))
            utterances[(s, voice)] = {"audio": audio, "sr": sample_rate, "phones": phones}
        if shutil.which("espeak-ng"):
            for (s, text), voice in itertools.product(enumerate(SENTENCES), ESPEAK_VOICES):
                audio, sample_rate = synthesise_espeak(text, voice, Path(tmp))
                espeak[(s, "espeak-" + voice)] = {"audio": audio, "sr": sample_rate}
    for (s, text), voice in itertools.product(enumerate(SENTENCES), CORPUS_VOICES):
        spoken = synthesise_corpus_voice(text, voice)
        if spoken is not None:
            espeak[(s, voice)] = {"audio": spoken[0], "sr": spoken[1]}
    return utterances, espeak


def phone_purity(utterances: dict) -> dict[str, float]:
    """Leave-one-voice-out phone purity of the tokens (``utt["tokens"]`` at 100 Hz).

    For each flite voice: every token gets the phone it most often covers in the other
    voices' utterances; the score is the fraction of the held-out voice's frames whose
    token maps to the phone flite says there.
    """
    import collections

    labelled = {}
    for (s, voice), utt in utterances.items():
        ends = np.array([p[2] for p in utt["phones"]])
        k = np.clip(np.searchsorted(ends, utt["times"], side="right"), 0, len(ends) - 1)
        labelled[(s, voice)] = (utt["tokens"], [utt["phones"][i][0] for i in k])
    purity = {}
    for held_out in VOICES:
        counts: dict = collections.defaultdict(collections.Counter)
        for (_, voice), (tokens, phones) in labelled.items():
            if voice != held_out:
                for token, phone in zip(tokens, phones):
                    counts[int(token)][phone] += 1
        mapping = {token: c.most_common(1)[0][0] for token, c in counts.items()}
        hits = [
            mapping.get(int(token)) == phone
            for (_, voice), (tokens, phones) in labelled.items()
            if voice == held_out
            for token, phone in zip(tokens, phones)
        ]
        purity[held_out] = float(np.mean(hits))
    return purity


def run(tokenizer_name: str, num_threads: int, options: dict | None = None) -> dict:
    """Synthesise the corpus, tokenize it and compute every metric."""
    from soundstorm.semantic import get_semantic_tokenizer

    torch.set_num_threads(num_threads)
    utterances, espeak = synthesise_test_set()
    if tokenizer_name == "mel-kmeans":
        tokenizer = MelKMeansReference([(u["audio"], u["sr"]) for u in utterances.values()])
    else:
        tokenizer = get_semantic_tokenizer(tokenizer_name, **(options or {}))
    return measure(tokenizer, tokenizer_name, utterances, espeak)


def measure(tokenizer, tokenizer_name: str, utterances: dict, espeak: dict) -> dict:
    """Tokenize the test set with ``tokenizer`` and compute every metric."""
    from soundstorm.semantic import align
    from soundstorm.semantic.phones import PhoneTokenizer, phone_id

    first = next(iter(utterances.values()))
    tokenizer.tokenize(torch.from_numpy(first["audio"])[None, None], first["sr"])  # warm-up
    seconds_audio = seconds_cpu = num_tokens = 0.0
    for utt in itertools.chain(utterances.values(), espeak.values()):
        wav = torch.from_numpy(utt["audio"])[None, None]
        start = time.perf_counter()
        tokens = tokenizer.tokenize(wav, utt["sr"])[0]
        seconds_cpu += time.perf_counter() - start
        seconds_audio += len(utt["audio"]) / utt["sr"]
        num_tokens += tokens.numel()
        n100 = max(1, round(len(tokens) * FRAME_RATE_FOR_METRICS / tokenizer.frame_rate))
        utt["tokens"] = align(tokens, tokenizer.frame_rate, FRAME_RATE_FOR_METRICS, n100).numpy()
        utt["times"] = (np.arange(n100) + 0.5) / FRAME_RATE_FOR_METRICS

    same, same_ed, diff, diff_ed, skipped = [], [], [], [], 0
    held_same, held_same_ed = [], []  # pairs with a held-out voice
    for s in range(len(SENTENCES)):
        for va, vb in itertools.permutations(VOICES, 2):
            a, b = utterances[(s, va)], utterances[(s, vb)]
            if [p[0] for p in a["phones"]] != [p[0] for p in b["phones"]]:
                skipped += 1
                continue
            warped = phone_warp(a["phones"], b["phones"], a["times"])
            same.append(frame_agreement(a["tokens"], b["tokens"], warped))
            same_ed.append(edit_distance(collapse(a["tokens"]), collapse(b["tokens"])))
            if va in HELD_OUT or vb in HELD_OUT:
                held_same.append(same[-1])
                held_same_ed.append(same_ed[-1])
    for (s1, s2), (va, vb) in itertools.product(
        itertools.permutations(range(len(SENTENCES)), 2), itertools.product(VOICES, VOICES)
    ):
        if (s2 - s1) % len(SENTENCES) != 1:  # each sentence against the next one only
            continue
        a, b = utterances[(s1, va)], utterances[(s2, vb)]
        duration_ratio = b["times"][-1] / a["times"][-1]
        diff.append(frame_agreement(a["tokens"], b["tokens"], a["times"] * duration_ratio))
        diff_ed.append(edit_distance(collapse(a["tokens"]), collapse(b["tokens"])))

    cross_engine: dict[str, list[float]] = {}
    for (s, engine), other in espeak.items():
        engine = "espeak" if engine.startswith("espeak") else engine
        cross_engine.setdefault(engine, []).extend(
            edit_distance(collapse(other["tokens"]), collapse(utterances[(s, voice)]["tokens"]))
            for voice in VOICES
        )
    consistency = context_consistency(tokenizer, utterances)
    purity = phone_purity(utterances)
    results = {
        "tokenizer": tokenizer_name,
        "config": tokenizer.config_dict(),
        "num_utterances": len(utterances) + len(espeak),
        "seconds_audio": seconds_audio,  # all engines
        "cross_voice_agreement": float(np.mean(same)),
        "different_sentence_agreement": float(np.mean(diff)),
        "cross_voice_edit_distance": float(np.mean(same_ed)),
        "different_sentence_edit_distance": float(np.mean(diff_ed)),
        "cross_engine_edit_distance": {k: float(np.mean(v)) for k, v in cross_engine.items()},
        "edit_distance_ratio": float(np.mean(same_ed) / np.mean(diff_ed)),
        "held_out_cross_voice_agreement": float(np.mean(held_same)) if held_same else None,
        "held_out_cross_voice_edit_distance": (
            float(np.mean(held_same_ed)) if held_same_ed else None
        ),
        "context_consistency": consistency,
        "phone_purity": float(np.mean(list(purity.values()))),
        "phone_purity_per_held_out_voice": purity,
        "pairs_same": len(same),
        "pairs_skipped_phone_mismatch": skipped,
        "tokens_per_second": num_tokens / seconds_cpu,
        "real_time_factor": seconds_cpu / seconds_audio,
    }
    if isinstance(tokenizer, PhoneTokenizer):
        per_voice = {}
        for voice in VOICES:
            hits = []
            for s in range(len(SENTENCES)):
                utt = utterances[(s, voice)]
                ends = np.array([p[2] for p in utt["phones"]])
                k = np.clip(np.searchsorted(ends, utt["times"], side="right"), 0, len(ends) - 1)
                reference = np.array([phone_id(utt["phones"][i][0]) for i in k])
                hits.append(float(np.mean(reference == utt["tokens"])))
            per_voice[voice] = float(np.mean(hits))
        results["phone_accuracy_per_voice"] = per_voice
    return results


def fit_voices(patterns: list[str] | None = None) -> list[str]:
    """The installed ``soundstorm corpus`` voices a ``--fit`` tokenizer hears: those matching
    ``patterns`` (shell patterns; None: all), never a held-out one (``HELD_OUT`` and the
    corpus's own ``DEFAULT_HELD_OUT``)."""
    import fnmatch

    from soundstorm.corpus.voices import DEFAULT_HELD_OUT, missing_requirements
    from soundstorm.corpus.voices import VOICES as CORPUS

    return [
        name
        for name, voice in CORPUS.items()
        if (patterns is None or any(fnmatch.fnmatch(name, p) for p in patterns))
        and name not in DEFAULT_HELD_OUT
        and voice.engine_voice not in HELD_OUT
        and voice.engine not in HELD_OUT
        and not any(missing_requirements(voice))
    ]


def fit_tokenizers(
    kind: str,
    clusters: list[int],
    num_sentences: int,
    settings: dict | None = None,
    voices: list[str] | None = None,
) -> tuple[list, dict]:
    """Features + k-means tokenizers of extractor ``kind``, one per vocabulary size.

    The features are those of ``num_sentences`` train sentences of the ``soundstorm corpus``
    sentence list (never a test sentence) spoken by every voice of :func:`fit_voices`
    (``voices``: its patterns); one
    k-means per size in ``clusters`` is fitted on them (seed 0, 50 iterations), as
    ``soundstorm prepare`` does on the user's audio.

    Returns:
        ``(tokenizers, info)``: info gives the voices, sentences, seconds of audio and the
        CPU seconds of feature extraction and of each k-means.
    """
    from soundstorm.corpus.text import candidate_sentences, select_sentences
    from soundstorm.corpus.voices import VOICES as CORPUS
    from soundstorm.corpus.voices import synthesize
    from soundstorm.kmeans import KMeans
    from soundstorm.semantic.features_kmeans import FeaturesKMeansTokenizer
    from soundstorm.semantic.registry import feature_extractor_entry

    chosen = [s.text for s in select_sentences(candidate_sentences(), 1000) if s.split == "train"]
    texts = [t for t in chosen if t not in SENTENCES][:num_sentences]
    voices = fit_voices(voices)
    extractor = feature_extractor_entry(kind).build(settings or {})
    holder = FeaturesKMeansTokenizer.from_parts(extractor)
    frames, seconds_audio, seconds_features = [], 0.0, 0.0
    for voice, text in itertools.product(voices, texts):
        spoken = synthesize(CORPUS[voice], text)
        wav = torch.from_numpy(np.asarray(spoken.audio, dtype=np.float32))[None, None]
        start = time.perf_counter()
        frames.append(holder.features(wav, spoken.sample_rate)[0])
        seconds_features += time.perf_counter() - start
        seconds_audio += wav.shape[-1] / spoken.sample_rate
    points = torch.cat(frames)  # (N, D)
    tokenizers, kmeans_seconds = [], {}
    for k in clusters:
        start = time.perf_counter()
        kmeans = KMeans.fit(points, k, seed=0)
        kmeans_seconds[k] = time.perf_counter() - start
        tokenizers.append(FeaturesKMeansTokenizer.from_parts(extractor, kmeans))
    info = {
        "fit_voices": voices,
        "fit_sentences": len(texts),
        "fit_seconds_audio": seconds_audio,
        "fit_frames": int(points.shape[0]),
        "feature_real_time_factor": seconds_features / seconds_audio,
        "kmeans_seconds": kmeans_seconds,
    }
    return tokenizers, info


def hf_speed(kind: str, layer: int, seconds: float, num_threads: int) -> dict:
    """CPU speed of a k-means tokenizer on a full-size, randomly initialised model.

    The weights do not change the cost, so this measures what ``hubert`` (HuBERT base, 95M,
    12 layers of 768) or ``w2v-bert`` (w2v-BERT 2.0, 580M, 24 conformer layers of 1024) costs
    without downloading anything. Agreement figures of random weights mean nothing, so only
    speed is reported.
    """
    import transformers

    from soundstorm.semantic import HubertKMeansTokenizer, W2VBertKMeansTokenizer

    torch.set_num_threads(num_threads)
    generator = torch.Generator().manual_seed(0)
    wav = 0.1 * torch.randn(1, 1, int(seconds * 16000), generator=generator)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "hubert":
            cls, model = (
                HubertKMeansTokenizer,
                transformers.HubertModel(transformers.HubertConfig()),
            )
        else:
            cls = W2VBertKMeansTokenizer
            model = transformers.Wav2Vec2BertModel(transformers.Wav2Vec2BertConfig())
        model.save_pretrained(tmp)
        del model
        tokenizer = cls.fit(tmp, wav[..., :32000], 16000, layer=layer, num_clusters=50)
        tokenizer.tokenize(wav[..., :16000], 16000)  # warm-up
        start = time.perf_counter()
        tokens = tokenizer.tokenize(wav, 16000)
        elapsed = time.perf_counter() - start
    return {
        "tokenizer": f"{kind} (random weights, layer {layer})",
        "seconds_audio": seconds,
        "tokens_per_second": tokens.numel() / elapsed,
        "real_time_factor": elapsed / seconds,
    }


def to_markdown(results: dict, command: str) -> str:
    """A results section for docs/bench/semantic.md."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"### `{results['tokenizer']}` tokenizer",
        "",
        f"- command: `{command}`",
        f"- machine: {os.cpu_count()}-core CPU container, no GPU ({platform.machine()}), "
        f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} during the run "
        "(shared machine: speed figures are pessimistic)",
        f"- date: {datetime.date.today().isoformat()}, commit {commit}",
        f"- corpus: {len(SENTENCES)} Harvard sentences x flite voices {', '.join(VOICES)}"
        f" (+ other engines: {', '.join(results['cross_engine_edit_distance'])})"
        f" ({results['num_utterances']} utterances, {results['seconds_audio']:.0f} s)",
        f"- tokenizer config: `{results['config']}`",
        "",
        "| metric | value |",
        "|---|---|",
        f"| frame agreement, same sentence, different voices "
        f"({results['pairs_same']} pairs) | {results['cross_voice_agreement']:.3f} |",
        f"| frame agreement, different sentences (baseline) "
        f"| {results['different_sentence_agreement']:.3f} |",
        f"| normalised edit distance, same sentence, different voices "
        f"| {results['cross_voice_edit_distance']:.3f} |",
        f"| normalised edit distance, different sentences (baseline) "
        f"| {results['different_sentence_edit_distance']:.3f} |",
        f"| edit distance ratio (same sentence / different sentences) "
        f"| {results['edit_distance_ratio']:.3f} |",
        *(
            f"| normalised edit distance, same sentence, {engine} vs. flite | {value:.3f} |"
            for engine, value in results["cross_engine_edit_distance"].items()
        ),
        f"| context consistency (sentence alone vs. inside a long clip) "
        f"| {results['context_consistency']:.3f} |",
        f"| phone purity (token -> phone map of 3 flite voices, on the 4th; mean) "
        f"| {results['phone_purity']:.3f} |",
        f"| tokens / s (1 process) | {results['tokens_per_second']:.0f} |",
        f"| real-time factor (CPU s per audio s) | {results['real_time_factor']:.3f} |",
    ]
    if results.get("held_out_cross_voice_edit_distance") is not None:
        lines.append(
            "| frame agreement / edit distance, same sentence, pairs with held-out flite rms "
            f"| {results['held_out_cross_voice_agreement']:.3f} / "
            f"{results['held_out_cross_voice_edit_distance']:.3f} |"
        )
    if "fit" in results:
        fit = results["fit"]
        lines.insert(
            7,
            f"- fitted here: k-means on {fit['fit_frames']} frames of {fit['fit_sentences']} "
            f"other sentences x voices {', '.join(fit['fit_voices'])} "
            f"({fit['fit_seconds_audio']:.0f} s; held out: {', '.join(HELD_OUT)}); feature "
            f"extraction {fit['feature_real_time_factor']:.3f} CPU s per audio s, k-means "
            f"{fit['kmeans_seconds'][results['config']['vocab_size']]:.1f} s",
        )
    for voice, accuracy in results.get("phone_accuracy_per_voice", {}).items():
        lines.append(f"| frame phone accuracy vs. flite's phones, voice {voice} | {accuracy:.3f} |")
    if results["pairs_skipped_phone_mismatch"]:
        lines.append(
            f"| pairs skipped (phone sequences differ) | {results['pairs_skipped_phone_mismatch']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", default="phones-words", help="registry name or saved dir")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="tokenizer option (number), e.g. --option language_weight=8",
    )
    parser.add_argument("--markdown", type=Path, help="append a results section to this file")
    parser.add_argument(
        "--hf-speed",
        choices=("hubert", "w2v-bert"),
        help="only time a full-size random-weight HuBERT base / w2v-BERT 2.0 tokenizer",
    )
    parser.add_argument("--layer", type=int, default=6, help="layer for --hf-speed")
    parser.add_argument(
        "--fit", metavar="KIND", help="fit features + k-means of this extractor kind here"
    )
    parser.add_argument(
        "--clusters", default="64", help="comma-separated vocabulary sizes for --fit"
    )
    parser.add_argument(
        "--fit-sentences", type=int, default=30, help="sentences per voice for --fit"
    )
    parser.add_argument(
        "--fit-voices",
        nargs="+",
        metavar="PATTERN",
        help="corpus voices (shell patterns) for --fit (default: every installed one not held "
        "out; the Kokoro voices synthesise slowly)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="audio for --hf-speed")
    args = parser.parse_args()
    if args.hf_speed:
        results = hf_speed(args.hf_speed, args.layer, args.seconds, args.threads)
        print(results)
        return 0
    options = {}
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = float(value)
    if args.fit:
        torch.set_num_threads(args.threads)
        clusters = [int(k) for k in args.clusters.split(",")]
        tokenizers, info = fit_tokenizers(
            args.fit, clusters, args.fit_sentences, voices=args.fit_voices
        )
        utterances, espeak = synthesise_test_set()
        all_results = []
        for tokenizer in tokenizers:
            name = f"{args.fit} k-means {tokenizer.vocab_size}"
            all_results.append({**measure(tokenizer, name, utterances, espeak), "fit": info})
    else:
        all_results = [run(args.tokenizer, args.threads, options)]
    command = "python benchmarks/semantic_agreement.py " + " ".join(sys.argv[1:])
    for results in all_results:
        for key, value in results.items():
            print(f"{key}: {value}")
        if args.markdown:
            with open(args.markdown, "a") as handle:
                handle.write("\n" + to_markdown(results, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
