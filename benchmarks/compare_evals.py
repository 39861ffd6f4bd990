"""Paired comparison of ``eval_voice.py`` runs on the same items: word errors and similarity.

    python benchmarks/compare_evals.py /work/data/eval_base /work/data/eval_a /work/data/eval_b
    python benchmarks/compare_evals.py base_seed0,base_seed1 a_seed0,a_seed1   # two seeds each

Two runs of issue 15's protocol differ by the model or the request (tokenizer, transcripts,
decoding) but share their items, so their difference is measured item by item. For each run
after the first (the base), over the short items both runs scored (the long ones are joined
clips with their own rows in the summaries):

- word errors: the sum over items of Whisper's WER x the reference's word count, the base's
  beside it, and the standard deviation of the paired total difference (``sqrt(n)`` x the
  standard deviation of the per-item differences): a difference under about 2 of them is
  within the noise of the sampled codes and of the judge;
- the same per group (seen / held-out voices, as the report marks them);
- the mean change of the speaker similarity to the prompt, with its standard error.

A comma-separated list of folders is one run of several seeds (``eval_voice.py --seed``):
per item, the word errors and words add up over them and the similarities are averaged, so
the paired figures cover the items' sampling noise too.

``--json`` writes the figures too. Errors (a missing or foreign ``report.json``, no shared
item) are one line and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from soundstorm.errors import SoundStormError


def load_items(run: Path) -> dict[str, dict]:
    """Item id -> ``{"errors", "words", "similarity", "held_out", "long"}`` of one run.

    Raises:
        SoundStormError: ``run/report.json`` is missing, unreadable or not an
            ``eval_voice.py`` report.
    """
    path = Path(run) / "report.json"
    try:
        report = json.loads(path.read_text())
        items = report["items"]
        out = {}
        for entry in items:
            item, metrics = entry["item"], entry["metrics"]
            words = len(item["text"].split())
            wer = metrics.get("wer_generated")
            out[item["id"]] = {
                "errors": None if wer is None else wer * words,
                "words": words,
                "similarity": metrics.get("sim_generated_prompt"),
                "long": item["id"].endswith("__long"),
            }
    except OSError as error:
        raise SoundStormError(f"cannot read {path}: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SoundStormError(f"{path} is not a report of benchmarks/eval_voice.py") from None
    held_out = _held_out_voices(Path(run))
    for item_id, item in out.items():
        item["held_out"] = item_id.split("__")[0] in held_out
    return out


def load_runs(spec: str) -> dict[str, dict]:
    """:func:`load_items` of one folder, or of several joined by commas (seeds of one run):
    their items' errors and words summed, similarities averaged, over the items all share.

    Raises:
        SoundStormError: as :func:`load_items`, or the folders share no item.
    """
    runs = [load_items(Path(part)) for part in spec.split(",") if part]
    if not runs:
        raise SoundStormError(f"no folder in {spec!r}")
    if len(runs) == 1:
        return runs[0]
    shared = [i for i in runs[0] if all(i in run for run in runs[1:])]
    if not shared:
        raise SoundStormError(f"the folders of {spec!r} share no item")
    joined = {}
    for item_id in shared:
        parts = [run[item_id] for run in runs]
        errors = [p["errors"] for p in parts]
        sims = [p["similarity"] for p in parts]
        joined[item_id] = {
            **parts[0],
            "errors": None if None in errors else sum(errors),
            "words": sum(p["words"] for p in parts),
            "similarity": None if None in sims else statistics.fmean(sims),
        }
    return joined


def _held_out_voices(run: Path) -> set[str]:
    """The held-out voices named by ``summary.json`` (empty when it names none)."""
    try:
        summary = json.loads((run / "summary.json").read_text())
        return set(summary["groups"]["held_out"]["voices"])
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _paired(base: dict, other: dict, ids: list[str]) -> dict:
    diffs = [other[i]["errors"] - base[i]["errors"] for i in ids]
    spread = statistics.stdev(diffs) * math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan
    return {
        "items": len(ids),
        "word_errors": sum(other[i]["errors"] for i in ids),
        "base_word_errors": sum(base[i]["errors"] for i in ids),
        "paired_sd": spread,
    }


def compare(base: dict[str, dict], other: dict[str, dict]) -> dict:
    """The paired figures of ``other`` against ``base`` (both from :func:`load_items`).

    Raises:
        SoundStormError: the runs share no scored short item.
    """
    ids = [
        i
        for i in base
        if i in other
        and not base[i]["long"]
        and base[i]["errors"] is not None
        and other[i]["errors"] is not None
    ]
    if not ids:
        raise SoundStormError("the runs share no scored short item: not the same protocol")
    result = {"all": _paired(base, other, ids)}
    for group, held in (("seen", False), ("held_out", True)):
        group_ids = [i for i in ids if base[i]["held_out"] == held]
        if group_ids:
            result[group] = _paired(base, other, group_ids)
    changes = [
        other[i]["similarity"] - base[i]["similarity"]
        for i in ids
        if other[i]["similarity"] is not None and base[i]["similarity"] is not None
    ]
    if changes:
        error = statistics.stdev(changes) / math.sqrt(len(changes)) if len(changes) > 1 else 0
        result["similarity_change"] = {"mean": statistics.fmean(changes), "se": error}
    return result


def format_row(name: str, figures: dict) -> str:
    """One markdown table row of :func:`compare`'s figures."""
    cells = [name]
    for group in ("all", "seen", "held_out"):
        part = figures.get(group)
        cells.append(
            "-"
            if part is None
            else f"{part['word_errors']:.0f} vs {part['base_word_errors']:.0f} "
            f"({part['paired_sd']:.1f}, n {part['items']})"
        )
    change = figures.get("similarity_change")
    cells.append("-" if change is None else f"{change['mean']:+.4f} ({change['se']:.4f})")
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| run | word errors vs base (paired SD, items) | seen | held out | similarity change (SE) |\n"
    "|---|---:|---:|---:|---:|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "base", help="the eval_voice.py output folder compared with (FOLDER[,FOLDER...]: seeds)"
    )
    parser.add_argument("runs", nargs="+", help="other output folders, same items (as base)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        base = load_runs(args.base)
        figures = {run: compare(base, load_runs(run)) for run in args.runs}
    except SoundStormError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"base: {args.base}\n\n{HEADER}")
    for run, result in figures.items():
        print(format_row(run, result))
    if args.json is not None:
        args.json.write_text(json.dumps({"base": str(args.base), "runs": figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
