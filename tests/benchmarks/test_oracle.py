"""benchmarks/oracle.py: forced levels equal GT, no oracle = SoundStorm.generate, one full run.

A tiny random 3-level model (``tests/voice_fakes.py``) and a tiny corpus made by Debian
``flite`` (slt and awb seen, rms held out); the judge (Whisper, Resemblyzer, DNSMOS) is faked
so that the run takes seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import oracle  # benchmarks/oracle.py (tests/benchmarks/conftest.py)
import pytest
import soundfile
import torch

from soundstorm.decoding import DecodeOptions

from tests.voice_fakes import make_voice_model

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "oracle.py"
SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
)
VOICES = {"flite-slt": "slt", "flite-awb": "awb", "flite-rms": "rms"}
HELD_OUT = "flite-rms"
LEVELS = 3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A ``soundstorm corpus``-like directory: test.jsonl, summary.json, 16 kHz flite wavs."""
    flite = shutil.which("flite")
    if flite is None:
        pytest.fail("Debian flite is missing: run scripts/install-system-deps (apt flite)")
    root = tmp_path_factory.mktemp("corpus")
    with open(root / "test.jsonl", "w") as file:
        for index, text in enumerate(SENTENCES):
            for voice, flite_voice in VOICES.items():
                path = root / "audio" / voice / f"s{index}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(
                    [flite, "-voice", flite_voice, "-t", text, "-o", str(path)], check=True
                )
                info = soundfile.info(str(path))
                row = {
                    "path": str(path.relative_to(root)),
                    "voice": voice,
                    "engine": "flite",
                    "text": text,
                    "sentence_id": f"s{index}",
                    "duration": info.frames / info.samplerate,
                }
                file.write(json.dumps(row) + "\n")
    summary = {"sample_rate": 16000, "held_out_voices": [HELD_OUT]}
    (root / "summary.json").write_text(json.dumps(summary))
    return root


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_voice_model(tmp_path_factory.mktemp("oracle_model") / "m", num_levels=LEVELS)


@pytest.fixture(scope="module")
def batch(corpus, model_dir, tmp_path_factory):
    """The pipeline and the padded batch of two items (one seen, one held-out voice)."""
    from soundstorm.pipeline import VoicePipeline

    out = tmp_path_factory.mktemp("inputs")
    split = oracle.eval_voice.read_test_split(corpus)
    items = oracle.eval_voice.pair_items(split, ["flite-slt", HELD_OUT], 1)
    oracle.eval_voice.write_inputs(items, out, split.sample_rate)
    pipeline = VoicePipeline.from_directory(model_dir)
    inputs = oracle.tokenize_items(pipeline, items, out)
    for one in inputs:  # content = the reference: GT frames are the request's content frames
        assert one.truth.shape == (LEVELS, one.request.content_frames)
        assert one.request.prompt_frames > 0
    return pipeline, oracle.batch_tensors(inputs, LEVELS)


def _content(codes, batch, b):
    start, end = int(batch["prompt_lengths"][b]), int(batch["lengths"][b])
    return codes[b, :, start:end]


@pytest.mark.parametrize("guidance", [0.0, 1.5])
@pytest.mark.parametrize("oracle_levels", [(1, 2), (0,), (0, 1, 2)])
def test_forced_levels_equal_ground_truth(batch, oracle_levels, guidance):
    pipeline, tensors = batch
    model = pipeline.engine.model
    options = DecodeOptions(steps=4, guidance_scale=guidance)
    calls = []
    codes = oracle.generate_with_oracle(
        model, tensors, oracle_levels, options, torch.Generator().manual_seed(0), calls
    )
    for b in range(codes.shape[0]):
        got, truth = _content(codes, tensors, b), _content(tensors["truth"], tensors, b)
        for level in oracle_levels:
            assert torch.equal(got[level], truth[level])
        assert got.min() >= 0 and got.max() < model.config.codebook_size
        prompt = int(tensors["prompt_lengths"][b])
        assert torch.equal(codes[b, :, :prompt], tensors["prompt"][b, :, :prompt])
    oracle.check_forced_levels(codes, tensors, oracle_levels)  # the script's own check
    steps = options.level_steps(LEVELS)
    assert calls == [q for q in range(LEVELS) if q not in oracle_levels for _ in range(steps[q])]


def test_without_oracle_levels_the_tokens_are_soundstorm_generate(batch):
    pipeline, tensors = batch
    model = pipeline.engine.model
    options = DecodeOptions(steps=5, temperature=1.0)
    ours = oracle.generate_with_oracle(
        model, tensors, (), options, torch.Generator().manual_seed(3)
    )
    theirs = model.generate(
        tensors["cond"],
        prompt=tensors["prompt"],
        lengths=tensors["lengths"],
        prompt_lengths=tensors["prompt_lengths"],
        options=options,
        generator=torch.Generator().manual_seed(3),
    )
    assert torch.equal(ours, theirs)
    with pytest.raises(oracle.SoundStormError, match="differs from GT"):
        oracle.check_forced_levels(ours, tensors, (0,))  # a random model misses GT somewhere


def _fake_judge(clip, options):
    """What ``evaluate_item`` returns, without the models: the recording and the codec's
    resynthesis are heard exactly, generated audio as nothing."""
    from soundstorm.evaluate import word_errors
    from soundstorm.evaluate.suite import ItemResult

    assert clip.generated.is_file() and clip.prompt.is_file()
    assert options.recognizers == ("whisper",)
    row = clip.id.split("/")[0]
    heard = clip.text if row in ("reference", "resynth") else ""
    errors = word_errors(clip.text, heard)
    metrics = {"duration_s": 1.0, "wer_generated": errors.wer, "sim_generated_prompt": 0.5}
    if "dnsmos" in options.metrics:
        metrics["dnsmos_generated"] = 3.0
    details = {"asr_generated": {"transcript": heard, **errors.to_dict()}}
    return ItemResult(clip, metrics, details)


def test_a_run_writes_every_condition_and_the_table(corpus, model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(oracle, "judge_clip", _fake_judge)
    out = tmp_path / "out"
    argv = ["--model", str(model_dir), "--corpus", str(corpus), "--out", str(out)]
    argv += ["--sentences", "1", "--voices", "flite-slt", HELD_OUT, "--threads", "1"]
    argv += ["--steps", "2", "3", "--batch-size", "1", "--no-dnsmos", "--temperature", "0.5"]
    assert oracle.main(argv) == 0

    names = ["resynth", "resynth_l1", "gen_l1_gt_finer", "gt_l1_gen_finer", "gen_l1_only"]
    names += ["gen_all_s2", "gen_all_s3"]
    ids = sorted(["flite-slt__s0", f"{HELD_OUT}__s0"])
    for name in names:
        assert sorted(p.stem for p in (out / name).iterdir()) == ids
    rate = soundfile.info(str(out / "resynth" / f"{ids[0]}.wav")).samplerate
    frames = soundfile.info(str(out / "resynth" / f"{ids[0]}.wav")).frames
    assert soundfile.info(str(out / "gen_all_s2" / f"{ids[0]}.wav")).frames == frames
    reference = soundfile.info(str(corpus / "audio" / "flite-rms" / "s0.wav"))
    assert abs(frames / rate - reference.frames / reference.samplerate) < 0.1  # prompt cut

    report = json.loads((out / "report.json").read_text())
    conditions = {c["name"]: c for c in report["conditions"]}
    assert list(conditions) == names
    assert conditions["resynth_l1"]["decode_levels"] == 1
    assert conditions["gen_l1_gt_finer"]["oracle_levels"] == [2, 3]
    assert conditions["gen_l1_gt_finer"]["model_calls"] == 16  # the paper's default steps
    assert conditions["gt_l1_gen_finer"]["model_calls"] == LEVELS - 1
    assert conditions["gen_l1_only"]["decode_levels"] == 1
    assert conditions["gen_all_s3"]["model_calls"] == 3 + LEVELS - 1
    assert conditions["gen_all_s3"]["schedule"] == "3+2x1"
    assert report["header"]["decoding"]["temperature"] == 0.5
    summary = report["summary"]
    assert list(summary) == ["reference", *names]
    assert summary["reference"]["seen"]["wer"] == 0.0
    assert summary["resynth"]["held_out"]["wer"] == 0.0
    assert summary["gen_all_s2"]["seen"]["wer"] == 1.0
    assert summary["gen_all_s2"]["held_out"]["items"] == 1
    item = next(i for i in report["items"] if i["voice"] == HELD_OUT)
    assert item["held_out"] and item["clips"]["reference"]["transcript"] == item["text"]

    markdown = (out / "summary.md").read_text()
    assert "| gen_all_s3 | 2 | 3+2x1 | 5 | 100.0% | 100.0% | 0.500 | 0.500 | - |" in markdown
    assert "| resynth | 2 | - | 0 | 0.0% | 0.0% |" in markdown


def test_finer_steps_give_each_finer_level_its_passes(corpus, model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(oracle, "judge_clip", _fake_judge)
    out = tmp_path / "out"
    argv = ["--model", str(model_dir), "--corpus", str(corpus), "--out", str(out)]
    argv += ["--sentences", "1", "--voices", "flite-slt", "--threads", "1", "--no-dnsmos"]
    argv += ["--steps", "2", "--finer-steps", "3"]
    argv += ["--conditions", "gt_l1_gen_finer", "gen_all_s2", "gen_l1_gt_finer"]
    assert oracle.main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    conditions = {c["name"]: c for c in report["conditions"]}
    assert LEVELS == 3 and conditions["gen_all_s2"]["schedule"] == "2+3+3"
    assert conditions["gen_all_s2"]["model_calls"] == 2 + 3 * (LEVELS - 1)
    assert conditions["gt_l1_gen_finer"]["model_calls"] == 3 * (LEVELS - 1)  # level 1 is free
    assert conditions["gen_l1_gt_finer"]["model_calls"] == 16  # forced finer levels cost none
    assert report["header"]["finer_steps"] == 3


def test_bad_arguments_and_voices_fail_in_one_line(corpus, model_dir, tmp_path):
    base = ["--model", str(model_dir), "--corpus", str(corpus), "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as error:
        oracle.parse_args(base + ["--steps", "0"])
    assert error.value.code == 2
    with pytest.raises(SystemExit) as error:
        oracle.parse_args(base + ["--finer-steps", "0"])
    assert error.value.code == 2
    with pytest.raises(oracle.SoundStormError, match="not in the test split"):
        oracle.main(base + ["--voices", "nobody", "--no-dnsmos"])
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *base, "--voices", "nobody", "--no-dnsmos"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: voice nobody is not in the test split"


def test_content_transcripts_give_the_known_words_phones(corpus, model_dir, tmp_path):
    """The corpus's flite recordings align to their texts: the transcribed requests keep the
    prompt's recognised ids and every frame count, and the tokenizer falls back on none."""
    from soundstorm.pipeline import VoicePipeline

    split = oracle.eval_voice.read_test_split(corpus)
    items = oracle.eval_voice.pair_items(split, ["flite-slt"], 1)
    oracle.eval_voice.write_inputs(items, tmp_path, split.sample_rate)
    pipeline = VoicePipeline.from_directory(model_dir)
    plain = oracle.tokenize_items(pipeline, items, tmp_path)
    aligned = oracle.tokenize_items(pipeline, items, tmp_path, transcripts=True)
    assert pipeline.tokenizer.transcript_fallbacks == 0
    for a, b in zip(plain, aligned):
        assert a.request.cond.shape == b.request.cond.shape and torch.equal(a.truth, b.truth)
        prompt = a.request.prompt_frames
        assert torch.equal(a.request.cond[:prompt], b.request.cond[:prompt])
