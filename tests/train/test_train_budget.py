"""The wall-clock budget (``run.max_minutes``): a clean stop with a checkpoint, exact
continuation, the schedule fitted to the budget, the export at the end, and ranks that agree.

The clock is replaced by one that advances a fixed number of seconds per optimizer step, so
the tests are deterministic and take no real minutes.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file
from train_fixtures import free_port, synthetic_tokens, terminate_after_step, tiny_train_config

from soundstorm.errors import SoundStormError
from soundstorm.export import export_model
from soundstorm.train.budget import CURVE_FILE, TrainBudget
from soundstorm.train.checkpoint import list_checkpoints
from soundstorm.train.config import load_train_config
from soundstorm.train.optim import warmup_cosine_factor
from soundstorm.train.recipe import TrainRecipe


def step_clock(recipe: TrainRecipe, seconds_per_step: float):
    """A clock that reads ``seconds_per_step x`` the steps taken in this process."""
    start = recipe.progress.step
    return lambda: (recipe.progress.step - start) * seconds_per_step


def run(output_dir, items, *overrides: str, seconds_per_step: float | None = None):
    recipe = TrainRecipe(tiny_train_config(output_dir, *overrides), items)
    recipe.setup()
    if seconds_per_step is not None:
        recipe.clock = step_clock(recipe, seconds_per_step)
    try:
        recipe.train()
    finally:
        recipe.cleanup()
    return recipe


def read_curve(output_dir) -> list[dict[str, str]]:
    with open(output_dir / CURVE_FILE, newline="") as handle:
        return list(csv.DictReader(handle))


def test_budget_stops_with_a_checkpoint_and_resumes_exactly(tmp_path, caplog):
    items = synthetic_tokens(20, seed=3, max_frames=50)
    common = ["optim.total_steps=15", "model.dropout=0.1", "data.batch_size=3", "log.every=4"]
    straight = run(tmp_path / "straight", items, *common)
    assert straight.stop_reason == "total_steps"

    split = tmp_path / "split"
    budget = ["run.max_minutes=1"]  # 60 s at 10 s per step: 6 steps per run
    with caplog.at_level("INFO", logger="soundstorm.train"):
        first = run(split, items, *common, *budget, seconds_per_step=10.0)
    assert first.stop_reason == "max_minutes" and first.progress.step == 6
    assert [p.name for p in list_checkpoints(split)] == ["step_00000006"]
    assert "training stopped at step 6: time budget run.max_minutes=1 reached" in caplog.text
    trainer = json.loads((list_checkpoints(split)[-1] / "trainer.json").read_text())
    assert trainer["progress"]["train_seconds"] == pytest.approx(60.0)

    second = run(split, items, *common, *budget, seconds_per_step=10.0)  # a fresh budget
    assert second.stop_reason == "max_minutes" and second.progress.step == 12
    third = run(split, items, *common)  # no budget: to the end of the schedule
    assert third.stop_reason == "total_steps" and third.progress.step == 15
    assert third.progress.train_seconds >= 120.0
    for name, value in straight.model.state_dict().items():
        assert torch.equal(third.model.state_dict()[name], value), name

    curve = read_curve(split)
    assert [int(r["step"]) for r in curve][:4] == [4, 6, 8, 12]  # 6 and 12: budget stops
    assert float(curve[1]["seconds"]) == pytest.approx(60.0)
    assert int(curve[-1]["step"]) == 15 and float(curve[-1]["train_loss"]) > 0
    assert int(curve[-1]["frames"]) == third.progress.frames_seen


def test_schedule_fitted_to_the_budget(tmp_path):
    items = synthetic_tokens(20, seed=3)
    overrides = ["optim.total_steps=1000", "run.max_minutes=0.5", "run.schedule_by_time=true"]
    # 1 s per step, 30 s: fitted at 3 s (step 3) to 3 + 0.95 x 27 steps = 28 steps
    first = run(tmp_path, items, *overrides, "run.max_steps=10", seconds_per_step=1.0)
    assert first.schedule.total_steps == 28 and first.config.optim.total_steps == 1000
    assert first.stop_reason == "max_steps" and first.progress.step == 10
    lr = first.config.optim.lr
    expected = lr * warmup_cosine_factor(10, 3, 28, first.config.optim.min_lr_ratio)
    assert first.scheduler.get_last_lr()[0] == pytest.approx(expected)
    state = json.loads((list_checkpoints(tmp_path)[-1] / "trainer.json").read_text())
    # refitted at 30% of the budget (step 9, the same 28 steps): the decay goes on from there
    assert state["schedule_anchor"] == [9, pytest.approx((9 - 3) / (28 - 3))]

    resumed = run(tmp_path, items, *overrides, seconds_per_step=1.0)  # keeps the fit
    assert resumed.schedule.anchor == (9, pytest.approx(0.24))
    assert resumed.schedule.total_steps == 28
    assert resumed.stop_reason == "total_steps" and resumed.progress.step == 28
    final = resumed.config.optim.lr * resumed.config.optim.min_lr_ratio
    assert resumed.scheduler.get_last_lr()[0] == pytest.approx(final)


def test_a_run_without_a_fit_is_fitted_when_resumed_with_one(tmp_path):
    """A run trained on optim.total_steps, resumed with run.schedule_by_time: the schedule is
    fitted to the new budget (it was once kept at the old total_steps, as if fitted)."""
    items = synthetic_tokens(20, seed=3)
    plain = run(tmp_path, items, "optim.total_steps=12", "run.max_steps=4")
    assert not plain._schedule_fitted and plain.progress.step == 4
    overrides = ["optim.total_steps=12", "run.max_minutes=0.5", "run.schedule_by_time=true"]
    # 1 s per step, 30 s from step 4: about 4 + 0.95 x 30 steps (not the 12 it trained on)
    resumed = run(tmp_path, items, *overrides, seconds_per_step=1.0)
    assert 30 <= resumed.schedule.total_steps <= 34
    assert resumed.progress.step == resumed.schedule.total_steps
    assert resumed.stop_reason == "total_steps"


def test_a_run_that_ended_its_fitted_schedule_is_extended_by_a_new_budget(tmp_path, caplog):
    """Resuming a run that reached the end of its fitted schedule with a new budget trains on:
    the schedule is fitted again from the checkpoint's step (it once stopped at once)."""
    items = synthetic_tokens(20, seed=3)
    overrides = ["optim.total_steps=1000", "run.max_minutes=0.2", "run.schedule_by_time=true"]
    first = run(tmp_path, items, *overrides, seconds_per_step=1.0)  # 12 s: fitted, then done
    assert first._schedule_fitted and first.stop_reason == "total_steps"
    ended = first.progress.step
    assert ended == first.schedule.total_steps and 8 <= ended <= 12
    with caplog.at_level("INFO", logger="soundstorm.train"):
        more = run(tmp_path, items, *overrides, seconds_per_step=1.0)
    assert "ended its fitted schedule" in caplog.text
    assert more.progress.step > ended + 5 and more.schedule.total_steps == more.progress.step


def test_refits_correct_the_estimate_of_a_slow_start():
    """Two slow first steps (5 s), then 1 s per step, 100 s: steps 1..92. The fits at 10%,
    30% and 60% of the budget approach the steps that really fit."""
    now = [0.0]
    budget = TrainBudget(100 / 60, clock=lambda: now[0])
    fits, step = [], 0
    while now[0] < 100:
        step += 1
        now[0] += 5.0 if step <= 2 else 1.0
        fitted = budget.fit_total_steps(step)
        if fitted is not None:
            fits.append((step, fitted))
    assert step == 92 and [s for s, _ in fits] == [3, 22, 52]
    totals = [total for _, total in fits]
    assert totals == sorted(totals) and totals[0] < 50 and 85 <= totals[-1] <= 92


def test_export_at_the_end(tmp_path, voice_model_dir):
    items = synthetic_tokens(12, seed=2)
    out = tmp_path / "voice"
    recipe = run(
        tmp_path / "run",
        items,
        "optim.total_steps=3",
        f"export.dir={out}",
        f"export.codec={voice_model_dir / 'codec.safetensors'}",
        "export.steps=4",
    )
    assert recipe.export_path == out
    assert json.loads((out / "pipeline.json").read_text()) == {
        "codec": "codec.safetensors",
        "semantic": "phones-words",  # export.semantic=auto on data that records none
        "steps": 4,
        "format_version": 2,
    }
    card = (out / "README.md").read_text()  # tokens given in memory: no data recorded
    assert "pushed to the Hub" not in card and "Not recorded: the export was given" in card
    training = card.split("## Training\n")[1].split("## Measured")[0]
    assert "- This checkpoint `" in training and "step_00000003/model`: 3 steps" in training
    assert "- In all: 3 steps" in training and "Warm-started" not in training
    weights = load_file(str(out / "model.safetensors"))
    assert all(w.dtype == torch.float16 for w in weights.values())
    for name, value in recipe.model.state_dict().items():
        assert torch.equal(weights[name], value.half()), name


def test_export_model_card_adds_up_the_runs_of_warm_starts(tmp_path, voice_model_dir):
    """A run warm-started from another run's checkpoint: the card lists both runs from their
    trainer state and adds up their steps; a source with no trainer state is named, not
    counted."""
    items = synthetic_tokens(12, seed=2)
    first = run(tmp_path / "first", items, "optim.total_steps=3")
    source = first.output_dir / "checkpoints" / "step_00000003" / "model"
    out = tmp_path / "voice"
    codec = f"export.codec={voice_model_dir / 'codec.safetensors'}"
    masking = ["masking.prompt_dropout=0.25", "masking.known_suffix_fraction=0.5"]
    overrides = ["optim.total_steps=2", f"init.weights={source}", f"export.dir={out}", codec]
    run(tmp_path / "second", items, *overrides, *masking)
    training = (out / "README.md").read_text().split("## Training\n")[1].split("## Measured")[0]
    assert "step_00000002/model`: 2 steps" in training
    assert f"- Warm-started from `{source}`: 3 steps" in training
    assert "- In all: 5 steps" in training
    assert "prompt dropout 0.25, known suffixes 0.5" in training
    assert "dropped the prompt of 25% of its examples" in training and "50% of its" in training

    # an altered trainer state (a step changed, the JSON still valid) is not believed
    from soundstorm.model_card import read_training_history

    second = tmp_path / "second" / "checkpoints" / "step_00000002" / "model"
    assert [run.get("missing") for run in read_training_history(second)] == [None, None]
    trainer = source.parent / "trainer.json"
    trainer.write_text(trainer.read_text().replace('"step": 3', '"step": 30000', 1))
    assert [run.get("missing") for run in read_training_history(second)] == [None, True]

    plain = tmp_path / "plain"  # an exported model directory: no trainer state beside it
    export_model(source, plain, str(voice_model_dir / "codec.safetensors"), "phones-words")
    overrides = ["optim.total_steps=2", f"init.weights={plain}", f"export.dir={out}", codec]
    run(tmp_path / "third", items, *overrides)
    training = (out / "README.md").read_text().split("## Training\n")[1].split("## Measured")[0]
    assert f"- Warm-started from `{plain}`: its training is not recorded" in training
    assert "- In all: 2 steps" in training and "is not trained for" in training


def test_export_model_card_describes_the_training_data(tmp_path, voice_model_dir):
    """The export at the end of training writes a model card with the tokens trained on
    (``data.train_dir``) and the corpus summary (``export.corpus_summary``)."""
    from test_gpu_recipe import prepared_shards

    shards = prepared_shards(tmp_path / "tokens", voice_model_dir / "codec.safetensors")
    summary = tmp_path / "summary.json"
    voices = {"flite-slt": {"engine": "flite", "licence": "CMU Flite licence (BSD-style)"}}
    summary.write_text(json.dumps({"hours": 0.01, "voices": voices}))
    out = tmp_path / "voice"
    overrides = ["optim.total_steps=2", f"data.train_dir={shards}", f"export.dir={out}"]
    run(tmp_path / "run", None, *overrides, f"export.corpus_summary={summary}")
    card = (out / "README.md").read_text()
    assert "pushed to the Hub" not in card
    assert "The prepared tokens it was trained on" in card and "| train | 16 |" in card
    assert "| flite-slt | flite | not recorded |" in card and "CMU Flite licence" in card


def test_export_corpus_summary_is_checked_before_training(tmp_path):
    overrides = [f"export.dir={tmp_path / 'v'}", "export.codec=x"]
    overrides.append(f"export.corpus_summary={tmp_path / 'missing.json'}")
    recipe = TrainRecipe(tiny_train_config(tmp_path, *overrides), synthetic_tokens(8))
    with pytest.raises(SoundStormError, match="corpus summary"):
        recipe.setup()
    recipe.cleanup()


def test_export_codec_auto_needs_shards_with_a_codec(tmp_path):
    items = synthetic_tokens(8)
    recipe = TrainRecipe(tiny_train_config(tmp_path, f"export.dir={tmp_path / 'v'}"), items)
    with pytest.raises(SoundStormError, match="export.codec=auto"):
        recipe.setup()
    recipe.cleanup()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("run.max_minutes=-1", "run.max_minutes must be >= 0"),
        ("run.schedule_by_time=true", "run.schedule_by_time needs a budget"),
        ("export.dtype=int8", "export.dtype must be"),
    ],
)
def test_budget_config_errors(override, message):
    with pytest.raises(SoundStormError, match=message):
        load_train_config(None, [override])


def stopping_rank(rank: int, port: int, output_dir: str, how: str) -> None:
    """Two ranks, one of which alone is told to stop: ``how="budget"``, rank 0's clock runs out
    after 3 steps (rank 1's never does); ``how="sigterm"``, only rank 1 gets a SIGTERM, during
    step 2. Each rank writes where it stopped and why."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
    )
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        overrides = ["run.device=cpu", "data.batch_size=2"]
        if how == "budget":
            overrides.append("run.max_minutes=0.5")
        recipe = TrainRecipe(
            tiny_train_config(output_dir, *overrides), synthetic_tokens(24, seed=5)
        )
        recipe.setup()
        if how == "budget":
            recipe.clock = step_clock(recipe, 10.0) if rank == 0 else (lambda: 0.0)
        elif rank == 1:
            terminate_after_step(pytest.MonkeyPatch(), 2)  # this process only, until it ends
        recipe.train()
        with open(f"{output_dir}/rank{rank}.json", "w") as handle:
            json.dump({"step": recipe.progress.step, "reason": recipe.stop_reason}, handle)
        recipe.cleanup()
    finally:
        dist.destroy_process_group()


def test_ranks_agree_on_the_budget_stop(tmp_path):
    mp.spawn(stopping_rank, args=(free_port(), str(tmp_path), "budget"), nprocs=2, join=True)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert results == [{"step": 3, "reason": "max_minutes"}] * 2
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000003"]


def test_export_of_the_best_validation(tmp_path, voice_model_dir, val_items):
    items = synthetic_tokens(12, seed=2)
    for number, item in enumerate(val_items):  # codes unrelated to the conditioning: the
        rng = np.random.default_rng(number)  # more the model learns, the worse it does here
        item["codes"] = rng.integers(0, 16, item["codes"].shape).astype(np.uint16)
    out = tmp_path / "voice"
    config = tiny_train_config(
        tmp_path / "run",
        "optim.total_steps=12",
        "log.val_every=2",
        f"export.dir={out}",
        f"export.codec={voice_model_dir / 'codec.safetensors'}",
        "export.source=best",
    )
    recipe = TrainRecipe(config, items, val_items)
    recipe.setup()
    try:
        recipe.train()
    finally:
        recipe.cleanup()
    losses = {step: v["val/loss"] for step, v in recipe.metrics.history if "val/loss" in v}
    best_step = min(losses, key=lambda step: (losses[step], step))
    assert recipe.best == {"step": best_step, "val_loss": losses[best_step]}
    best = json.loads((tmp_path / "run" / "best" / "best.json").read_text())
    assert best["step"] == best_step
    kept = load_file(str(tmp_path / "run" / "best" / "model" / "model.safetensors"))
    exported = load_file(str(out / "model.safetensors"))
    assert all(torch.equal(exported[k], v.half()) for k, v in kept.items())
    assert best_step < 12  # so the export is not the final weights
    final = recipe.model.state_dict()
    assert any(not torch.equal(exported[k], v.half()) for k, v in final.items())


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="lists children via /proc")
def test_a_sigterm_to_the_whole_process_group_still_stops_with_a_checkpoint(
    tmp_path, monkeypatch, caplog
):
    """A scheduler signals every process of the job, DataLoader workers included: they must
    outlive the signal while the training process writes its checkpoint."""
    from soundstorm.train.recipe import TrainRecipe

    items = synthetic_tokens(20, seed=3, max_frames=50)
    original = TrainRecipe.train_step
    signalled, states = [], []
    me = os.getpid()

    def children() -> set[int]:
        return {int(pid) for pid in Path(f"/proc/{me}/task/{me}/children").read_text().split()}

    before = children()  # processes of other tests (resource trackers...) are left alone

    def train_step(self, micro_batches):
        if self.progress.step + 1 == 4:  # the signal comes while step 4 runs
            signalled.extend(sorted(children() - before))  # the loader's worker
            for pid in [*signalled, me]:
                os.kill(pid, signal.SIGTERM)
            time.sleep(0.3)
            for pid in signalled:  # "S" (alive), not "Z" (killed, not yet reaped)
                stat = Path(f"/proc/{pid}/stat")
                states.append(stat.read_text().split()[2] if stat.exists() else "gone")
        return original(self, micro_batches)

    monkeypatch.setattr(TrainRecipe, "train_step", train_step)
    common = ["optim.total_steps=12", "data.batch_size=3", "data.num_workers=1"]
    with caplog.at_level("INFO", logger="soundstorm.train"):
        recipe = run(tmp_path / "run", items, *common)
    assert signalled and all(state not in ("Z", "X", "gone") for state in states), states
    assert recipe.stop_reason == "sigterm" and recipe.progress.step == 4
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_00000004"]


def test_sigterm_stops_with_a_checkpoint_and_resumes_exactly(
    tmp_path, monkeypatch, caplog, voice_model_dir
):
    items = synthetic_tokens(20, seed=3, max_frames=50)
    common = ["optim.total_steps=12", "model.dropout=0.1", "data.batch_size=3", "log.every=4"]
    straight = run(tmp_path / "straight", items, *common)

    split = tmp_path / "split"
    before = signal.getsignal(signal.SIGTERM)
    with monkeypatch.context() as patch:
        terminate_after_step(patch, 5)
        with caplog.at_level("INFO", logger="soundstorm.train"):
            export = [f"export.dir={tmp_path / 'never'}"]
            export.append(f"export.codec={voice_model_dir / 'codec.safetensors'}")
            first = run(split, items, *common, *export)
    assert first.stop_reason == "sigterm" and first.progress.step == 5
    assert "training stopped at step 5: SIGTERM received" in caplog.text
    assert [p.name for p in list_checkpoints(split)] == ["step_00000005"]
    assert not (tmp_path / "never").exists()  # an interrupted run is not exported
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back

    resumed = run(split, items, *common)
    assert resumed.stop_reason == "total_steps" and resumed.progress.step == 12
    for name, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name


def test_ranks_agree_on_a_sigterm_stop(tmp_path):
    mp.spawn(stopping_rank, args=(free_port(), str(tmp_path), "sigterm"), nprocs=2, join=True)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert results == [{"step": 2, "reason": "sigterm"}] * 2
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000002"]


def test_exported_models_carry_their_training_history(tmp_path, voice_model_dir):
    """An export writes the runs behind its weights into ``training.json``: a warm start from
    the exported directory (not from a checkpoint) and an export of an export keep adding up;
    an altered ``training.json`` states nothing. With ``export.source=best`` the card counts
    the run up to the best validation's step (``best/trainer_record.json``)."""
    from soundstorm.model_card import read_training_history

    items = synthetic_tokens(12, seed=2)
    codec = str(voice_model_dir / "codec.safetensors")
    first = run(tmp_path / "first", items, "optim.total_steps=3")
    exported = export_model(
        first.output_dir / "checkpoints" / "step_00000003" / "model",
        tmp_path / "exported",
        codec,
        "phones-words",
    )
    (recorded,) = json.loads((exported / "training.json").read_text())["runs"]
    assert recorded["progress"]["step"] == 3 and recorded["checkpoint"].endswith(
        "step_00000003/model"
    )

    out = tmp_path / "voice"
    overrides = ["optim.total_steps=2", f"init.weights={exported}", f"export.dir={out}"]
    run(tmp_path / "second", items, *overrides, f"export.codec={codec}")
    training = (out / "README.md").read_text().split("## Training\n")[1].split("## Measured")[0]
    assert "step_00000003/model`: 3 steps" in training and "- In all: 5 steps" in training

    again = export_model(out, tmp_path / "again", codec, "phones-words")  # an export of an export
    assert read_training_history(again) == read_training_history(out)
    assert [r["progress"]["step"] for r in read_training_history(again)] == [2, 3]

    history = again / "training.json"  # altered, still valid JSON: not believed
    history.write_text(history.read_text().replace('"step": 2', '"step": 20000', 1))
    assert read_training_history(again) is None
    card = export_model(again, tmp_path / "third", codec, "phones-words") / "README.md"
    assert "Not recorded: the export was given a model directory" in card.read_text()

    best = tmp_path / "best_voice"  # validation at steps 2 and 4; the export takes the best
    overrides = ["optim.total_steps=4", "log.val_every=2", "export.source=best"]
    overrides += [f"export.dir={best}", f"export.codec={codec}"]
    recipe = TrainRecipe(
        tiny_train_config(tmp_path / "best", *overrides), items, synthetic_tokens(4, seed=3)
    )
    recipe.setup()
    try:
        recipe.train()
    finally:
        recipe.cleanup()
    step = recipe.best["step"]
    best_dir = recipe.output_dir / "best"
    assert (best_dir / "trainer_record.json").is_file()
    assert not (best_dir / "trainer.json").exists()  # not a checkpoint: nothing resumes from it
    training = (best / "README.md").read_text().split("## Training\n")[1].split("## Measured")[0]
    assert f"best/model`: {step} steps" in training and f"- In all: {step} steps" in training
