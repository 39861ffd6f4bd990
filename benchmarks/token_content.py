"""What a prepared token directory offers the model, before any training (issue 15).

Three tables from the shards of ``soundstorm prepare`` (and, for the first, the
``soundstorm corpus`` directory they came from):

1. **Semantic tokens against the corpus's phones.** Every corpus utterance of a voice whose
   phone times are in the CMU set (flite, festival: ``phones/<voice>/<id>.json``) gives the
   ground-truth phone of each frame. Mutual information between the semantic id and that
   phone, and the phone accuracy of a majority map (each id -> its most frequent phone): how
   much of *what is said* the conditioning carries (SoundStorm, Sec. 3: the semantic tokens
   must carry the content).
2. **Lookup baselines for the first RVQ level.** The most frequent training code for each
   key (nothing; the voice; the semantic id; both), scored on the valid and test splits, and
   the conditional entropy ``H(code | key)`` on the training split: what a model that only
   memorised "this voice saying this token" would reach, the floor a trained model's first
   decoding pass (``benchmarks/first_level.py``) should beat.
3. **First-level codes the training split never targets**, per voice of the other splits:
   the share of a voice's frames whose code has fewer than 10 training frames. A voice with a
   large share (one whose audio shaped the codebooks but is in no training example) cannot be
   generated: the model learned never to predict those codes.

Voices are the utterance id's prefix before ``_`` (``soundstorm corpus`` ids). Plug-in
entropy estimates; all counts exact. Run::

    python benchmarks/token_content.py --tokens /work/data/tokens_v2 --corpus /work/data/corpus
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from first_level import voice_of  # the sibling script: one rule for a voice's name

from soundstorm.data import TokenShardDataset
from soundstorm.data.shards import read_manifest
from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_write_text

#: Fewer training frames than this: a code the model barely ever saw as a target.
RARE = 10


def entropy_bits(counts: np.ndarray) -> float:
    """Entropy of the empirical distribution ``counts`` (any shape, flattened), in bits."""
    p = counts[counts > 0].astype(np.float64)
    p /= p.sum()
    return float(-(p * np.log2(p)).sum())


def conditional_entropy_bits(keys: np.ndarray, values: np.ndarray) -> float:
    """``H(values | keys)`` of paired integer arrays, in bits (plug-in)."""
    if keys.size == 0:
        return 0.0
    pairs = np.stack([keys, values], 1)
    _, joint = np.unique(pairs, axis=0, return_counts=True)
    _, marginal = np.unique(keys, return_counts=True)
    return entropy_bits(joint) - entropy_bits(marginal)


def majority_map(keys: np.ndarray, values: np.ndarray) -> dict[int, int]:
    """Each key's most frequent value (ties: the smallest value)."""
    pairs, counts = np.unique(np.stack([keys, values], 1), axis=0, return_counts=True)
    best: dict[int, tuple[int, int]] = {}
    for (key, value), count in zip(pairs.tolist(), counts.tolist()):
        if key not in best or count > best[key][0]:
            best[key] = (count, value)
    return {key: value for key, (_, value) in best.items()}


def map_accuracy(mapping: dict[int, int], keys: np.ndarray, values: np.ndarray) -> float:
    """Share of ``values`` equal to ``mapping[key]`` (an unseen key is a miss)."""
    if keys.size == 0:
        return float("nan")
    guess = np.array([mapping.get(k, -1) for k in keys.tolist()])
    return float((guess == values).mean())


class Split:
    """One split's frames as flat arrays: voice index, semantic id, first-level code."""

    def __init__(self, data: TokenShardDataset, voices: dict[str, int]):
        voice, semantic, code, self.items = [], [], [], []
        for index in range(len(data)):
            item = data[index]
            frames = item["codes"].shape[-1]
            number = voices.setdefault(voice_of(item["id"]), len(voices))
            voice.append(np.full(frames, number))
            semantic.append(np.asarray(item["semantic"], dtype=np.int64))
            code.append(item["codes"][0].astype(np.int64))
            self.items.append((item["id"], semantic[-1]))
        self.voice = np.concatenate(voice) if voice else np.zeros(0, np.int64)
        self.semantic = np.concatenate(semantic) if semantic else np.zeros(0, np.int64)
        self.code = np.concatenate(code) if code else np.zeros(0, np.int64)

    def key(self, name: str, vocab: int) -> np.ndarray:
        """The lookup key of every frame: one of ``KEYS``."""
        if name == "nothing":
            return np.zeros_like(self.code)
        if name == "voice":
            return self.voice
        if name == "semantic id":
            return self.semantic
        if name == "voice + semantic id":
            return self.voice * vocab + self.semantic
        raise ValueError(f"unknown key {name!r}; expected one of {KEYS}")


KEYS = ("nothing", "voice", "semantic id", "voice + semantic id")


def lookup_table(splits: dict[str, Split], vocab: int) -> list[dict]:
    """Table 2: first-level lookup baselines."""
    train, rows = splits["train"], []
    for name in KEYS:
        keys = train.key(name, vocab)
        mapping = majority_map(keys, train.code)
        row = {
            "key": name,
            "keys": len(mapping),
            "H(code | key) bits": conditional_entropy_bits(keys, train.code),
        }
        for split_name, split in splits.items():
            if split_name != "train":
                row[f"accuracy {split_name}"] = map_accuracy(
                    mapping, split.key(name, vocab), split.code
                )
        rows.append(row)
    return rows


def rare_code_table(splits: dict[str, Split], voices: dict[str, int], K: int) -> list[dict]:
    """Table 3: per voice of the non-train splits, frames whose code training rarely targets."""
    counts = np.bincount(splits["train"].code, minlength=K)
    names = {number: name for name, number in voices.items()}
    trained = set(np.unique(splits["train"].voice).tolist())
    rows = []
    for split_name, split in splits.items():
        if split_name == "train":
            continue
        for number in np.unique(split.voice).tolist():
            codes = split.code[split.voice == number]
            rows.append(
                {
                    "split": split_name,
                    "voice": names[number],
                    "in training": number in trained,
                    "frames": int(codes.size),
                    f"share of codes with < {RARE} training frames": float(
                        (counts[codes] < RARE).mean()
                    ),
                }
            )
    return rows


def corpus_phones(corpus: Path) -> dict[str, list[tuple[str, float, float]]]:
    """``{utterance id: [(phone, start_s, end_s), ...]}`` for the CMU-set voices."""
    from soundstorm.semantic.phones import phone_id

    phones = {}
    manifest = corpus / "manifest.jsonl"
    if not manifest.is_file():
        raise SoundStormError(f"{corpus}: no manifest.jsonl (a `soundstorm corpus` directory)")
    with open(manifest) as handle:
        for line in handle:
            row = json.loads(line)
            if not row.get("phones"):
                continue
            record = json.loads((corpus / row["phones"]).read_text())
            if record.get("phone_set") != "cmu":
                continue
            segments = []
            for name, start, end in record["phones"]:
                try:
                    segments.append((phone_id(name), float(start), float(end)))
                except SoundStormError:
                    continue  # a phone outside the 41 ids: its frames are left out
            phones[row["id"]] = segments
    return phones


def phone_table(splits: dict[str, Split], phones: dict, frame_rate: float) -> dict:
    """Table 1: semantic ids against the ground-truth phone of every frame."""
    semantic, truth = [], []
    for split in splits.values():
        for uid, ids in split.items:
            segments = phones.get(uid)
            if not segments:
                continue
            ends = np.array([end for _, _, end in segments])
            names = np.array([phone for phone, _, _ in segments])
            centres = (np.arange(len(ids)) + 0.5) / frame_rate
            index = np.minimum(np.searchsorted(ends, centres), len(segments) - 1)
            semantic.append(ids)
            truth.append(names[index])
    if not semantic:
        return {"frames": 0}
    ids, phone = np.concatenate(semantic), np.concatenate(truth)
    h_phone = entropy_bits(np.bincount(phone))
    h_given = conditional_entropy_bits(ids, phone)
    return {
        "frames": int(ids.size),
        "H(phone) bits": h_phone,
        "H(phone | semantic id) bits": h_given,
        "mutual information bits": h_phone - h_given,
        "phone accuracy of the majority map": map_accuracy(majority_map(ids, phone), ids, phone),
    }


def analyse(tokens: str, corpus: str | None) -> dict:
    voices: dict[str, int] = {}
    splits = {}
    names = sorted({shard.get("split") for shard in read_manifest(Path(tokens))["shards"]})
    for split in sorted(names, key=lambda name: name != "train"):  # train first
        splits[split] = Split(TokenShardDataset(tokens, split=split, verify=False), voices)
    if "train" not in splits:
        raise SoundStormError(f"{tokens}: no train split")
    meta = TokenShardDataset(tokens, split="train", verify=False).meta
    vocab, K = int(meta["semantic_vocab_size"]), int(meta["codebook_size"])
    report = {
        "tokens": str(tokens),
        "semantic": meta["semantic"].get("name"),
        "semantic_vocab_size": vocab,
        "codebook_size": K,
        "first_level_entropy_bits": entropy_bits(np.bincount(splits["train"].code)),
        "lookup": lookup_table(splits, vocab),
        "rare_codes": rare_code_table(splits, voices, K),
    }
    if corpus is not None:
        report["phones"] = phone_table(splits, corpus_phones(Path(corpus)), meta["frame_rate"])
    return report


def print_report(report: dict) -> None:
    print(f"{report['tokens']}: {report['semantic']} ({report['semantic_vocab_size']} ids), "
          f"first level H = {report['first_level_entropy_bits']:.2f} bits of "
          f"log2 {report['codebook_size']}")  # fmt: skip
    if "phones" in report and report["phones"]["frames"]:
        p = report["phones"]
        print(
            f"  phones: {p['frames']} frames, MI(semantic; phone) "
            f"{p['mutual information bits']:.2f} of {p['H(phone) bits']:.2f} bits, majority-map "
            f"phone accuracy {p['phone accuracy of the majority map']:.1%}"
        )
    for row in report["lookup"]:
        scores = "  ".join(f"{k} {v:.1%}" for k, v in row.items() if k.startswith("accuracy"))
        print(
            f"  lookup by {row['key']:20s} {row['keys']:6d} keys  H(code|key) "
            f"{row['H(code | key) bits']:5.2f} bits  {scores}"
        )
    key = f"share of codes with < {RARE} training frames"
    quiet = [r for r in report["rare_codes"] if r["in training"] and r[key] <= 0.01]
    for row in report["rare_codes"]:
        if row in quiet:
            continue
        seen = "seen" if row["in training"] else "held out"
        print(f"  {row['split']:6s} {row['voice']:18s} {seen:8s} rare codes {row[key]:6.1%}")
    if quiet:
        print(f"  ({len(quiet)} split x seen-voice rows with <= 1% rare codes not shown)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", nargs="+", required=True, help="prepared token directories")
    parser.add_argument("--corpus", default=None, help="the `soundstorm corpus` directory")
    parser.add_argument("--out", default=None, help="write the reports as JSON here")
    args = parser.parse_args(argv)
    reports = []
    try:
        for tokens in args.tokens:
            reports.append(analyse(tokens, args.corpus))
            print_report(reports[-1])
    except (SoundStormError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.out:
        atomic_write_text(Path(args.out), json.dumps(reports, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
