"""Fixtures of the semantic tests: tiny speech models saved locally."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """``{"hubert": dir, "w2v-bert": dir}``: tiny random models (``tiny_speech_models``)
    written with ``save_pretrained``; skipped without ``transformers``."""
    pytest.importorskip("transformers")
    from tiny_speech_models import save_tiny_models

    return save_tiny_models(tmp_path_factory.mktemp("tiny_models"))
