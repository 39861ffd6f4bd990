"""How well a model predicts the first RVQ level from the semantic tokens: the first decoding
pass, measured on every utterance of a split (issue 15's learning-speed probe).

The training loss and its per-level accuracy are noisy (random masks, random levels, a few
validation batches) and mix every level. What decides intelligibility is the first level
(``docs/default_model.md``, the oracle table), and the hardest moment for it is the first
decoding pass (SoundStorm, Sec. 3.3): a prompt of real codes, then every code masked, so the
model sees only the semantic tokens and the prompt. This script puts each utterance of a
prepared split in exactly that state, deterministically (no random masks): the prompt is the
first ``--prompt-seconds`` of the next utterance of the same voice (codes and semantic
tokens), as the voice prompt of ``soundstorm generate``; it scores the first-level head on the
utterance's frames:

- ``accuracy``: argmax equals the ground-truth code;
- ``top5``: the ground-truth code among the 5 most likely;
- ``nll``: mean cross-entropy in nats (``log(K)`` is chance: 6.93 for K = 1024);
- ``code_distance``: mean distance between the expected and the true code vector, relative
  to the mean distance between two random codes (1.0 is chance), when ``--codec`` gives the
  code vectors; it credits near misses the exact-match accuracy ignores.

Groups: every utterance, and by voice (the id's prefix before ``_``, as ``soundstorm corpus``
names them). Several models at once: one row each, so checkpoints of different runs compare
on the same items::

    python benchmarks/first_level.py --tokens /work/data/tokens_v2 --split test \
        --model /work/runs/voice_v2/checkpoints/step_00005000/model /work/data/voice_v2_final

Each model is paired with the token directory it was trained on: pass one ``--tokens`` for
all models or one per model, in order (semantic vocabularies differ between tokenizers).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F

from soundstorm.data import TokenShardDataset
from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_write_text
from soundstorm.model import SoundStorm
from soundstorm.train.data import check_data_matches_model


def voice_of(uid: str) -> str:
    """``"flite-slt_wn005a1e0d7a"`` -> ``"flite-slt"`` (ids without ``_`` are their own)."""
    return uid.split("_", 1)[0]


@torch.no_grad()
def first_pass_scores(
    model: SoundStorm,
    codes: torch.Tensor,
    semantic: torch.Tensor,
    prompt_codes: torch.Tensor,
    prompt_semantic: torch.Tensor,
    code_vectors: torch.Tensor | None = None,
) -> dict[str, float]:
    """Scores of the first-level head on one utterance in the first decoding pass.

    As in generation with a voice prompt: the prompt's codes (all levels) and semantic tokens,
    then the utterance's semantic tokens with every code masked.

    Args:
        model: A SoundStorm with Q levels.
        codes: ``LongTensor[Q', T]`` ground-truth codes, Q' >= Q (the first Q are used).
        semantic: ``LongTensor[T]`` conditioning ids aligned to the codes' frames.
        prompt_codes: ``LongTensor[Q', P]`` codes of another utterance of the same voice.
        prompt_semantic: ``LongTensor[P]`` its conditioning ids.
        code_vectors: ``[K, D]`` first-level code vectors, or None (no ``code_distance``).

    Returns:
        Sums over the masked frames: ``n``, ``correct``, ``top5``, ``nll`` and, with vectors,
        ``distance`` and ``chance_distance``.
    """
    Q, K = model.config.num_levels, model.config.codebook_size
    prompt = prompt_codes.shape[-1]
    inputs = torch.cat([prompt_codes[:Q], torch.full_like(codes[:Q], model.config.mask_id)], -1)
    cond = torch.cat([prompt_semantic, semantic])
    logits = model(inputs[None], cond[None], level=0)[0, prompt:].float()  # (T, K)
    target = codes[0]
    top5 = logits.topk(min(5, K), dim=-1).indices
    scores = {
        "n": float(target.numel()),
        "correct": float((logits.argmax(-1) == target).sum()),
        "top5": float((top5 == target[:, None]).any(-1).sum()),
        "nll": float(F.cross_entropy(logits, target, reduction="sum")),
    }
    if code_vectors is not None:
        expected = logits.softmax(-1) @ code_vectors  # (T', D)
        truth = code_vectors[target]
        scores["distance"] = float((expected - truth).norm(dim=-1).sum())
        scores["chance_distance"] = float(
            (code_vectors[torch.randint(K, target.shape)] - truth).norm(dim=-1).sum()
        )
    return scores


def summarise(sums: dict[str, float]) -> dict[str, float]:
    n = max(sums["n"], 1.0)
    row = {
        "frames": int(sums["n"]),
        "accuracy": sums["correct"] / n,
        "top5": sums["top5"] / n,
        "nll": sums["nll"] / n,
    }
    if sums.get("chance_distance"):
        row["code_distance"] = sums["distance"] / sums["chance_distance"]
    return row


def evaluate(
    model_dir: str,
    tokens: str,
    split: str,
    prompt_seconds: float,
    max_items: int | None,
    codec_vectors: bool,
    voices: list[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Scores of one model on a prepared split, overall and by voice (only ``voices``, when
    given)."""
    model = SoundStorm.from_pretrained(model_dir).eval()
    data = TokenShardDataset(tokens, split=split)
    check_data_matches_model(data.meta, model.config, tokens)  # the training check, same rules
    vectors = None
    if codec_vectors and data.meta.get("codec_path"):
        from soundstorm.codecs import get_codec

        codec = get_codec(data.meta["codec_path"])
        vectors = codec.code_vectors()[0].float()
    prompt = round(prompt_seconds * data.meta["frame_rate"])
    torch.manual_seed(0)
    by_voice: dict[str, list[int]] = defaultdict(list)
    for index, uid in enumerate(data.ids()):  # ids only: no codes read here
        by_voice[voice_of(uid)].append(index)
    # every voice's first max_items utterances (all by default), in a fixed order
    wanted = set(voices) if voices else set(by_voice)
    chosen = [i for v, indices in by_voice.items() if v in wanted for i in indices[:max_items]]
    groups: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for index in chosen:
        item = data[index]
        same = by_voice[voice_of(item["id"])]
        if len(same) < 2:
            continue  # no other utterance of this voice to prompt with
        other = data[same[(same.index(index) + 1) % len(same)]]  # the next one, cyclic
        codes = torch.as_tensor(item["codes"].astype("int64"))
        semantic = torch.as_tensor(item["semantic"])
        prompt_codes = torch.as_tensor(other["codes"][:, :prompt].astype("int64"))
        prompt_semantic = torch.as_tensor(other["semantic"][:prompt])
        scores = first_pass_scores(model, codes, semantic, prompt_codes, prompt_semantic, vectors)
        for group in ("all", voice_of(item["id"])):
            for key, value in scores.items():
                groups[group][key] += value
    return {group: summarise(sums) for group, sums in sorted(groups.items())}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", required=True, help="model directories")
    parser.add_argument(
        "--tokens",
        nargs="+",
        required=True,
        help="prepared token directory (one, or one per model)",
    )
    parser.add_argument("--split", default="test", help="split of the token directory")
    parser.add_argument("--prompt-seconds", type=float, default=3.0)
    parser.add_argument("--max-items", type=int, default=None, help="utterances per voice")
    parser.add_argument("--voices", nargs="+", default=None, help="only these voices")
    parser.add_argument("--no-distance", action="store_true", help="skip code_distance")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if len(args.tokens) not in (1, len(args.model)):
        print("error: give one --tokens or one per --model", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    tokens = args.tokens * len(args.model) if len(args.tokens) == 1 else args.tokens
    report = {}
    try:
        for model_dir, token_dir in zip(args.model, tokens):
            report[model_dir] = evaluate(
                model_dir,
                token_dir,
                args.split,
                args.prompt_seconds,
                args.max_items,
                not args.no_distance,
                args.voices,
            )
    except (SoundStormError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"first decoding pass, level 1, split {args.split!r}, prompt {args.prompt_seconds:g} s")
    print(
        f"{'model':60s} {'group':16s} {'frames':>7s} {'acc':>6s} {'top5':>6s} {'nll':>6s} {'dist':>5s}"
    )
    for model_dir, rows in report.items():
        for group, row in rows.items():
            dist = f"{row['code_distance']:.3f}" if "code_distance" in row else "-"
            print(
                f"{model_dir[-60:]:60s} {group:16s} {row['frames']:7d} {row['accuracy']:6.1%} "
                f"{row['top5']:6.1%} {row['nll']:6.3f} {dist:>5s}"
            )
    print(f"(chance nll: log K = {math.log(1024):.3f} for K = 1024)")
    if args.out:
        atomic_write_text(Path(args.out), json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
