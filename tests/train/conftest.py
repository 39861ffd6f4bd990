"""Fixtures of the training tests (helpers live in ``train_fixtures``)."""

from __future__ import annotations

import pytest
import torch
from train_fixtures import synthetic_tokens


@pytest.fixture
def train_items() -> list[dict]:
    return synthetic_tokens(32, seed=0)


@pytest.fixture
def val_items() -> list[dict]:
    return synthetic_tokens(6, seed=1)


@pytest.fixture(autouse=True)
def _few_threads():
    """One intra-op thread: these models are tiny, and the test machine's cores are shared
    (several threads per process then mostly wait for each other)."""
    torch.set_num_threads(1)
