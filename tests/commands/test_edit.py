"""`soundstorm edit` end to end: a tiny voice model, its fitted codec, the phone tokenizer."""

from __future__ import annotations

import argparse

import pytest
import soundfile

from soundstorm.cli import build_parser, main
from soundstorm.decoding import DecodeOptions

from tests.voice_fakes import SR, write_tones


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    return write_tones(tmp_path_factory.mktemp("audio"), (("rec", 2.0, 5), ("words", 0.5, 6)))


def _edit(model, audio, out, *extra):
    return main(
        [
            "edit",
            "--model",
            str(model),
            "--audio",
            str(audio / "rec.wav"),
            "--out",
            str(out),
            "--steps",
            "2",
            *extra,
        ]
    )


def test_edit_writes_the_recording_with_the_new_span(voice_model_dir, audio, tmp_path, capsys):
    out = tmp_path / "edited.wav"
    args = ["--start", "0.5", "--end", "0.9", "--content", str(audio / "words.wav")]
    assert _edit(voice_model_dir, audio, out, *args, "--keep-silence") == 0
    wav, sr = soundfile.read(out)
    assert sr == SR
    frames = 100 - 20 + 25  # 2 s - 0.4 s + 0.5 s at 50 frames/s
    assert abs(len(wav) - frames * SR / 50) <= SR / 50
    assert "0.5-0.9 s replaced by 0.50 s of new content" in capsys.readouterr().out


@pytest.mark.parametrize(
    "start, end, message",
    [
        ("0.9", "0.5", "must start before it ends"),
        ("1.5", "2.5", "outside the audio"),
        ("-0.2", "0.5", "outside the audio"),
        ("0.5", "0.505", "shorter than one codec frame"),
    ],
)
def test_bad_spans_are_one_line_errors_and_write_nothing(
    voice_model_dir, audio, tmp_path, capsys, start, end, message
):
    out = tmp_path / "edited.wav"
    args = ["--start", start, "--end", end, "--content", str(audio / "words.wav")]
    assert _edit(voice_model_dir, audio, out, *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("soundstorm edit: error:") and "\n" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_edit_takes_the_shared_flags_and_passes_the_options_whole(
    voice_model_dir, audio, tmp_path, spy
):
    parser = build_parser(only="edit")
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flags = {flag for a in action.choices["edit"]._actions for flag in a.option_strings}
    assert {"--guidance-scale", "--steps", "--device", "--quiet", "--seed", "--out"} <= flags
    args = ["--start", "0.5", "--end", "0.9", "--content", str(audio / "words.wav")]
    extra = ["--guidance-scale", "1.5", "--temperature", "0", "--quiet", "--seed", "3"]
    assert _edit(voice_model_dir, audio, tmp_path / "o.wav", *args, *extra) == 0
    assert spy == [DecodeOptions(steps=2, temperature=0.0, guidance_scale=1.5)]
