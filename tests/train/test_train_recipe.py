"""The recipe end to end on synthetic data: learning, exact resume, non-finite steps,
checkpoints, validation."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file
from train_fixtures import synthetic_tokens, tiny_train_config

from soundstorm import SoundStorm
from soundstorm.errors import SoundStormError
from soundstorm.train.checkpoint import list_checkpoints
from soundstorm.train.recipe import TrainRecipe


def run(config, train_items, val_items=None) -> TrainRecipe:
    recipe = TrainRecipe(config, train_dataset=train_items, val_dataset=val_items)
    recipe.setup()
    try:
        recipe.train()
    finally:
        recipe.cleanup()
    return recipe


def final_weights(output_dir) -> dict[str, torch.Tensor]:
    return load_file(str(list_checkpoints(output_dir)[-1] / "model" / "model.safetensors"))


def test_tiny_model_learns_and_logs_per_level_metrics(tmp_path, train_items, val_items):
    config = tiny_train_config(
        tmp_path, "log.val_every=40", "log.generate_examples=2", "log.prompt_frames=4"
    )
    recipe = run(config, train_items, val_items)
    history: dict[int, dict[str, float]] = {}
    for step, values in recipe.metrics.history:
        history.setdefault(step, {}).update(values)
    train_steps = sorted(step for step, values in recipe.metrics.history if "train/loss" in values)
    first, last = history[train_steps[0]]["train/loss"], history[train_steps[-1]]["train/loss"]
    assert last < 0.6 * first
    logged = history[40]
    for key in ("train/lr", "train/grad_norm", "perf/frames_per_s", "train/accuracy/level_0"):
        assert key in logged
    val = [values for _, values in recipe.metrics.history if "val/loss" in values][-1]
    assert math.isfinite(val["val/loss"]) and val["val/loss"] < first
    assert {"val/accuracy/level_0", "val/generate_accuracy/level_1"} <= set(val)
    assert val["val/accuracy"] > 0.5
    assert recipe.progress.step == 40


def test_resume_continues_exactly(tmp_path):
    items = synthetic_tokens(20, seed=3, max_frames=50)
    common = [
        "optim.total_steps=9",
        "optim.grad_accum=2",
        "model.dropout=0.1",
        "data.max_frames=24",
        "data.batch_size=3",
    ]
    straight = tmp_path / "straight"
    run(tiny_train_config(straight, *common), items)
    split = tmp_path / "split"
    first = run(tiny_train_config(split, *common, "run.max_steps=4"), items)
    assert first.progress.step == 4 and first.progress.epoch == 1  # 3 steps per epoch
    resumed = run(tiny_train_config(split, *common), items)
    assert resumed.progress.step == 9
    a, b = final_weights(straight), final_weights(split)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert resumed.progress.examples_seen == 9 * 2 * 3


def test_persistent_workers_give_the_batches_of_the_main_process(tmp_path, train_items):
    """One loader serves every epoch (workers kept): the run equals one without workers."""
    common = ["optim.total_steps=20", "model.dropout=0.1"]  # 8 steps per epoch
    inline = run(tiny_train_config(tmp_path / "inline", *common), train_items)
    workers = run(tiny_train_config(tmp_path / "w", *common, "data.num_workers=2"), train_items)
    assert workers.progress.epoch == 2 and workers.progress.step == 20
    for name, value in inline.model.state_dict().items():
        assert torch.equal(workers.model.state_dict()[name], value), name


def test_checkpoints_are_complete_and_pruned(tmp_path, train_items):
    config = tiny_train_config(
        tmp_path, "optim.total_steps=7", "run.checkpoint_every=2", "run.keep_last=2"
    )
    recipe = run(config, train_items)
    names = [path.name for path in list_checkpoints(tmp_path)]
    assert names == ["step_00000006", "step_00000007"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    loaded = SoundStorm.from_pretrained(tmp_path / "checkpoints" / "step_00000007" / "model")
    for name, value in recipe.model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    assert (tmp_path / "train_config.yaml").is_file()
    assert (tmp_path / "checkpoints" / "step_00000007" / "rng" / "rank_00000.json").is_file()


def test_resume_latest_without_checkpoint_is_an_error(tmp_path, train_items):
    recipe = TrainRecipe(tiny_train_config(tmp_path, "run.resume=latest"), train_items)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        recipe.setup()
    recipe.cleanup()


def poison(recipe: TrainRecipe, bad_calls: set[int] | None):
    """Make the model's output NaN on the given forward calls (all when None)."""
    calls = {"n": 0}

    def hook(module, inputs, output):
        calls["n"] += 1
        if bad_calls is None or calls["n"] in bad_calls:
            return output * float("nan")
        return output

    return recipe.model.register_forward_hook(hook)


def test_nonfinite_step_is_skipped(tmp_path, train_items):
    recipe = TrainRecipe(tiny_train_config(tmp_path, "optim.total_steps=6"), train_items)
    recipe.setup()
    poison(recipe, bad_calls={3, 4})
    snapshots = []
    original = recipe.train_step

    def recording_step(micro):
        before = {k: v.clone() for k, v in recipe.model.state_dict().items()}
        result = original(micro)
        after = {k: v.clone() for k, v in recipe.model.state_dict().items()}
        snapshots.append((result["finite"], before, after))
        return result

    recipe.train_step = recording_step
    try:
        recipe.train()
    finally:
        recipe.cleanup()
    assert [finite for finite, _, _ in snapshots] == [True, True, False, False, True, True]
    for finite, before, after in snapshots:
        same = all(torch.equal(before[k], after[k]) for k in before)
        assert same != finite
    assert recipe.progress.step == 6 and recipe.progress.nonfinite_streak == 0
    skipped = [s for s, values in recipe.metrics.history if "train/skipped_nonfinite" in values]
    assert skipped == [3, 4]
    assert recipe.optimizer.state_dict()["state"][0]["step"] == 4


def test_many_nonfinite_steps_stop_training(tmp_path, train_items):
    config = tiny_train_config(tmp_path, "optim.max_nonfinite_steps=3")
    recipe = TrainRecipe(config, train_items)
    recipe.setup()
    poison(recipe, bad_calls=None)
    with pytest.raises(SoundStormError, match="3 consecutive steps with a non-finite"):
        recipe.train()
    recipe.cleanup()
    assert recipe.progress.step == 3


def test_out_of_range_token_stops_training_naming_the_utterance(tmp_path, train_items):
    train_items[5]["codes"][0, 2] = 999
    recipe = TrainRecipe(tiny_train_config(tmp_path, "data.num_workers=1"), train_items)
    recipe.setup()
    with pytest.raises(SoundStormError, match=r"^utterance 'utt0_005': acoustic token 999"):
        recipe.train()
    recipe.cleanup()


def test_bf16_autocast_trains_with_float32_weights(tmp_path, train_items):
    recipe = run(
        tiny_train_config(tmp_path, "run.precision=bf16", "optim.total_steps=4"), train_items
    )
    losses = [v["train/loss"] for _, v in recipe.metrics.history if "train/loss" in v]
    assert losses and all(math.isfinite(loss) for loss in losses)
    assert all(p.dtype == torch.float32 for p in recipe.model.parameters())


@pytest.mark.slow
def test_compiled_training_matches_eager_closely(tmp_path, train_items):
    eager = run(tiny_train_config(tmp_path / "eager", "optim.total_steps=3"), train_items)
    compiled = run(
        tiny_train_config(tmp_path / "compiled", "optim.total_steps=3", "run.compile=true"),
        train_items,
    )
    for name, value in eager.model.state_dict().items():
        torch.testing.assert_close(compiled.model.state_dict()[name], value, rtol=1e-3, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_run_uses_bf16_autocast_and_reports_mfu(tmp_path, train_items):
    config = tiny_train_config(
        tmp_path, "run.device=cuda", "optim.total_steps=12", "log.every=4", "log.peak_flops=1e14"
    )
    recipe = run(config, train_items)
    assert recipe.precision == "bf16" and recipe.device.type == "cuda"
    logged = {k: v for _, values in recipe.metrics.history for k, v in values.items()}
    assert math.isfinite(logged["train/loss"]) and logged["perf/mfu"] > 0
    assert "perf/steady_frames_per_s" in logged


def test_resume_stays_exact_with_the_masking_options(tmp_path):
    """Known suffixes and prompt dropout are drawn from (seed, epoch, utterance) like the
    paper's masks: a run stopped and resumed ends with the weights of the straight run. The
    options reach the training batches only; validation keeps the paper's masks."""
    items = synthetic_tokens(20, seed=4, max_frames=50)
    common = [
        "optim.total_steps=8",
        "data.max_frames=24",
        "data.batch_size=3",
        "masking.known_suffix_fraction=0.5",
        "masking.prompt_dropout=0.3",
    ]
    straight = run(tiny_train_config(tmp_path / "straight", *common), items, items[:4])
    assert straight.train_set.masking == {
        "known_suffix_fraction": 0.5,
        "prompt_dropout": 0.3,
        "level_weights": None,
    }
    assert straight.val_set is None or straight.val_set.masking["prompt_dropout"] == 0.0
    split = tmp_path / "split"
    run(tiny_train_config(split, *common, "run.max_steps=3"), items)
    resumed = run(tiny_train_config(split, *common), items)
    assert resumed.progress.step == 8
    a, b = final_weights(tmp_path / "straight"), final_weights(split)
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_validation_utterances_do_not_depend_on_the_batch_size(tmp_path, train_items):
    """val/loss scores log.val_batches x batch_size utterances taken in one seeded order of the
    whole split: the same utterances at every batch size, not the split's first ones (a split
    sorted by voice would otherwise give a val/loss that depends on the batch size)."""
    val_items = synthetic_tokens(24, seed=5)

    def scored(batch_size: int, batches: int, seed: int = 0) -> list[int]:
        config = tiny_train_config(
            tmp_path / f"b{batch_size}_{batches}_{seed}",
            f"data.batch_size={batch_size}",
            f"log.val_batches={batches}",
            f"run.seed={seed}",
        )
        recipe = TrainRecipe(config, train_dataset=train_items, val_dataset=val_items)
        recipe.setup()
        try:
            keys = [key for n, b in enumerate(recipe.val_sampler) if n < batches for key in b]
        finally:
            recipe.cleanup()
        assert all(epoch == -1 for epoch, _ in keys)
        return [index for _, index in keys]

    eight = scored(4, 2)
    assert sorted(scored(2, 4)) == sorted(eight) == sorted(scored(8, 1))
    assert sorted(eight) != list(range(8))  # not the split's first utterances
    assert len(set(scored(8, 3))) == 24  # every utterance when the batches cover the split
    assert sorted(scored(8, 1, seed=1)) != sorted(eight)  # the order is the run's seed's
