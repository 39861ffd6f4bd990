"""benchmarks/first_level.py: the first decoding pass's inputs, perfect and chance scores, a
tiny model that learned beating an untrained one, and one-line errors."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import first_level  # benchmarks/first_level.py (tests/benchmarks/conftest.py)
import pytest
import torch

from soundstorm.config import SoundStormConfig
from soundstorm.model import SoundStorm

from tests.train.train_fixtures import (
    CODEBOOK,
    COND_VOCAB,
    EMBEDDED_CODEC,
    NUM_LEVELS,
    synthetic_tokens,
    tiny_train_config,
    write_synthetic_shards,
)
from tests.voice_fakes import make_voice_model


class Oracle(torch.nn.Module):
    """Checks that it gets the first pass's inputs, and answers ``semantic mod K`` (or
    nothing: uniform logits) for every frame."""

    def __init__(self, prompt: torch.Tensor, uniform: bool = False):
        super().__init__()
        self.config = SimpleNamespace(num_levels=2, codebook_size=CODEBOOK, mask_id=CODEBOOK)
        self.prompt, self.uniform = prompt, uniform

    def forward(self, codes, cond, level):
        assert level == 0 and codes.shape[:2] == (1, 2)
        P = self.prompt.shape[-1]
        assert torch.equal(codes[0, :, :P], self.prompt[:2])  # the prompt, all levels
        assert bool((codes[0, :, P:] == CODEBOOK).all())  # then every code masked
        if self.uniform:
            return torch.zeros(1, cond.shape[1], CODEBOOK)
        return torch.nn.functional.one_hot(cond % CODEBOOK, CODEBOOK).float() * 50.0


def test_first_pass_inputs_and_perfect_and_chance_scores():
    torch.manual_seed(0)
    semantic = torch.randint(0, COND_VOCAB, (30,))
    codes = torch.stack([semantic % CODEBOOK, torch.randint(0, CODEBOOK, (30,))])
    prompt = torch.randint(0, CODEBOOK, (2, 7))
    vectors = torch.randn(CODEBOOK, 5)
    perfect = first_level.first_pass_scores(
        Oracle(prompt), codes, semantic, prompt, torch.randint(0, COND_VOCAB, (7,)), vectors
    )
    row = first_level.summarise(perfect)
    assert row["frames"] == 30 and row["accuracy"] == 1.0 and row["top5"] == 1.0
    assert row["nll"] < 1e-6 and row["code_distance"] < 1e-6

    chance = first_level.summarise(
        first_level.first_pass_scores(
            Oracle(prompt, uniform=True), codes, semantic, prompt, semantic[:7], vectors
        )
    )
    assert chance["nll"] == pytest.approx(math.log(CODEBOOK))
    assert 0.3 < chance["code_distance"] < 1.0  # the mean vector: nearer than a random code


def train_tiny(output_dir: Path, steps: int) -> SoundStorm:
    from soundstorm.train.recipe import TrainRecipe

    items = synthetic_tokens(24, seed=0)
    recipe = TrainRecipe(tiny_train_config(output_dir, f"optim.total_steps={steps}"), items)
    recipe.setup()
    try:
        recipe.train()
    finally:
        recipe.cleanup()
    return recipe.model


def test_a_model_that_learned_beats_an_untrained_one(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    shutil.copyfile(
        make_voice_model(tmp_path / "voice", NUM_LEVELS, CODEBOOK) / "codec.safetensors",
        tokens / "codec.safetensors",
    )
    write_synthetic_shards(tokens, EMBEDDED_CODEC, "codec.safetensors", counts=(4, 6))
    torch.manual_seed(0)
    trained = train_tiny(tmp_path / "run", steps=150)
    trained.save_pretrained(tmp_path / "trained")
    untrained = SoundStorm(trained.config)
    untrained.save_pretrained(tmp_path / "untrained")

    out = tmp_path / "report.json"
    argv = ["--tokens", str(tokens), "--split", "valid", "--prompt-seconds", "0.1"]
    models = [str(tmp_path / "trained"), str(tmp_path / "untrained")]
    assert first_level.main([*argv, "--model", *models, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    good, bad = (report[m]["all"] for m in models)
    frames = sum(item["codes"].shape[-1] for item in synthetic_tokens(6, seed=1))
    assert good["frames"] == bad["frames"] == frames  # every frame of the 6 utterances
    assert set(report[models[0]]) == {"all", "utt1"}  # the id's prefix is the voice
    assert good["accuracy"] > bad["accuracy"] + 0.3 and good["nll"] < bad["nll"] - 1.0
    assert good["code_distance"] < bad["code_distance"]
    assert (
        first_level.main([*argv, "--model", models[0], "--voices", "other", "--out", str(out)]) == 0
    )
    assert json.loads(out.read_text())[models[0]] == {}  # no utterance of that voice


def test_tokens_the_model_cannot_take_are_a_one_line_error(tmp_path, capsys):
    tokens = write_synthetic_shards(tmp_path / "tokens", EMBEDDED_CODEC, "codec", counts=(2, 2))
    small = SoundStormConfig.from_name(
        "tiny", num_levels=NUM_LEVELS, codebook_size=CODEBOOK, cond_vocab_size=COND_VOCAB - 1
    )
    SoundStorm(small).save_pretrained(tmp_path / "model")
    argv = ["--tokens", str(tokens), "--split", "valid", "--model", str(tmp_path / "model")]
    assert first_level.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "data semantic_vocab_size 8 > model.cond_vocab_size 7" in err
    assert first_level.main([*argv, "--tokens", str(tokens), str(tokens)]) == 2
