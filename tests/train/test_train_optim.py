"""AdamW parameter groups and the warm-up + cosine schedule."""

from __future__ import annotations

import math

import pytest
import torch

from soundstorm import SoundStorm, SoundStormConfig
from soundstorm.train.config import OptimConfig
from soundstorm.train.optim import (
    build_optimizer,
    build_scheduler,
    parameter_groups,
    warmup_cosine_factor,
)


def test_no_weight_decay_on_norms_biases_and_embeddings():
    model = SoundStorm(SoundStormConfig.tiny(depth=1))
    decay, no_decay = parameter_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    plain = {names[id(p)] for p in no_decay["params"]}
    assert decayed and plain and not decayed & plain
    assert decayed | plain == set(names.values())
    assert {"code_embedding.weight", "cond_embedding.weight", "head_bias"} <= plain
    for name, param in model.named_parameters():
        if param.ndim < 2:
            assert name in plain, name
    assert all(model.get_parameter(n).ndim >= 2 for n in decayed)
    assert any("norm" in n for n in plain)


def test_schedule_warms_up_then_decays_to_the_floor():
    factors = [warmup_cosine_factor(s, 10, 110, 0.1) for s in range(130)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:9], factors[1:10]))
    assert all(a >= b for a, b in zip(factors[10:110], factors[11:111]))
    assert factors[60] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert factors[110] == pytest.approx(0.1) and factors[129] == pytest.approx(0.1)


def test_scheduler_drives_the_optimizer_lr():
    model = torch.nn.Linear(3, 3)
    config = OptimConfig(lr=1e-2, warmup_steps=4, total_steps=20, min_lr_ratio=0.0)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config)
    seen = []
    for _ in range(20):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen[3] == pytest.approx(1e-2) and seen[0] == pytest.approx(2.5e-3)
    assert seen[-1] < 1e-3


@pytest.mark.parametrize("new_total", [60, 200, 400])
def test_a_refit_past_the_warm_up_never_moves_the_learning_rate_up(new_total):
    """run.schedule_by_time refits the length; the lr must go on falling from where it is
    (session 10: a refit near the end of a CPU run raised it from 3e-5 back to 1.2e-4)."""
    from soundstorm.train.optim import Schedule

    schedule = Schedule(warmup_steps=10, total_steps=110, min_lr_ratio=0.1)
    before = [schedule.factor(s) for s in range(51)]
    schedule.refit(50, new_total)
    after = [schedule.factor(s) for s in range(50, new_total + 20)]
    assert after[0] == pytest.approx(before[50])  # continuous at the refit
    assert all(a >= b - 1e-12 for a, b in zip(after, after[1:]))  # and falling after it
    assert after[new_total - 50] == pytest.approx(0.1) and after[-1] == pytest.approx(0.1)
    schedule.refit(new_total - 5, new_total + 100)  # again, later: continuous again
    assert schedule.factor(new_total - 5) == pytest.approx(after[new_total - 55])


def test_a_refit_in_the_warm_up_keeps_the_plain_schedule():
    from soundstorm.train.optim import Schedule

    schedule = Schedule(warmup_steps=10, total_steps=1000, min_lr_ratio=0.1)
    schedule.refit(5, 110)
    assert schedule.anchor is None
    assert [schedule.factor(s) for s in range(130)] == [
        warmup_cosine_factor(s, 10, 110, 0.1) for s in range(130)
    ]
