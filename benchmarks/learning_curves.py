"""Learning curves of training runs side by side: validation loss and first-level validation
accuracy against cumulative training hours (issue 15: which recipe learns most per CPU-hour).

    python benchmarks/learning_curves.py mini=/work/runs/size_mini small=/work/runs/sem_phones \\
        --out docs/learning_curves.png --markdown /tmp/curves.md

Each run is ``LABEL=DIR`` (or ``DIR``, labelled by its name): a ``soundstorm train`` output
directory. The validation rows of its ``learning_curve.csv`` give the step, the cumulative
training seconds (resumed runs add up) and the validation loss; the first level's
masked-token accuracy (``val/accuracy/level_0``: levels count from 0 in the logs) comes from
its TensorBoard events when they are there (``tensorboard`` installed,
``log.tensorboard=true``). Where a step was validated twice (a run
resumed from an older checkpoint) the later row wins. Training seconds are wall-clock seconds of
whatever machine and threads each run had: compare runs of the same machine.

``--warm-start LABEL=FROM[@STEP]``: run ``LABEL`` started from the weights of run ``FROM``
(``init.weights``), so its hours and steps continue ``FROM``'s: from the last row of ``FROM``'s
curve, validated or not, or from its row at ``STEP`` (a source extended after the warm start);
chained warm starts add up.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from soundstorm.files import atomic_path, atomic_write_text
from soundstorm.train.budget import CURVE_FILE

FIRST_LEVEL_TAG = "val/accuracy/level_0"  # levels count from 0 in the logs


class CurveError(Exception):
    """A run that cannot be read (one line for the command line)."""


def read_validation(run_dir: Path) -> list[dict[str, float]]:
    """The validation rows of a run: ``[{"step", "seconds", "val_loss"}, ...]`` by step.

    Raises:
        CurveError: no directory, no ``learning_curve.csv``, or a file without validations.
    """
    path = Path(run_dir) / CURVE_FILE
    if not Path(run_dir).is_dir():
        raise CurveError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise CurveError(f"{path}: no learning curve (is this a soundstorm train output?)")
    rows: dict[int, dict[str, float]] = {}
    with open(path, newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                if row.get("val_loss"):
                    step = int(row["step"])
                    rows[step] = {
                        "step": step,
                        "seconds": float(row["seconds"]),
                        "val_loss": float(row["val_loss"]),
                    }
            except (TypeError, ValueError) as error:
                raise CurveError(
                    f"{path}, line {number}: not a learning-curve row ({error})"
                ) from None
    if not rows:
        raise CurveError(f"{path}: no validation rows (was log.val_every 0?)")
    return [rows[step] for step in sorted(rows)]


def read_level_accuracy(run_dir: Path, tag: str = FIRST_LEVEL_TAG) -> dict[int, float]:
    """``{step: accuracy}`` of a TensorBoard scalar of the run (empty without events or
    without the ``tensorboard`` package; the last value of a step wins)."""
    events = Path(run_dir) / "tensorboard"
    if not events.is_dir():
        return {}
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return {}
    values: dict[int, float] = {}
    for path in sorted(events.glob("events.out.tfevents.*")):  # one file per process, in order
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        if tag in accumulator.Tags().get("scalars", []):
            for event in accumulator.Scalars(tag):
                values[int(event.step)] = float(event.value)
    return values


def final_row(run_dir: Path, step: int | None = None) -> tuple[int, float]:
    """``(step, seconds)`` of the last row of a run's curve, or of its last row at ``step``
    (where a warm start begins)."""
    path = Path(run_dir) / CURVE_FILE
    last = None
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if step is None or int(row["step"]) == step:
                    last = row
        if last is None:
            what = "an empty learning curve" if step is None else f"no row at step {step}"
            raise CurveError(f"{path}: {what}")
        return int(last["step"]), float(last["seconds"])
    except OSError as error:
        raise CurveError(f"{path}: {error.strerror or error}") from None
    except (KeyError, TypeError, ValueError) as error:
        raise CurveError(f"{path}: not a learning curve ({error})") from None


def collect(
    runs: list[tuple[str, Path]], warm_starts: dict[str, str] | None = None
) -> dict[str, list[dict[str, float]]]:
    """``{label: rows}``, each row with ``level_1_accuracy`` where the events have it.

    ``warm_starts``: ``{label: from_label}`` or ``{label: "from_label@STEP"}``: the run's
    steps and seconds are shifted by the last row of ``from_label``'s curve (or its row at
    ``STEP``, where the run's weights came from), itself shifted when ``from_label`` was warm
    started too (chains add up). ``from_label`` must be one of ``runs``.
    """
    curves = {}
    directories = dict(runs)
    sources: dict[str, tuple[str, int | None]] = {}
    for label, text in (warm_starts or {}).items():
        source, at, step_text = text.partition("@")
        if label not in directories or source not in directories or label == source:
            raise CurveError(
                f"--warm-start {label}={text}: both must be other labels of the runs given "
                f"({', '.join(directories)})"
            )
        if at and not step_text.isdigit():
            raise CurveError(f"--warm-start {label}={text}: expected FROM@STEP, STEP a number")
        sources[label] = (source, int(step_text) if at else None)
    for label, run_dir in runs:
        rows = read_validation(run_dir)
        level_1 = read_level_accuracy(run_dir)
        for row in rows:
            if row["step"] in level_1:
                row["level_1_accuracy"] = level_1[row["step"]]
        curves[label] = rows
    offsets: dict[str, tuple[int, float]] = {}

    def offset(label: str, chain: tuple[str, ...] = ()) -> tuple[int, float]:
        if label not in sources:
            return 0, 0.0
        if label in chain:
            raise CurveError(f"--warm-start: a cycle ({' -> '.join(chain + (label,))})")
        if label not in offsets:
            source, at = sources[label]
            try:
                step, seconds = final_row(directories[source], at)
            except CurveError as error:
                raise CurveError(f"--warm-start {label}={source}: {error}") from None
            base_step, base_seconds = offset(source, chain + (label,))
            offsets[label] = (step + base_step, seconds + base_seconds)
        return offsets[label]

    for label in sources:
        step, seconds = offset(label)
        for row in curves[label]:
            row["step"] += step
            row["seconds"] += seconds
    return curves


def markdown(curves: dict[str, list[dict[str, float]]]) -> str:
    """One table: a row per run and validation."""
    lines = [
        "| run | step | training hours | validation loss | level-1 accuracy |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, rows in curves.items():
        for row in rows:
            accuracy = row.get("level_1_accuracy")
            shown = "" if accuracy is None else f"{100 * accuracy:.1f}%"
            lines.append(
                f"| {label} | {row['step']} | {row['seconds'] / 3600:.2f} | "
                f"{row['val_loss']:.3f} | {shown} |"
            )
    return "\n".join(lines) + "\n"


def plot(curves: dict[str, list[dict[str, float]]], out: Path, title: str) -> None:
    """Validation loss and level-1 accuracy against training hours (two panels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for label, rows in curves.items():
        hours = [row["seconds"] / 3600 for row in rows]
        loss_axis.plot(hours, [row["val_loss"] for row in rows], marker=".", label=label)
        scored = [row for row in rows if "level_1_accuracy" in row]
        if scored:
            accuracy_axis.plot(
                [row["seconds"] / 3600 for row in scored],
                [100 * row["level_1_accuracy"] for row in scored],
                marker=".",
                label=label,
            )
    loss_axis.set(xlabel="training hours", ylabel="validation loss", title="validation loss")
    accuracy_axis.set(
        xlabel="training hours", ylabel="level-1 accuracy (%)", title="first level, masked"
    )
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    try:
        with atomic_path(out) as temp:  # nothing half-written under the final name
            figure.savefig(temp, dpi=110, format="png")
    finally:
        plt.close(figure)


def parse_run(text: str) -> tuple[str, Path]:
    label, sep, path = text.partition("=")
    if not sep:
        return Path(text).name, Path(text)
    if not label or not path:
        raise CurveError(f"{text!r}: expected LABEL=DIR or DIR")
    return label, Path(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=DIR or DIR: soundstorm train outputs")
    parser.add_argument("--out", type=Path, help="write the figure (PNG) here")
    parser.add_argument("--markdown", type=Path, help="write the table here (default: print)")
    parser.add_argument("--title", default="Learning curves (2-core CPU)")
    parser.add_argument(
        "--warm-start",
        action="append",
        default=[],
        metavar="LABEL=FROM[@STEP]",
        help="run LABEL started from run FROM's weights (at its last row, or at STEP): its "
        "steps and hours continue FROM's (chains add up)",
    )
    args = parser.parse_args(argv)
    try:
        warm_starts = {}
        for text in args.warm_start:
            label, sep, source = text.partition("=")
            if not sep or not label or not source:
                raise CurveError(f"--warm-start {text!r}: expected LABEL=FROM[@STEP]")
            warm_starts[label] = source
        curves = collect([parse_run(text) for text in args.runs], warm_starts)
    except CurveError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = markdown(curves)
    if args.markdown:
        atomic_write_text(args.markdown, table)
    else:
        print(table, end="")
    if args.out:
        plot(curves, args.out, args.title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
