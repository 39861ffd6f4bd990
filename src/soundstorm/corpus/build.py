"""Plan and build the corpus: which voice speaks which sentence, synthesis, manifest.

Layout of ``OUT_DIR``::

    audio/VOICE/SENTENCE_ID.wav      16 kHz mono PCM16, peak at -1 dBFS
    phones/VOICE/SENTENCE_ID.json    {"phones": [[phone, start_s, end_s], ...], ...} as the
                                     synthesiser reported them (null and a note when it cannot)
    manifest.jsonl                   one line per utterance, all splits
    train.jsonl valid.jsonl test.jsonl   the same lines, one file per split
    summary.json                     counts and hours per split and voice, the options used

Assignment: every valid and test sentence is spoken by every voice (held-out voices
included); each train sentence by ``voices_per_sentence`` training voices, taken round-robin
from a seeded order of the training voices, so voices get equal shares. Held-out voices speak
no train sentence. A voice's *share* (``Voice.share``, ``voice_shares``; 1 by default, small
for the slow Kokoro voices) scales what it speaks: its train turns come ``share`` times as
often (smooth weighted round-robin, which is the plain round-robin when all shares are 1),
and it speaks the first ``ceil(share * n)`` of the ``n`` sentences of each valid / test split
in a seeded order common to all voices (so a reduced voice's eval sentences are spoken by
every full voice too). An utterance is done when its phones file exists (written after the
audio, both through a temporary file and a rename): a second run skips it.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
from tqdm import tqdm

from soundstorm.audio import resample_array, save_audio
from soundstorm.corpus.text import (
    SPLITS,
    WORDNET_DIR,
    Sentence,
    candidate_sentences,
    select_sentences,
)
from soundstorm.corpus.voices import (
    PHONE_SETS,
    VOICES,
    Voice,
    apt_install,
    default_held_out,
    ensure_voices_available,
    resolve_voices,
    synthesize,
    voice_shares,
)
from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_write_text, remove_stale_temp_files

PEAK_LEVEL = 10 ** (-1 / 20)  # -1 dBFS


@dataclass(frozen=True)
class Utterance:
    """One planned utterance: a sentence spoken by a voice.

    Attributes:
        utterance_id: ``VOICE_SENTENCEID``.
        voice: Voice name (a key of ``VOICES``).
        sentence_id: Id of the sentence.
        text: The sentence.
        split: ``"train"``, ``"valid"`` or ``"test"``.
        audio_path: Wav path relative to the corpus directory.
        phones_path: Phones JSON path relative to the corpus directory.
    """

    utterance_id: str
    voice: str
    sentence_id: str
    text: str
    split: str
    audio_path: str
    phones_path: str


def check_held_out(voices: list[Voice], held_out: list[Voice]) -> None:
    """Check that held-out voices are usable and that their speakers never reach training.

    Raises:
        SoundStormError: When a held-out voice is not among ``voices``, is train-only, shares
            its speaker with a training voice, or no training voice is left.
    """
    names = {voice.name for voice in voices}
    held_names = {voice.name for voice in held_out}
    for voice in held_out:
        if voice.name not in names:
            raise SoundStormError(
                f"held-out voice {voice.name} is not among --voices: add it or set "
                "--held-out-voices"
            )
        if voice.train_only:
            raise SoundStormError(f"voice {voice.name} is a training-only voice; hold out another")
        for other in voices:
            if other.name not in held_names and other.speaker == voice.speaker:
                raise SoundStormError(
                    f"held-out voice {voice.name} has the speaker of training voice "
                    f"{other.name}: hold out both or drop one from --voices"
                )
    if not names - held_names:
        raise SoundStormError("every voice is held out: no training voice is left")


def _voice_order(names: list[str], seed: int) -> list[str]:
    key = lambda name: hashlib.sha256(f"{seed}:voice:{name}".encode()).hexdigest()  # noqa: E731
    return sorted(sorted(names), key=key)


def _weighted_turns(names: list[str], shares: dict[str, float], per_sentence: int):
    """Yield ``per_sentence`` distinct voices per train sentence, each voice as often as its share.

    Smooth weighted round-robin: before each pick every voice gains its share, the voice with
    the most credit (the earliest in ``names`` on ties) is picked and pays the total. With equal
    shares this is the plain cycle through ``names``.
    """
    credit = dict.fromkeys(names, 0.0)
    total = sum(shares[name] for name in names)
    while True:
        chosen: list[str] = []
        for _ in range(per_sentence):
            for name in names:
                credit[name] += shares[name]
            best = max((name for name in names if name not in chosen), key=credit.__getitem__)
            credit[best] -= total
            chosen.append(best)
        yield chosen


def _eval_counts(sentences: list[Sentence], shares: dict[str, float], seed: int) -> tuple:
    """``(rank of each eval sentence in its split, {voice: sentences it speaks per split})``."""
    rank: dict[str, int] = {}
    counts: dict[str, dict[str, int]] = {}
    for split in SPLITS[1:]:
        ids = sorted(s.sentence_id for s in sentences if s.split == split)
        key = lambda i: hashlib.sha256(f"{seed}:eval:{i}".encode()).hexdigest()  # noqa: E731
        rank.update((i, r) for r, i in enumerate(sorted(ids, key=key)))
        counts[split] = {
            name: max(1, math.ceil(share * len(ids) - 1e-9)) for name, share in shares.items()
        }
    return rank, counts


def plan_utterances(
    sentences: list[Sentence],
    voices: list[Voice],
    held_out: list[Voice],
    voices_per_sentence: int = 3,
    seed: int = 0,
    shares: dict[str, float] | None = None,
) -> list[Utterance]:
    """Assign voices to sentences (see the module docstring).

    Args:
        sentences: The corpus sentences with their splits.
        voices: All corpus voices, held-out ones included.
        held_out: Voices kept out of the train split.
        voices_per_sentence: Training voices per train sentence (capped at their number).
        seed: Changes the order in which training voices take turns.
        shares: Voice name -> share in (0, 1] (:func:`~soundstorm.corpus.voices.voice_shares`);
            a voice not named, or ``None``, has share 1.

    Returns:
        Utterances sorted by split (train, valid, test), then sentence id, then voice.
    """
    if voices_per_sentence < 1:
        raise SoundStormError("--voices-per-sentence must be at least 1")
    check_held_out(voices, held_out)
    share = {voice.name: (shares or {}).get(voice.name, 1.0) for voice in voices}
    held_names = {voice.name for voice in held_out}
    train_voices = _voice_order([v.name for v in voices if v.name not in held_names], seed)
    all_voices = sorted(voice.name for voice in voices)
    per_sentence = min(voices_per_sentence, len(train_voices))
    turns = _weighted_turns(train_voices, share, per_sentence)
    rank, counts = _eval_counts(sentences, share, seed)
    utterances: list[Utterance] = []
    for sentence in sentences:
        if sentence.split == "train":
            chosen = next(turns)
        else:
            count = counts[sentence.split]
            chosen = [v for v in all_voices if rank[sentence.sentence_id] < count[v]]
        for voice in chosen:
            utterances.append(
                Utterance(
                    utterance_id=f"{voice}_{sentence.sentence_id}",
                    voice=voice,
                    sentence_id=sentence.sentence_id,
                    text=sentence.text,
                    split=sentence.split,
                    audio_path=f"audio/{voice}/{sentence.sentence_id}.wav",
                    phones_path=f"phones/{voice}/{sentence.sentence_id}.json",
                )
            )
    order = {split: i for i, split in enumerate(SPLITS)}
    return sorted(utterances, key=lambda u: (order[u.split], u.sentence_id, u.voice))


def is_done(out_dir: Path, utterance: Utterance) -> bool:
    """True when both files of the utterance exist (the phones file is written last)."""
    return (out_dir / utterance.phones_path).is_file() and (
        out_dir / utterance.audio_path
    ).is_file()


def make_utterance(out_dir: Path, utterance: Utterance, sample_rate: int) -> None:
    """Synthesise one utterance, resample it to ``sample_rate`` and write its two files.

    Raises:
        RuntimeError: When the synthesiser fails or returns silence.
    """
    voice = VOICES[utterance.voice]
    result = synthesize(voice, utterance.text)
    audio = result.audio.astype(np.float64)
    if result.sample_rate != sample_rate:
        audio = resample_array(audio, result.sample_rate, sample_rate)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < 1e-4:
        raise RuntimeError(f"{utterance.utterance_id}: the synthesiser returned silence")
    audio = (audio * (PEAK_LEVEL / peak)).astype(np.float32)
    duration = audio.shape[0] / sample_rate
    phones = None
    if result.phones is not None:  # clip to the audio: some engines pad the final pause
        phones = [
            [p, round(min(s, duration), 4), round(min(e, duration), 4)]
            for p, s, e in result.phones
            if s < duration
        ]
    record = {
        "id": utterance.utterance_id,
        "voice": voice.name,
        "engine": voice.engine,
        "text": utterance.text,
        "duration": round(duration, 4),
        "phone_set": PHONE_SETS[voice.engine],
        "phones": phones,
        "note": result.phones_note,
    }
    save_audio(out_dir / utterance.audio_path, torch.from_numpy(audio)[None], sample_rate, "PCM_16")
    atomic_write_text(
        out_dir / utterance.phones_path, json.dumps(record, ensure_ascii=False) + "\n"
    )


def remove_stale_temporaries(out_dir: Path) -> int:
    """Delete the temporary files of the utterances' writers that died (killed runs)."""
    return remove_stale_temp_files(out_dir, "*/*/.*.tmp")


def _make_or_report(out_dir: Path, utterance: Utterance, sample_rate: int) -> str | None:
    try:
        make_utterance(out_dir, utterance, sample_rate)
    except Exception as error:  # reported per utterance, the others go on
        return f"{utterance.utterance_id}: {type(error).__name__}: {error}"
    return None


def synthesize_all(
    out_dir: Path,
    utterances: list[Utterance],
    sample_rate: int,
    workers: int = 1,
    progress: bool = True,
) -> int:
    """Make every utterance not yet done, in ``workers`` processes, with a progress bar.

    Returns:
        How many utterances were made (skipped ones not counted).

    Raises:
        SoundStormError: When some failed (the rest are kept; a rerun retries the failed).
    """
    remove_stale_temporaries(out_dir)
    todo = [u for u in utterances if not is_done(out_dir, u)]
    # Interleave voices so that every worker loads each engine early and shares the load.
    todo.sort(key=lambda u: (u.sentence_id, u.voice))
    errors: list[str] = []
    bar = tqdm(total=len(todo), desc="corpus", unit="utt", disable=not progress)
    if workers <= 1:
        for utterance in todo:
            error = _make_or_report(out_dir, utterance, sample_rate)
            if error:
                errors.append(error)
            bar.update()
    else:
        # spawn: workers start clean (no inherited threads, onnxruntime or espeak state)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_make_or_report, out_dir, u, sample_rate) for u in todo]
            for future in as_completed(futures):
                error = future.result()
                if error:
                    errors.append(error)
                bar.update()
    bar.close()
    if errors:
        raise SoundStormError(
            f"{len(errors)} of {len(todo)} utterances failed (rerun to retry); first: "
            f"{sorted(errors)[0]}"
        )
    return len(todo)


def manifest_record(out_dir: Path, utterance: Utterance, sample_rate: int) -> dict:
    """The manifest line of a finished utterance (duration read from its wav file)."""
    info = soundfile.info(str(out_dir / utterance.audio_path))
    if info.samplerate != sample_rate or info.channels != 1:
        raise SoundStormError(
            f"{utterance.audio_path} is {info.samplerate} Hz x {info.channels} channels, not "
            f"{sample_rate} Hz mono: use another OUT_DIR or delete it"
        )
    voice = VOICES[utterance.voice]
    return {
        "id": utterance.utterance_id,
        "path": utterance.audio_path,
        "voice": voice.name,
        "speaker": voice.speaker,
        "engine": voice.engine,
        "text": utterance.text,
        "sentence_id": utterance.sentence_id,
        "split": utterance.split,
        "duration": round(info.frames / info.samplerate, 4),
        "num_samples": info.frames,
        "sample_rate": info.samplerate,
        "phones": utterance.phones_path,
    }


def _write_jsonl(path: Path, records: list[dict]) -> None:
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    atomic_write_text(path, lines)


def write_manifest(
    out_dir: Path, utterances: list[Utterance], sample_rate: int, options: dict
) -> dict:
    """Write ``manifest.jsonl``, one JSONL per split and ``summary.json``; return the summary."""
    records = [manifest_record(out_dir, u, sample_rate) for u in utterances]
    _write_jsonl(out_dir / "manifest.jsonl", records)
    for split in SPLITS:
        _write_jsonl(out_dir / f"{split}.jsonl", [r for r in records if r["split"] == split])
    held_out = set(options.get("held_out_voices", []))
    summary: dict = {
        "sample_rate": sample_rate,
        "num_utterances": len(records),
        "hours": round(sum(r["duration"] for r in records) / 3600, 3),
        "held_out_voices": sorted(held_out),
        "train_voices": sorted({r["voice"] for r in records if r["split"] == "train"}),
        "splits": {},
        "voices": {},
        "options": options,
    }
    for split in SPLITS:
        rows = [r for r in records if r["split"] == split]
        summary["splits"][split] = {
            "sentences": len({r["sentence_id"] for r in rows}),
            "utterances": len(rows),
            "hours": round(sum(r["duration"] for r in rows) / 3600, 3),
        }
    for name in sorted({r["voice"] for r in records}):
        rows = [r for r in records if r["voice"] == name]
        summary["voices"][name] = {
            **{
                k: v
                for k, v in asdict(VOICES[name]).items()
                if k in ("engine", "speaker", "licence")
            },
            "natural": VOICES[name].natural,
            "utterances": len(rows),
            "hours": round(sum(r["duration"] for r in rows) / 3600, 3),
            "mean_duration": round(sum(r["duration"] for r in rows) / len(rows), 3),
            "held_out": name in held_out,
        }
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=1))
    return summary


def build_corpus(
    out_dir: str | Path,
    num_sentences: int = 1000,
    voices: list[str] | None = None,
    held_out_voices: list[str] | None = None,
    voices_per_sentence: int = 3,
    voice_share_overrides: dict[str, float] | None = None,
    sample_rate: int = 16000,
    seed: int = 0,
    workers: int = 1,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
    min_words: int = 5,
    max_words: int = 20,
    wordnet_dir: str | Path = WORDNET_DIR,
    install: bool = True,
    progress: bool = True,
) -> dict:
    """Build (or finish) a corpus in ``out_dir``; see the module docstring for the layout.

    Args:
        out_dir: Corpus directory (created when missing; finished utterances are kept).
        num_sentences: Sentences over all splits.
        voices: Voice names or patterns (default: all of ``VOICES``).
        held_out_voices: Voices kept out of training (default: those of ``DEFAULT_HELD_OUT``
            among ``voices``; all of them when none is).
        voices_per_sentence: Training voices per train sentence.
        voice_share_overrides: Voice name or pattern -> share in (0, 1], over the table's
            ``Voice.share`` (e.g. ``{"kokoro-*": 0.5}``).
        sample_rate: Rate of every written wav.
        seed: Changes the sentences, their splits and the voice turns.
        workers: Synthesis processes.
        valid_fraction: Share of sentences in ``valid``.
        test_fraction: Share of sentences in ``test``.
        min_words: Shortest sentence kept, in words.
        max_words: Longest sentence kept, in words.
        wordnet_dir: Folder of the WordNet ``data.*`` files.
        install: Install missing Debian packages with apt-get when root.
        progress: Show a tqdm progress bar.

    Returns:
        The summary also written to ``summary.json``.

    Raises:
        SoundStormError: For unknown voices, bad options, missing synthesisers or failures.
    """
    if sample_rate < 8000:
        raise SoundStormError(f"--sample-rate must be at least 8000 (got {sample_rate})")
    voice_list = resolve_voices(list(VOICES) if voices is None else list(voices))
    if len({v.name for v in voice_list}) != len(voice_list):
        raise SoundStormError("--voices lists a voice twice")
    if held_out_voices is None:
        held_out_voices = default_held_out([voice.name for voice in voice_list])
    held = resolve_voices(list(held_out_voices))
    check_held_out(voice_list, held)
    if not Path(wordnet_dir).is_dir() and install:
        if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
            apt_install(["wordnet-base"])
    sentences = select_sentences(
        candidate_sentences(Path(wordnet_dir), min_words, max_words),
        num_sentences,
        seed=seed,
        valid_fraction=valid_fraction,
        test_fraction=test_fraction,
    )
    shares = voice_shares(voice_list, voice_share_overrides)
    ensure_voices_available(voice_list, install=install)
    utterances = plan_utterances(sentences, voice_list, held, voices_per_sentence, seed, shares)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    synthesize_all(out, utterances, sample_rate, workers=workers, progress=progress)
    options = {
        "num_sentences": num_sentences,
        "voices": [v.name for v in voice_list],
        "held_out_voices": [v.name for v in held],
        "voices_per_sentence": voices_per_sentence,
        "voice_shares": {name: share for name, share in shares.items() if share != 1.0},
        "seed": seed,
        "valid_fraction": valid_fraction,
        "test_fraction": test_fraction,
        "min_words": min_words,
        "max_words": max_words,
    }
    return write_manifest(out, utterances, sample_rate, options)
