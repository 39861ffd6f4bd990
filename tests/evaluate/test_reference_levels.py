"""The reference-level measurement on flite voices."""

from __future__ import annotations

import pytest

from soundstorm.errors import SoundStormError
from soundstorm.evaluate.reference_levels import levels_markdown, measure_reference_levels

from tests.evaluate.conftest import MuLawCodec


def test_reference_levels_need_two_voices():
    with pytest.raises(SoundStormError, match="two voices"):
        measure_reference_levels(("slt",))


@pytest.mark.slow
def test_reference_levels_separate_voices_and_recognise_speech():
    levels = measure_reference_levels(("slt", "rms"), sentences_count=3, codec=MuLawCodec())
    speaker = levels["speaker"]
    assert speaker["same_voice_mean"] > speaker["different_voice_mean"] + 0.1
    assert all(0.0 <= wer < 0.7 for wer in levels["wer"].values())
    assert all(2.0 < scores["ovrl"] < 5.0 for scores in levels["dnsmos"].values())
    for voice, resynthesis in levels["resynthesis"].items():  # mu-law keeps nearly everything
        assert resynthesis["wer"] <= levels["wer"][voice] + 0.15
        assert resynthesis["stoi"] > 0.9 and resynthesis["similarity"] > 0.95
    table = levels_markdown(levels)
    assert "| slt |" in table and "| slt-rms |" in table and "resynthesis by mulaw" in table
