"""The recipe's objective on pre-drawn masks equals ``SoundStorm.loss`` on the same masks."""

from __future__ import annotations

import torch

from soundstorm import SoundStorm, SoundStormConfig
from soundstorm.masking import sample_training_masks
from soundstorm.train.objective import MaskedTokenObjective, count_scored_tokens


def test_objective_and_model_loss_are_one_computation():
    config = SoundStormConfig.tiny(depth=1)
    model = SoundStorm(config).eval()
    codes = torch.randint(0, config.codebook_size, (3, config.num_levels, 12))
    cond = torch.randint(0, config.cond_vocab_size, (3, 12))
    lengths = torch.tensor([12, 9, 5])
    expected = model.loss_and_stats(codes, cond, lengths, torch.Generator().manual_seed(4))
    masked, level, _ = sample_training_masks(
        config.num_levels, lengths, torch.Generator().manual_seed(4), num_frames=12
    )
    loss_sum, correct, scored = MaskedTokenObjective(model)(codes, cond, lengths, masked, level)
    assert torch.equal(level, expected.level)
    assert (
        int(scored.sum())
        == int(expected.num_masked.sum())
        == int(count_scored_tokens(masked, level))
    )
    assert int(correct.sum()) == int(expected.num_correct.sum())
    assert torch.allclose(loss_sum / scored.sum(), expected.loss)
    per_level = torch.zeros(config.num_levels, dtype=torch.long).scatter_add_(
        0, level, expected.num_masked
    )
    assert torch.equal(scored, per_level)
