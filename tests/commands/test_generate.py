"""`soundstorm generate` end to end: a tiny model, a fitted embedded codec, the phone tokenizer."""

import json
import math
import shutil
import types

import numpy as np
import pytest
import soundfile
import torch

from soundstorm.cli import main
from soundstorm.codecs import EmbeddedCodec
from soundstorm.errors import SoundStormError

from tests.voice_fakes import SR, tone, write_tones


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    return write_tones(
        tmp_path_factory.mktemp("audio"), (("a", 1.5, 1), ("b", 2.2, 2), ("voice", 4.0, 3))
    )


def test_one_request_writes_audio_of_the_content_length(voice_model_dir, audio, tmp_path):
    out = tmp_path / "out.wav"
    rc = main(
        [
            "generate",
            "--model",
            str(voice_model_dir),
            "--content",
            str(audio / "a.wav"),
            "--prompt",
            str(audio / "voice.wav"),
            "--out",
            str(out),
            "--steps",
            "4",
        ]
    )
    assert rc == 0
    wav, sr = soundfile.read(out)
    assert sr == SR
    frames = math.ceil(1.5 * 50)
    assert abs(len(wav) - frames * 320) <= 320
    assert np.abs(wav).max() > 0


def test_manifest_batch_is_resumable(voice_model_dir, audio, tmp_path, capsys):
    manifest = audio / "requests.jsonl"
    manifest.write_text(
        json.dumps({"id": "r1", "content": "a.wav", "prompt": "voice.wav"})
        + "\n"
        + json.dumps({"id": "r2", "content": "b.wav"})
        + "\n"
        + json.dumps({"id": "r3", "content": "b.wav", "prompt": "voice.wav"})
        + "\n"
    )
    args = [
        "generate",
        "--model",
        str(voice_model_dir),
        "--manifest",
        str(manifest),
        "--out-dir",
        str(tmp_path),
        "--steps",
        "3",
        "--batch-size",
        "2",
    ]
    assert main(args) == 0
    listed = [json.loads(line) for line in (tmp_path / "generated.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in listed) == ["r1", "r2", "r3"]
    for r in listed:
        assert soundfile.info(r["out"]).frames > 0
    capsys.readouterr()
    assert main(args) == 0
    assert "skipped 3 existing" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--content", "missing.wav", "--out", "x.wav"], "audio file not found"),
        (["--out", "x.wav"], "either --content"),
        (["--manifest", "MANIFEST"], "--out-dir"),
    ],
)
def test_bad_input_gives_one_line_error(voice_model_dir, audio, tmp_path, capsys, extra, message):
    extra = [str(audio / "requests_bad.jsonl") if e == "MANIFEST" else e for e in extra]
    rc = main(["generate", "--model", str(voice_model_dir), *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1


def test_bad_manifest_line_and_mismatched_codec(voice_model_dir, audio, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "nope.wav"}\n')
    assert (
        main(
            [
                "generate",
                "--model",
                str(voice_model_dir),
                "--manifest",
                str(bad),
                "--out-dir",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "bad.jsonl:1: audio file not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists(), "nothing written on bad input"
    other = EmbeddedCodec.fit(
        [torch.from_numpy(tone(3.0, 9))], SR, num_levels=2, codebook_size=8, num_iters=1
    )
    other.save(tmp_path / "other.safetensors")
    rc = main(
        [
            "generate",
            "--model",
            str(voice_model_dir),
            "--codec",
            str(tmp_path / "other.safetensors"),
            "--content",
            str(audio / "a.wav"),
            "--out",
            str(tmp_path / "x.wav"),
        ]
    )
    assert rc == 2 and "does not match the model" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()
    assert (
        main(["generate", "--model", str(tmp_path / "none"), "--content", "a", "--out", "b"]) == 2
    )


def test_requests_longer_than_the_window_are_generated_in_chunks(voice_model_dir, audio, tmp_path):
    from soundstorm.pipeline import VoicePipeline

    pipeline = VoicePipeline.from_directory(voice_model_dir)
    content = torch.from_numpy(tone(2.2, 2))[None]
    voice = torch.from_numpy(tone(4.0, 3))[None]
    long_request = pipeline.make_request(content, SR, voice, SR, prompt_seconds=1.0)
    short_request = pipeline.make_request(content[:, : SR // 2], SR)
    calls = []
    generate_long = pipeline.engine.generate_long
    pipeline.engine.generate_long = lambda *a, **k: (
        calls.append(k["window"]) or generate_long(*a, **k)
    )
    greedy = {"steps": 2, "temperature": 0.0, "choice_temperature": 0.0}
    out = pipeline.generate([short_request, long_request], window=60, context=20, **greedy)
    assert calls == [60], "only the long request goes through generate_long"
    assert [c.shape[-1] for c in out] == [short_request.content_frames, long_request.content_frames]
    alone = pipeline.generate([short_request], **greedy)[0]
    assert torch.equal(out[0], alone)
    assert (
        main(
            [
                "generate",
                "--model",
                str(voice_model_dir),
                "--content",
                str(audio / "a.wav"),
                "--out",
                str(tmp_path / "x.wav"),
                "--window",
                "40",
                "--context",
                "40",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "generate",
                "--model",
                str(voice_model_dir),
                "--content",
                str(audio / "b.wav"),
                "--prompt",
                str(audio / "voice.wav"),
                "--out",
                str(tmp_path / "y.wav"),
                "--window",
                "60",
                "--context",
                "20",
                "--steps",
                "2",
                "--prompt-seconds",
                "1",
            ]
        )
        == 0
    )
    assert abs(soundfile.info(tmp_path / "y.wav").frames - math.ceil(2.2 * 50) * 320) <= 320


needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")


@needs_flite
def test_text_request_has_the_prompt_then_the_text_phones(voice_model_dir):
    from soundstorm.pipeline import VoicePipeline
    from soundstorm.semantic import text_to_semantic

    pipeline = VoicePipeline.from_directory(voice_model_dir)
    voice = torch.from_numpy(tone(4.0, 3))[None]
    from_text = pipeline.make_text_request("Kick the ball.", voice, SR, prompt_seconds=1.0)
    from_audio = pipeline.make_request(voice[:, :SR], SR, voice, SR, prompt_seconds=1.0)
    assert torch.equal(from_text.prompt, from_audio.prompt), "same prompt tokens as make_request"
    assert torch.equal(from_text.cond[: from_text.prompt_frames], from_audio.cond[:50])
    phones = text_to_semantic("Kick the ball.", frame_rate=pipeline.codec.frame_rate)
    assert torch.equal(from_text.cond[from_text.prompt_frames :], phones)
    slow = pipeline.make_text_request("Kick the ball.", voice="flite-kal16", duration_scale=2.0)
    assert slow.prompt_frames == 0
    assert slow.content_frames == len(text_to_semantic("Kick the ball.", 50, "flite-kal16", 2.0))
    pipeline.tokenizer = types.SimpleNamespace(name="hubert-l6-k500")
    with pytest.raises(SoundStormError, match="trained on phone ids"):
        pipeline.make_text_request("Kick the ball.")


@needs_flite
def test_text_instead_of_content_and_in_the_manifest(voice_model_dir, audio, tmp_path):
    from soundstorm.semantic import text_to_semantic

    text = "Rice is often served in round bowls."
    base = ["generate", "--model", str(voice_model_dir), "--steps", "2"]
    out = tmp_path / "said.wav"
    assert main([*base, "--text", text, "--text-voice", "flite-awb", "--out", str(out)]) == 0
    frames = len(text_to_semantic(text, voice="flite-awb"))
    assert abs(soundfile.info(out).frames - frames * 320) <= 320
    manifest = audio / "texts.jsonl"
    manifest.write_text(
        json.dumps({"id": "t", "text": text})
        + "\n"
        + json.dumps({"content": "a.wav"})
        + "\n"
        + json.dumps({"text": "Hi."})
        + "\n"
    )
    assert main([*base, "--manifest", str(manifest), "--out-dir", str(tmp_path / "m")]) == 0
    listed = {
        r["id"]: r
        for r in map(json.loads, (tmp_path / "m" / "generated.jsonl").read_text().splitlines())
    }
    assert sorted(listed) == ["a", "line3", "t"]
    assert listed["t"]["frames"] == len(text_to_semantic(text))
    assert listed["a"]["frames"] == math.ceil(1.5 * 50)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--text", "hi", "--content", "CONTENT", "--out", "x.wav"], "not --content and --text"),
        (["--text", "hi"], "--text needs --out"),
        (["--text", " ", "--out", "x.wav"], "--text is empty"),
        (["--text", "hi", "--text-voice", "piper-joe", "--out", "x.wav"], "text voice 'piper-joe'"),
        (["--manifest", "BOTH", "--out-dir", "o"], "a 'content' audio path or a 'text' (one)"),
        (["--manifest", "EMPTY_TEXT", "--out-dir", "o"], "'text' must be a non-empty string"),
        (["--text", "hi", "--content-text", "hi", "--out", "x.wav"], "words of --content"),
        (["--content", "CONTENT", "--content-text", " ", "--out", "x.wav"], "non-empty words"),
        (["--manifest", "MIXED", "--out-dir", "o"], "'content_text' goes with 'content'"),
        (["--manifest", "PLAIN", "--out-dir", "o", "--content-text", "x"], "goes with --content"),
    ],
)
def test_bad_text_input_gives_one_line_error(
    voice_model_dir, audio, tmp_path, capsys, extra, message
):
    (tmp_path / "both.jsonl").write_text(json.dumps({"content": "a.wav", "text": "hi"}) + "\n")
    (tmp_path / "empty.jsonl").write_text(json.dumps({"text": ""}) + "\n")
    (tmp_path / "mixed.jsonl").write_text(json.dumps({"text": "hi", "content_text": "hi"}) + "\n")
    (tmp_path / "plain.jsonl").write_text(json.dumps({"content": str(audio / "a.wav")}) + "\n")
    files = {
        "CONTENT": audio / "a.wav",
        "BOTH": tmp_path / "both.jsonl",
        "EMPTY_TEXT": tmp_path / "empty.jsonl",
        "MIXED": tmp_path / "mixed.jsonl",
        "PLAIN": tmp_path / "plain.jsonl",
    }
    extra = [str(files.get(e, e)) for e in extra]
    rc = main(["generate", "--model", str(voice_model_dir), *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "o").exists()


def test_content_text_reaches_the_tokenizer(voice_model_dir, audio, tmp_path, monkeypatch):
    from soundstorm.pipeline import VoicePipeline

    original, seen = VoicePipeline.make_request, []

    def make_request(self, *args, **kwargs):
        seen.append(kwargs.get("content_transcript"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(VoicePipeline, "make_request", make_request)
    common = ["generate", "--model", str(voice_model_dir), "--steps", "2"]
    one = [*common, "--content", str(audio / "a.wav"), "--out", str(tmp_path / "one.wav")]
    assert main([*one, "--content-text", "a tone, not words"]) == 0
    manifest = audio / "transcribed.jsonl"
    manifest.write_text(
        json.dumps({"id": "r1", "content": "a.wav", "content_text": "some words"})
        + "\n"
        + json.dumps({"id": "r2", "content": "b.wav"})
        + "\n"
    )
    assert main([*common, "--manifest", str(manifest), "--out-dir", str(tmp_path / "o")]) == 0
    assert seen == ["a tone, not words", "some words", None]  # the manifest: shortest first
    assert (tmp_path / "one.wav").is_file() and (tmp_path / "o" / "r1.wav").is_file()
