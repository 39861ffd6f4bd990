"""benchmarks/learning_curves.py: validation rows of resumed runs, the first level's accuracy
from TensorBoard events, the table and figure, one-line errors."""

from __future__ import annotations

from types import SimpleNamespace

import learning_curves  # benchmarks/learning_curves.py (tests/benchmarks/conftest.py)
import pytest
from torch.utils.tensorboard import SummaryWriter

from soundstorm.train.budget import LearningCurve


def write_run(root, rows, level_1=None):
    """rows: (step, seconds, val_loss or None); level_1: {step: accuracy} as TensorBoard."""
    root.mkdir(parents=True)
    curve = LearningCurve(root / "learning_curve.csv")
    for step, seconds, val_loss in rows:
        progress = SimpleNamespace(step=step, train_seconds=seconds, frames_seen=step * 10,
                                   examples_seen=step)  # fmt: skip
        scalars = {"train/loss": 6.0} if val_loss is None else {"val/loss": val_loss}
        curve.append(progress, scalars)
    if level_1:
        writer = SummaryWriter(str(root / "tensorboard"))
        for step, accuracy in level_1.items():
            writer.add_scalar("val/accuracy/level_0", accuracy, step)  # the first level
            writer.add_scalar("val/accuracy/level_1", 0.5, step)
        writer.close()
    return root


def test_validation_rows_of_a_resumed_run_with_level_accuracy(tmp_path, capsys):
    # resumed from step 100 after a crash: step 200 validated twice, the later row wins
    rows = [(50, 30.0, None), (100, 60.0, 5.0), (200, 120.0, 4.8), (200, 118.0, 4.7),
            (300, 180.0, 4.5)]  # fmt: skip
    mini = write_run(tmp_path / "mini", rows, level_1={100: 0.1, 200: 0.2, 300: 0.3})
    small = write_run(tmp_path / "small", [(100, 3600.0, 5.5)])
    curves = learning_curves.collect([("mini", mini), ("small", small)])
    assert [(r["step"], r["seconds"], r["val_loss"]) for r in curves["mini"]] == [
        (100, 60.0, 5.0), (200, 118.0, 4.7), (300, 180.0, 4.5)]  # fmt: skip
    assert [r["level_1_accuracy"] for r in curves["mini"]] == pytest.approx([0.1, 0.2, 0.3])
    assert "level_1_accuracy" not in curves["small"][0]  # no events: no column value

    out = tmp_path / "figs" / "curves.png"
    assert learning_curves.main([f"mini={mini}", str(small), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| mini | 300 | 0.05 | 4.500 | 30.0% |" in table
    assert "| small | 100 | 1.00 | 5.500 |  |" in table
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["curves.png"]  # no temporary left


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root, "no such run directory"),
        (lambda root: root.mkdir() or root, "no learning curve"),
        (lambda root: write_run(root, [(10, 5.0, None)]), "no validation rows"),
    ],
)
def test_unreadable_runs_are_one_line_errors(tmp_path, capsys, make, message):
    run = make(tmp_path / "run")
    out = tmp_path / "curves.png"
    assert learning_curves.main([str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_damaged_row_names_its_line(tmp_path, capsys):
    run = write_run(tmp_path / "run", [(100, 60.0, 5.0)])
    with open(run / "learning_curve.csv", "a") as handle:
        handle.write("abc,1,1,1,,,,4.0,,\n")
    assert learning_curves.main([str(run)]) == 2
    assert "learning_curve.csv, line 3: not a learning-curve row" in capsys.readouterr().err


def test_a_warm_started_run_continues_the_steps_and_hours_of_its_source(tmp_path, capsys):
    # the source's curve ends at step 250 (a training row after its last validation)
    first = write_run(tmp_path / "first", [(100, 1800.0, 5.0), (250, 3600.0, None)])
    second = write_run(tmp_path / "second", [(50, 900.0, 4.5), (100, 1800.0, 4.2)])
    argv = [f"first={first}", f"second={second}", "--warm-start", "second=first"]
    assert learning_curves.main(argv) == 0
    table = capsys.readouterr().out
    assert "| first | 100 | 0.50 | 5.000 |  |" in table
    assert "| second | 300 | 1.25 | 4.500 |  |" in table
    assert "| second | 350 | 1.50 | 4.200 |  |" in table
    for bad in ("second=nobody", "second=second", "second", "second=first@x", "second=first@7"):
        assert (
            learning_curves.main([f"first={first}", f"second={second}", "--warm-start", bad]) == 2
        )
        err = capsys.readouterr().err
        assert err.startswith("error: --warm-start") and len(err.strip().splitlines()) == 1


def test_chained_warm_starts_add_up_from_the_step_the_weights_came_from(tmp_path, capsys):
    # first was extended past step 250 (rows a warm start did not use): second took step 250
    first = write_run(tmp_path / "first", [(100, 1800.0, 5.0), (250, 3600.0, None),
                                           (275, 4000.0, None)])  # fmt: skip
    second = write_run(tmp_path / "second", [(50, 900.0, 4.5), (100, 1800.0, 4.2)])
    third = write_run(tmp_path / "third", [(100, 720.0, 4.0)])
    runs = [f"first={first}", f"second={second}", f"third={third}"]
    argv = runs + ["--warm-start", "third=second", "--warm-start", "second=first@250"]
    assert learning_curves.main(argv) == 0
    table = capsys.readouterr().out
    assert "| second | 350 | 1.50 | 4.200 |  |" in table
    assert "| third | 450 | 1.70 | 4.000 |  |" in table  # 250 + 100 + 100; 1 h + 0.5 h + 0.2 h
    cycle = runs + ["--warm-start", "third=second", "--warm-start", "second=third"]
    assert learning_curves.main(cycle) == 2
    err = capsys.readouterr().err
    assert "a cycle" in err and len(err.strip().splitlines()) == 1
