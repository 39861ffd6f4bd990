"""benchmarks/val_loss.py: the recipe's own validation loss on the same utterances, a model
that learned beating an untrained one, mask repeats, and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
import val_loss  # benchmarks/val_loss.py (tests/benchmarks/conftest.py)

from soundstorm.config import SoundStormConfig
from soundstorm.model import SoundStorm
from soundstorm.train.checkpoint import list_checkpoints

from tests.train.train_fixtures import (
    CODEBOOK,
    COND_VOCAB,
    EMBEDDED_CODEC,
    NUM_LEVELS,
    synthetic_tokens,
    tiny_train_config,
    write_synthetic_shards,
)


def test_matches_the_recipes_validation_and_ranks_a_trained_model_first(tmp_path):
    from soundstorm.train.recipe import TrainRecipe

    tokens = write_synthetic_shards(tmp_path / "tokens", EMBEDDED_CODEC, "codec", counts=(24, 6))
    torch.manual_seed(0)
    config = tiny_train_config(
        tmp_path / "run",
        "optim.total_steps=60",
        "data.batch_size=6",  # the 6 valid utterances in one validation batch
        "log.val_every=60",
        "log.val_batches=1",
        "run.checkpoint_every=60",
    )
    recipe = TrainRecipe(
        config,
        train_dataset=synthetic_tokens(24, seed=0),
        val_dataset=synthetic_tokens(6, seed=1),  # what write_synthetic_shards' valid holds
    )
    recipe.setup()
    try:
        recipe.train()
    finally:
        recipe.cleanup()
    logged = [values["val/loss"] for _, values in recipe.metrics.history if "val/loss" in values]
    trained = list_checkpoints(tmp_path / "run")[-1] / "model"
    untrained = tmp_path / "untrained"
    SoundStorm(recipe.model.config).save_pretrained(untrained)

    out = tmp_path / "report.json"
    argv = ["--tokens", str(tokens), "--max-frames", "32", "--threads", "1", "--out", str(out)]
    assert val_loss.main([*argv, "--model", str(trained), str(untrained), "--repeats", "2"]) == 0
    report = json.loads(out.read_text())
    good, bad = report["results"]
    assert report["utterances"] == 6 and report["seeds"] == [0, 1]
    assert good["loss"] < bad["loss"] - 1.0 and good["accuracy"] > bad["accuracy"] + 0.3
    assert good["loss_sd"] > 0  # two mask draws differ
    assert len(good["levels"]) == NUM_LEVELS

    # seed 0 alone: the recipe's validation of the same weights, utterances and masks
    assert val_loss.main([*argv, "--model", str(trained), "--label", "run"]) == 0
    (row,) = json.loads(out.read_text())["results"]
    assert row["label"] == "run" and row["loss_sd"] is None
    assert row["loss"] == pytest.approx(logged[-1], rel=1e-4)


def test_a_model_that_cannot_take_the_tokens_is_a_one_line_error(tmp_path, capsys):
    tokens = write_synthetic_shards(tmp_path / "tokens", EMBEDDED_CODEC, "codec", counts=(2, 2))
    small = SoundStormConfig.from_name(
        "tiny", num_levels=NUM_LEVELS, codebook_size=CODEBOOK, cond_vocab_size=COND_VOCAB - 1
    )
    SoundStorm(small).save_pretrained(tmp_path / "model")
    argv = ["--tokens", str(tokens), "--model", str(tmp_path / "model"), "--threads", "1"]
    assert val_loss.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "model.cond_vocab_size 7" in err
    assert val_loss.main([*argv, "--split", "test"]) == 1
    assert "no shard for split 'test'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        val_loss.main([*argv, "--label", "a", "b"])
