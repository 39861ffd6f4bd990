"""Audio a user gives that a codec or tokenizer cannot read, at every entry point (issue 10).

A clip shorter than one codec frame (the case found: 10 ms given to ``soundstorm encode``
ended in a ``torch.stft`` traceback), an empty file, a file that is not audio and a float
file of NaNs give one line on stderr naming the file, exit status 2 and no output file;
silent audio and a clip of exactly one frame give a valid result. Covered: ``encode``,
``prepare`` (a bad file goes to its report), ``generate`` (``--content``, ``--prompt``,
manifest rows), ``demo``, ``evaluate``, ``semantic tokenize`` and ``VoicePipeline``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from soundstorm.cli import main
from soundstorm.errors import AudioTooShortError

from tests.voice_fakes import SR, write_tones

SHORT_MESSAGE = "short.wav: audio is 10.0 ms long, shorter than one {frame} frame (20.0 ms)"


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> Path:
    """Good tones plus one file of each unusable kind, all generated here."""
    root = write_tones(tmp_path_factory.mktemp("audio"), (("content", 1.0, 1), ("voice", 2.0, 3)))
    rng = np.random.default_rng(0)
    soundfile.write(root / "short.wav", 0.3 * rng.standard_normal(160).astype(np.float32), SR)
    soundfile.write(root / "one_frame.wav", 0.3 * rng.standard_normal(320).astype(np.float32), SR)
    soundfile.write(root / "one_sample.wav", np.full(1, 0.3, np.float32), SR)
    soundfile.write(root / "empty.wav", np.zeros(0, np.float32), SR)
    soundfile.write(root / "silent.wav", np.zeros(SR, np.float32), SR)
    soundfile.write(root / "nan.wav", np.full(SR // 10, np.nan, np.float32), SR, "FLOAT")
    (root / "text.wav").write_text("this is not audio\n")
    return root


#: file -> what its one-line error says (``{frame}``: codec or semantic, by entry point).
UNUSABLE = {
    "short.wav": SHORT_MESSAGE,
    "one_sample.wav": "one_sample.wav: audio is 0.1 ms long, shorter than one {frame} frame",
    "empty.wav": "empty.wav: the file holds no samples",
    "text.wav": "cannot read audio file",
    "nan.wav": "nan.wav: the file holds NaN or infinite samples",
}


def one_line_error(capsys, command: str, expected: str) -> str:
    """The stderr of a failed command: one line, ``soundstorm COMMAND: error: ...``."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"soundstorm {command}: error: "), err
    assert "Traceback" not in err
    assert expected in err, err
    return err


# --------------------------------------------------------------------------- encode, prepare
@pytest.mark.parametrize("name", sorted(UNUSABLE))
def test_encode_refuses_unusable_audio_in_one_line_and_writes_nothing(
    voice_model_dir, audio, tmp_path, capsys, name
):
    out = tmp_path / "out" / "x.tokens"
    args = ["encode", str(audio / "content.wav"), str(audio / name), "-o", str(out)]
    rc = main(
        [*args, "--codec", str(voice_model_dir / "codec.safetensors"), "--semantic", "phones"]
    )
    assert rc == 2
    one_line_error(capsys, "encode", UNUSABLE[name].format(frame="codec"))
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


@pytest.mark.parametrize(("name", "frames"), [("silent.wav", 50), ("one_frame.wav", 1)])
def test_encode_accepts_silence_and_one_frame(voice_model_dir, audio, tmp_path, name, frames):
    from soundstorm.data import load_tokens

    out = tmp_path / "x.tokens"
    codec = str(voice_model_dir / "codec.safetensors")
    args = ["encode", str(audio / name), "-o", str(out), "--codec", codec, "--semantic", "phones"]
    assert main(args) == 0
    (utterance,) = load_tokens(out).utterances
    assert utterance.num_frames == frames


def test_prepare_reports_unusable_files_and_encodes_the_others(voice_model_dir, audio, tmp_path):
    source = tmp_path / "wavs"
    source.mkdir()
    for name in ["content.wav", "voice.wav", "one_frame.wav", *UNUSABLE]:
        (source / name).write_bytes((audio / name).read_bytes())
    out = tmp_path / "out"
    codec = str(voice_model_dir / "codec.safetensors")
    args = ["prepare", str(source), str(out), "--codec", codec, "--semantic", "phones"]
    assert main([*args, "--min-duration", "0", "--quiet"]) == 0
    rows = (out / "bad_files.tsv").read_text().splitlines()[1:]
    reasons = {row.split("\t")[1]: row.split("\t")[2] for row in rows}
    assert set(reasons) == {Path(name).stem for name in UNUSABLE}
    for name, expected in UNUSABLE.items():
        assert expected.format(frame="codec") in reasons[Path(name).stem]
    assert "\n" not in "".join(reasons.values())
    summary = json.loads((out / "manifest.json").read_text())
    assert summary["num_bad_files"] == len(UNUSABLE)


# --------------------------------------------------------------------------- generate, demo
def generate(model_dir: Path, out: Path, *inputs: str) -> int:
    return main(["generate", "--model", str(model_dir), *inputs, "--out", str(out), "--steps", "2"])


@pytest.mark.parametrize("name", sorted(UNUSABLE))
@pytest.mark.parametrize("role", ["content", "prompt"])
def test_generate_refuses_unusable_content_or_prompt(
    voice_model_dir, audio, tmp_path, capsys, name, role
):
    given = {"content": audio / "content.wav", "prompt": audio / "voice.wav", role: audio / name}
    out = tmp_path / "out.wav"
    rc = generate(
        voice_model_dir, out, "--content", str(given["content"]), "--prompt", str(given["prompt"])
    )
    assert rc == 2
    # The content is read by the semantic tokenizer, the prompt by the codec first.
    frame = "semantic" if role == "content" else "codec"
    one_line_error(capsys, "generate", UNUSABLE[name].format(frame=frame))
    assert list(tmp_path.iterdir()) == []


def test_generate_accepts_silence_and_one_frame_of_content(voice_model_dir, audio, tmp_path):
    out = tmp_path / "one.wav"
    assert generate(voice_model_dir, out, "--content", str(audio / "one_frame.wav")) == 0
    assert soundfile.info(str(out)).frames == 320  # one codec frame decoded
    out = tmp_path / "silent.wav"
    args = ("--content", str(audio / "silent.wav"), "--prompt", str(audio / "silent.wav"))
    assert generate(voice_model_dir, out, *args) == 0
    assert soundfile.info(str(out)).frames == SR


def test_generate_manifest_row_with_short_audio_names_it(voice_model_dir, audio, tmp_path, capsys):
    manifest = audio / "rows.jsonl"
    rows = [
        {"id": "ok", "content": "content.wav"},
        {"id": "bad", "content": "content.wav", "prompt": "short.wav"},
    ]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out_dir = tmp_path / "out"
    rc = main(
        [
            "generate",
            "--model",
            str(voice_model_dir),
            "--manifest",
            str(manifest),
            "--out-dir",
            str(out_dir),
            "--steps",
            "2",
            "--batch-size",
            "2",
        ]
    )
    assert rc == 2
    one_line_error(capsys, "generate", SHORT_MESSAGE.format(frame="codec"))
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


@pytest.mark.parametrize("name", ["short.wav", "empty.wav", "text.wav"])
@pytest.mark.parametrize("role", ["content", "prompt"])
def test_demo_refuses_unusable_content_or_prompt(
    voice_model_dir, audio, tmp_path, capsys, name, role
):
    given = {"content": audio / "content.wav", "prompt": audio / "voice.wav", role: audio / name}
    out = tmp_path / "demo"
    rc = main(
        [
            "demo",
            "--model",
            str(voice_model_dir),
            "--content",
            str(given["content"]),
            "--prompt",
            str(given["prompt"]),
            "--out-dir",
            str(out),
            "--no-eval",
        ]
    )
    assert rc == 2
    frame = "semantic" if role == "content" else "codec"
    one_line_error(capsys, "demo", UNUSABLE[name].format(frame=frame))
    assert not out.exists()


def test_pipeline_names_the_source_it_is_given(voice_model_dir):
    from soundstorm.pipeline import VoicePipeline

    pipeline = VoicePipeline.from_directory(voice_model_dir)
    short, good = torch.zeros(1, 160), 0.1 * torch.ones(1, SR)
    with pytest.raises(AudioTooShortError) as caught:
        pipeline.make_request(short, SR)
    assert caught.value.source is None and "semantic frame (20.0 ms)" in str(caught.value)
    with pytest.raises(AudioTooShortError, match=r"^voice\.wav: audio is 10\.0 ms long"):
        pipeline.make_request(good, SR, short, SR, prompt_source="voice.wav")
    with pytest.raises(AudioTooShortError, match=r"^words\.wav: .* semantic frame"):
        pipeline.make_request(short, SR, good, SR, content_source="words.wav")


# --------------------------------------------------------------------------- evaluate, semantic
@pytest.mark.parametrize("name", ["short.wav", "empty.wav", "text.wav", "nan.wav"])
def test_evaluate_refuses_an_unusable_prompt_in_one_line(audio, tmp_path, capsys, name):
    pytest.importorskip("resemblyzer")
    out = tmp_path / "results"
    rc = main(
        [
            "evaluate",
            "--generated",
            str(audio / "content.wav"),
            "--prompt",
            str(audio / name),
            "--metrics",
            "speaker",
            "--max-plots",
            "0",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert rc == 2
    expected = {"short.wav": "short.wav: cannot embed 10.0 ms of audio"}.get(
        name, UNUSABLE[name].format(frame="codec")
    )
    one_line_error(capsys, "evaluate", expected)
    assert not out.exists()


def test_evaluate_records_a_reference_too_short_for_the_codec(
    voice_model_dir, audio, tmp_path, capsys
):
    pytest.importorskip("pesq")
    out = tmp_path / "results"
    rc = main(
        [
            "evaluate",
            "--generated",
            str(audio / "content.wav"),
            "--reference",
            str(audio / "short.wav"),
            "--codec",
            str(voice_model_dir / "codec.safetensors"),
            "--metrics",
            "wer",
            "--max-plots",
            "0",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    capsys.readouterr()
    (item,) = json.loads((out / "results.json").read_text())["items"]
    assert SHORT_MESSAGE.format(frame="codec") in item["details"]["errors"]["resynthesis"]
    assert not any(name.endswith("_resynthesis") for name in item["metrics"])


def test_semantic_tokenize_names_a_short_file(audio, capsys):
    rc = main(["semantic", "tokenize", str(audio / "short.wav"), "--tokenizer", "phones"])
    assert rc == 2
    one_line_error(capsys, "semantic", SHORT_MESSAGE.format(frame="semantic"))
    assert (
        main(["semantic", "tokenize", str(audio / "one_frame.wav"), "--tokenizer", "phones"]) == 0
    )
    assert ": 1 tokens at 50 Hz" in capsys.readouterr().out
