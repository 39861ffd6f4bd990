"""Fixtures of the command tests."""

from __future__ import annotations

import pytest

import soundstorm.inference as inference_module

from tests.voice_fakes import record_decode_options


@pytest.fixture
def spy(monkeypatch):
    """The ``options`` each ``generate_tokens`` call of the engine receives."""
    return record_decode_options(monkeypatch, inference_module)
