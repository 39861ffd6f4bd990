"""`soundstorm demo` (the main job): say this in that voice, write audio, plots and the table."""

import json

import pytest
import soundfile

from soundstorm.cli import main

from tests.voice_fakes import SR, write_tones


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    return write_tones(tmp_path_factory.mktemp("audio"), (("content", 1.6, 1), ("voice", 4.0, 3)))


def run_demo(voice_model_dir, audio, out, *extra):
    return main(
        ["demo", "--model", str(voice_model_dir), "--content", str(audio / "content.wav"),
         "--prompt", str(audio / "voice.wav"), "--out-dir", str(out), *extra]
    )  # fmt: skip


def test_generates_the_content_length_and_keeps_the_prompt_seconds(
    voice_model_dir, audio, tmp_path
):
    out = tmp_path / "out"
    assert run_demo(voice_model_dir, audio, out, "--no-eval", "--prompt-seconds", "2.5") == 0
    generated, rate = soundfile.read(out / "generated.wav")
    assert rate == SR
    assert abs(len(generated) / SR - 1.6) <= 0.04  # one 50 Hz frame either side
    assert abs(soundfile.info(out / "prompt.wav").duration - 2.5) < 1e-3
    assert soundfile.info(out / "content.wav").frames == int(1.6 * SR)
    assert not (out / "results.md").exists()


def test_evaluation_table_and_spectrograms(voice_model_dir, audio, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_demo(voice_model_dir, audio, out, "--content-text", "one two three") == 0
    table = capsys.readouterr().out
    assert "| demo |" in table and "sim_generated_prompt" in table
    results = json.loads((out / "results.json").read_text())
    metrics = results["items"][0]["metrics"]
    for name in ("wer_generated", "wer_resynthesis", "sim_generated_prompt", "rtf"):
        assert name in metrics, name
    assert 0.0 <= metrics["wer_generated"] and -1.0 <= metrics["sim_generated_prompt"] <= 1.0
    assert (out / "spectrograms_demo.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--prompt", "/nonexistent/voice.wav"], "not found"),
        (["--unseen"], "--prompt or --unseen"),
        (["--prompt-seconds", "0"], "--prompt-seconds"),
        (["--steps", "0"], "--steps"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    voice_model_dir, audio, tmp_path, capsys, extra, message
):
    out = tmp_path / "out"
    args = ["demo", "--model", str(voice_model_dir), "--content", str(audio / "content.wav"),
            "--prompt", str(audio / "voice.wav"), "--out-dir", str(out), "--no-eval"]  # fmt: skip
    code = main(args + extra)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_text_and_content_are_exclusive(voice_model_dir, audio, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_demo(voice_model_dir, audio, tmp_path / "out", "--text", "hello")
    assert exit_info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_text_is_said_in_the_prompt_voice(voice_model_dir, audio, tmp_path):
    from soundstorm.semantic import text_to_semantic

    out = tmp_path / "out"
    args = ["demo", "--model", str(voice_model_dir), "--text", "Kick the ball.", "--prompt",
            str(audio / "voice.wav"), "--out-dir", str(out), "--no-eval"]  # fmt: skip
    assert main(args) == 0
    frames = len(text_to_semantic("Kick the ball.", frame_rate=50.0))
    assert abs(soundfile.info(out / "generated.wav").duration - frames / 50) <= 0.02
    assert not (out / "content.wav").exists()


@pytest.mark.parametrize(("extra", "aligned"), [((), True), (("--recognise",), False)])
def test_the_content_transcript_is_aligned_unless_recognise(
    voice_model_dir, audio, tmp_path, monkeypatch, capsys, extra, aligned
):
    from soundstorm.pipeline import VoicePipeline

    original, seen = VoicePipeline.make_request, []

    def make_request(self, *args, **kwargs):
        seen.append(kwargs.get("content_transcript"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(VoicePipeline, "make_request", make_request)
    options = ("--content-text", "one two three", "--no-eval", *extra)
    assert run_demo(voice_model_dir, audio, tmp_path / "out", *options) == 0
    assert seen == ["one two three" if aligned else None]
    said = "its transcript aligned" if aligned else "its words recognised"
    assert said in capsys.readouterr().err
