"""Tests of the text front end: phone ids and durations from flite / festival."""

from __future__ import annotations

import itertools
import shutil
import tempfile

import pytest
import torch

from soundstorm.errors import SoundStormError
from soundstorm.semantic import text_to_semantic
from soundstorm.semantic.phones import PHONES, SILENCE_ID, PhoneTokenizer, phone_id
from soundstorm.semantic.text import (
    TEXT_VOICES,
    phone_frames,
    phone_segments,
    synthesize_text,
    text_voice,
)

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
needs_festival = pytest.mark.skipif(
    shutil.which("festival") is None, reason="festival not installed"
)


def collapsed(tokens: torch.Tensor) -> list[str]:
    """Phone names of a frame sequence with repeats merged: ``[SIL, HH, AH, ...]``."""
    return [name for name, _ in itertools.groupby(PhoneTokenizer.phone_names(tokens))]


def test_phone_frames_places_each_frame_in_the_phone_holding_its_centre():
    phones = [("pau", 0.0, 0.1), ("hh", 0.1, 0.2), ("ax", 0.2, 0.3)]
    frames = phone_frames(phones, duration_s=0.4, frame_rate=50)
    expected = [SILENCE_ID] * 5 + [phone_id("HH")] * 5 + [phone_id("AH")] * 5 + [SILENCE_ID] * 5
    assert frames.dtype == torch.long and frames.tolist() == expected
    slow = phone_frames(phones, duration_s=0.4, frame_rate=50, duration_scale=2.0)
    assert slow.tolist() == [i for i in expected for _ in range(2)], "2x: every frame twice"
    hh, ah = phone_id("HH"), phone_id("AH")
    assert phone_frames(phones, 0.4, frame_rate=20).tolist() == [0, 0, hh, hh, ah, ah, 0, 0]
    assert phone_frames([], 0.01, 50).tolist() == [SILENCE_ID], "at least one frame"
    assert phone_frames(phones, 0.4, num_frames=22).tolist() == expected + [SILENCE_ID] * 2
    with pytest.raises(SoundStormError, match="unknown phone"):
        phone_frames([("qq", 0.0, 0.1)], 0.1)
    with pytest.raises(SoundStormError, match="must be finite and > 0"):
        phone_frames(phones, 0.4, duration_scale=0.0)
    with pytest.raises(SoundStormError, match="must be finite and > 0"):
        text_to_semantic("hello", frame_rate=float("nan"))  # before any synthesiser runs


@needs_flite
def test_hello_world_gives_its_phones_in_order_between_silences():
    tokens = text_to_semantic("hello world")
    assert tokens.dtype == torch.long and tokens.dim() == 1
    assert 0 <= int(tokens.min()) and int(tokens.max()) < len(PHONES)
    assert collapsed(tokens) == ["SIL", "HH", "AH", "L", "OW", "W", "ER", "L", "D", "SIL"]
    names = [name for name, _, _ in phone_segments("hello world")]
    assert names[0] == names[-1] == "pau" and "hh" in names


@needs_flite
@pytest.mark.parametrize("frame_rate", [50.0, 75.0, 12.5])
def test_length_is_the_synthesised_duration_at_the_frame_rate(frame_rate):
    text = "The birch canoe slid on the smooth planks."
    result = synthesize_text(text)
    seconds = result.audio.shape[0] / result.sample_rate
    tokens = text_to_semantic(text, frame_rate=frame_rate)
    assert len(tokens) == round(result.audio.shape[0] * frame_rate / result.sample_rate)
    assert abs(len(tokens) - seconds * frame_rate) <= 0.5
    ends = [end for _, _, end in result.phones]
    assert ends == sorted(ends) and abs(ends[-1] - seconds) < 0.2


@needs_flite
def is_subsequence(short: list[str], long: list[str]) -> bool:
    remaining = iter(long)
    return all(name in remaining for name in short)


@needs_flite
def test_duration_scale_stretches_the_timeline_and_keeps_the_phones():
    text = "Glue the sheet to the dark blue background."
    normal = text_to_semantic(text)
    seconds = synthesize_text(text).audio.shape[0] / 16000
    slow, fast = (text_to_semantic(text, duration_scale=s) for s in (2.0, 0.5))
    assert len(slow) == round(seconds * 100) and len(fast) == round(seconds * 25)
    # Stretching only adds frames: every phone kept; compressing may drop phones < 40 ms.
    assert is_subsequence(collapsed(normal), collapsed(slow))
    assert is_subsequence(collapsed(fast), collapsed(normal))
    speech = int((normal != SILENCE_ID).sum())
    assert abs(int((slow != SILENCE_ID).sum()) - 2 * speech) <= 4


@needs_flite
def test_voices_time_the_same_phones_differently_and_leave_no_files(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    slt = text_to_semantic("Kick the ball.", voice="flite-slt")
    kal = text_to_semantic("Kick the ball.", voice="flite-kal16")
    assert (
        collapsed(slt)
        == collapsed(kal)
        == ["SIL", "K", "IH", "K", "DH", "AH", "B", "AO", "L", "SIL"]
    )
    assert len(slt) != len(kal)
    assert list(tmp_path.iterdir()) == [], "the work directory is removed"


@needs_festival
def test_festival_voice_reads_quotes_and_backslashes():
    assert "festival-kal" in TEXT_VOICES and text_voice("festival-kal").engine == "festival"
    try:
        tokens = text_to_semantic('She said "yes" \\ twice.', voice="festival-kal")
    except SoundStormError as error:
        if "apt-get install" in str(error):  # festival without the kal voice package
            pytest.skip(str(error))
        raise
    assert collapsed(tokens)[:4] == ["SIL", "SH", "IY", "S"]
    assert collapsed(tokens)[-1] == "SIL"


@pytest.mark.parametrize(
    "text, voice, message",
    [
        ("", "flite-slt", "text to say is empty"),
        ("  \n", "flite-slt", "text to say is empty"),
        ("hi", "nope", "text voice 'nope' is unknown: choose one of flite-"),
        ("hi", "piper-joe", "a piper voice, without ARPAbet phones"),
    ],
)
def test_bad_text_or_voice_is_a_one_line_error(text, voice, message):
    with pytest.raises(SoundStormError, match=message) as error:
        text_to_semantic(text, voice=voice)
    assert "\n" not in str(error.value)


def test_missing_synthesiser_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither flite nor festival on PATH
    with pytest.raises(SoundStormError, match="apt-get install -y flite$"):
        text_to_semantic("hello")
    with pytest.raises(SoundStormError, match="apt-get install -y festival"):
        text_to_semantic("hello", voice="festival-slt")


def test_failing_synthesiser_is_an_error_naming_it(tmp_path, monkeypatch):
    fake = tmp_path / "flite"
    fake.write_text(
        "#!/bin/sh\necho 'flite: cannot open voice' >&2\necho second line >&2\nexit 3\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SoundStormError, match="flite failed to say 'hello'.*cannot open voice"):
        text_to_semantic("hello")
