"""How long and how far training went: the wall-clock budget of a run (``run.max_minutes``,
``run.schedule_by_time``) and the learning curve file (``OUTPUT_DIR/learning_curve.csv``)."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

CURVE_FILE = "learning_curve.csv"
CURVE_COLUMNS = [
    "step",
    "seconds",
    "frames",
    "examples",
    "train_loss",
    "train_accuracy",
    "train_lr",
    "val_loss",
    "val_accuracy",
    "val_generate_accuracy",
]


class TrainBudget:
    """The wall-clock budget of one ``train`` call (``run.max_minutes``) and the step rate
    used to fit the schedule to it (``run.schedule_by_time``).

    The schedule is fitted when 10%, 30% and 60% of the budget have passed, each time with
    the step rate measured since 3% of it (a longer window, a better estimate; the first
    fit makes the cosine decay start on time, the others correct it).

    Args:
        minutes: the budget (None or 0: unlimited).
        clock: seconds, monotonic.
        fit_at: fractions of the budget at which the schedule is (re)fitted.
        measure_from: fraction of the budget from which the step rate is measured (the
            first steps hold compilation and warm-up).
        margin: fraction of the remaining time the fitted schedule fills (validation,
            checkpoints and the final checkpoint need the rest).
    """

    def __init__(
        self,
        minutes: float | None,
        clock=time.monotonic,
        fit_at: tuple[float, ...] = (0.1, 0.3, 0.6),
        measure_from: float = 0.03,
        margin: float = 0.95,
    ) -> None:
        self.seconds = 60.0 * minutes if minutes else 0.0
        self.clock = clock
        self.start = clock()
        self.fit_at = sorted(fit_at)  # the points not reached yet
        self.measure_from, self.margin = measure_from, margin
        self.mark: tuple[float, int] | None = None  # (elapsed, step) at measure_from
        self.first: tuple[float, int] | None = None  # (elapsed, step) after the first step
        self.rate = 0.0

    @property
    def limited(self) -> bool:
        return self.seconds > 0

    def elapsed(self) -> float:
        return self.clock() - self.start

    def spent(self) -> bool:
        """True once the budget is used up."""
        return self.limited and self.elapsed() >= self.seconds

    def fit_total_steps(self, step: int) -> int | None:
        """The schedule length that ends with the budget, when a ``fit_at`` point has just
        passed (None otherwise). Call after every step; ``step`` is the global step just
        finished."""
        elapsed = self.elapsed()
        if self.first is None:
            self.first = (elapsed, step)
        if self.mark is None and elapsed >= self.measure_from * self.seconds:
            self.mark = (elapsed, step)
        if not self.fit_at or elapsed < self.fit_at[0] * self.seconds:
            return None
        if step - self.first[1] < 2:  # the first step holds compilation: wait for two more
            return None
        while self.fit_at and elapsed >= self.fit_at[0] * self.seconds:
            self.fit_at.pop(0)
        since, from_step = self.mark if self.mark is not None else self.first
        if step - from_step < 3:  # slow steps: the rate since the first step instead
            since, from_step = self.first
        self.rate = (step - from_step) / max(elapsed - since, 1e-9)
        remaining = max(self.seconds - elapsed, 0.0)
        return step + max(1, int(self.rate * remaining * self.margin))


class LearningCurve:
    """``learning_curve.csv``: one row per log window and per validation, appended (a resumed
    run continues the file).

    Columns: the training position (``step``, cumulative training ``seconds``, ``frames``,
    ``examples``) and the window's or the validation's ``train_loss``, ``train_accuracy``,
    ``train_lr``, ``val_loss``, ``val_accuracy``, ``val_generate_accuracy`` (empty when not
    measured in that row).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, progress: Any, scalars: dict[str, float]) -> None:
        """Add a row.

        Args:
            progress: a ``TrainProgress``.
            scalars: logged values (``train/loss``, ``val/accuracy``, ...).
        """
        row: dict[str, Any] = {
            "step": progress.step,
            "seconds": round(progress.train_seconds, 3),
            "frames": progress.frames_seen,
            "examples": progress.examples_seen,
        }
        for key in CURVE_COLUMNS[4:]:
            value = scalars.get(key.replace("_", "/", 1))
            row[key] = "" if value is None else f"{value:.6g}"
        new = not self.path.is_file()
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CURVE_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)
