"""Checkpoint discovery and RNG state round trips."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from soundstorm.train.checkpoint import (
    find_resume_checkpoint,
    list_checkpoints,
    rng_state,
    set_rng_state,
)


def make_checkpoint(root, step: int, complete: bool = True):
    path = root / "checkpoints" / (f"step_{step:08d}" if complete else f".tmp_step_{step:08d}")
    path.mkdir(parents=True)
    (path / "trainer.pt").write_bytes(b"")
    return path


def test_resume_modes(tmp_path):
    assert find_resume_checkpoint(tmp_path, "auto") is None
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        find_resume_checkpoint(tmp_path, "latest")
    make_checkpoint(tmp_path, 20)
    newest = make_checkpoint(tmp_path, 100)
    make_checkpoint(tmp_path, 300, complete=False)  # an interrupted write is ignored
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000020", "step_00000100"]
    assert find_resume_checkpoint(tmp_path, "auto") == newest
    assert find_resume_checkpoint(tmp_path, "latest") == newest
    assert find_resume_checkpoint(tmp_path, "never") is None
    older = tmp_path / "checkpoints" / "step_00000020"
    assert find_resume_checkpoint(tmp_path, str(older)) == older
    with pytest.raises(FileNotFoundError, match="not a training checkpoint"):
        find_resume_checkpoint(tmp_path, str(tmp_path))


def test_rng_state_round_trip():
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    state = rng_state()
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0])
    assert np.array_equal(first[1], again[1]) and first[2] == again[2]
