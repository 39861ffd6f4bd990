"""Masked-token loss of trained models on the same utterances and the same masks.

    python benchmarks/val_loss.py --tokens data/tokens --split valid \\
        --model assets/default runs/x/checkpoints/step_00001000/model --max-frames 256

The training recipe's ``val/loss`` depends on the run's settings: ``log.val_batches`` x
``data.batch_size`` utterances, ``data.max_frames`` crops, ``run.seed`` masks. This script
scores every model on one fixed set: the first ``--max-frames`` frames of every utterance of
``--split`` (``--max-items`` at most), with the paper's training masks (SoundStorm §3.3:
level, prompt and cosine-scheduled mask drawn per utterance from ``--seed``, the function the
recipe's validation uses), so the figures compare across runs, batch sizes and machines.
``--repeats N`` draws N mask sets (seeds ``seed .. seed+N-1``) and reports their mean, and
the standard deviation between them.

Per model: the loss (cross-entropy per scored token, nats) and the masked-token accuracy,
overall and per level, in fp32 on the CPU (``--device``, ``--threads``). ``--out`` writes
them as JSON; a table is printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from soundstorm.errors import SoundStormError
from soundstorm.inference import load_pretrained
from soundstorm.train.data import (
    CroppedTokenDataset,
    check_data_matches_model,
    collate_token_batch,
    load_token_dataset,
)
from soundstorm.train.objective import MaskedTokenObjective


@torch.no_grad()
def score(model, items, max_frames: int, seed: int, batch_size: int, max_items: int, device):
    """``{"loss", "accuracy", "levels": [accuracy per level], "tokens"}`` of one model."""
    config = model.config
    data = CroppedTokenDataset(
        items,
        config.num_levels,
        config.codebook_size,
        config.cond_vocab_size,
        max_frames,
        seed=seed,
        random_crop=False,
    )
    objective = MaskedTokenObjective(model).eval()
    count = min(len(items), max_items) if max_items > 0 else len(items)
    loss = 0.0
    correct = torch.zeros(config.num_levels, dtype=torch.float64)
    scored = torch.zeros(config.num_levels, dtype=torch.float64)
    for begin in range(0, count, batch_size):
        # epoch -1: the key the recipe's validation draws its masks with
        batch = collate_token_batch(
            [data[(-1, i)] for i in range(begin, min(count, begin + batch_size))]
        ).to(device)
        loss_sum, hits, total = objective(
            batch.codes, batch.cond, batch.lengths, batch.masked, batch.level
        )
        loss += float(loss_sum)
        correct += hits.double().cpu()
        scored += total.double().cpu()
    tokens = float(scored.sum())
    if tokens == 0:
        raise SoundStormError("no scored token: the split's utterances are too short")
    levels = [float(c / s) if s > 0 else None for c, s in zip(correct, scored)]
    return {
        "loss": loss / tokens,
        "accuracy": float(correct.sum()) / tokens,
        "levels": levels,
        "tokens": int(tokens),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", required=True, help="soundstorm prepare output directory")
    parser.add_argument("--split", default="valid")
    parser.add_argument("--model", nargs="+", required=True, help="model directories")
    parser.add_argument("--label", nargs="*", help="a name per model (default: its path)")
    parser.add_argument("--max-frames", type=int, default=256, help="crop: first N frames")
    parser.add_argument("--max-items", type=int, default=0, help="0: every utterance")
    parser.add_argument("--seed", type=int, default=0, help="mask seed (the recipe's run.seed)")
    parser.add_argument("--repeats", type=int, default=1, help="mask sets, seeds seed..")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="JSON file for the results")
    args = parser.parse_args(argv)
    if args.label and len(args.label) != len(args.model):
        parser.error(f"--label: {len(args.label)} names for {len(args.model)} models")
    if args.max_frames < 2 or args.repeats < 1 or args.batch_size < 1:
        parser.error("--max-frames >= 2, --repeats >= 1 and --batch-size >= 1")
    torch.set_num_threads(args.threads)
    try:
        items = load_token_dataset(args.tokens, args.split)
        results = []
        for index, directory in enumerate(args.model):
            label = args.label[index] if args.label else directory
            model = load_pretrained(directory, args.device, dtype=torch.float32).eval()
            check_data_matches_model(items.meta, model.config, args.tokens)
            began = time.perf_counter()
            runs = [
                score(
                    model,
                    items,
                    args.max_frames,
                    args.seed + r,
                    args.batch_size,
                    args.max_items,
                    args.device,
                )
                for r in range(args.repeats)
            ]
            losses = [r["loss"] for r in runs]
            row = {
                "label": label,
                "model": str(directory),
                "parameters": sum(p.numel() for p in model.parameters()),
                "loss": statistics.fmean(losses),
                "loss_sd": statistics.stdev(losses) if len(losses) > 1 else None,
                "accuracy": statistics.fmean(r["accuracy"] for r in runs),
                "levels": [
                    statistics.fmean(r["levels"][q] for r in runs)
                    if all(r["levels"][q] is not None for r in runs)
                    else None
                    for q in range(model.config.num_levels)
                ],
                "tokens": runs[0]["tokens"],
                "seconds": round(time.perf_counter() - began, 2),
            }
            results.append(row)
            print(
                f"{label}: loss {row['loss']:.4f}"
                + (f" (sd {row['loss_sd']:.4f})" if row["loss_sd"] is not None else "")
                + f", accuracy {row['accuracy']:.4f}, levels "
                + " ".join("-" if a is None else f"{a:.3f}" for a in row["levels"]),
                flush=True,
            )
    except (SoundStormError, FileNotFoundError, ValueError) as error:
        print(f"val_loss: error: {error}", file=sys.stderr)
        return 1
    report = {
        "tokens": args.tokens,
        "split": args.split,
        "utterances": min(len(items), args.max_items) if args.max_items > 0 else len(items),
        "max_frames": args.max_frames,
        "seeds": list(range(args.seed, args.seed + args.repeats)),
        "results": results,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
