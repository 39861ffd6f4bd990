"""benchmarks/eval_voice.py: item pairing on a tiny flite corpus, grouping, and one full run.

The corpus is made inside the test by Debian ``flite`` (voices slt, awb, kal16 seen; rms held
out) plus an "espeak" voice (a copy of awb's files) that must never serve as content.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import types
from pathlib import Path

import eval_voice  # benchmarks/eval_voice.py (tests/benchmarks/conftest.py)
import numpy as np
import pytest
import soundfile
import torch

from soundstorm import SoundStorm, SoundStormConfig
from soundstorm.codecs import EmbeddedCodec

SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
)
FLITE_VOICES = {"flite-slt": "slt", "flite-awb": "awb", "flite-kal16": "kal16", "flite-rms": "rms"}
ESPEAK_VOICE = "espeak-fake"
HELD_OUT = "flite-rms"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A ``soundstorm corpus``-like directory: test.jsonl, summary.json, 16 kHz wavs."""
    flite = shutil.which("flite")
    if flite is None:
        pytest.fail("Debian flite is missing: run scripts/install-system-deps (apt flite)")
    root = tmp_path_factory.mktemp("corpus")
    rows = []
    for index, text in enumerate(SENTENCES):
        sentence_id = f"s{index}"
        for voice, flite_voice in FLITE_VOICES.items():
            path = root / "audio" / voice / f"{sentence_id}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([flite, "-voice", flite_voice, "-t", text, "-o", str(path)], check=True)
            rows.append((voice, "flite", sentence_id, text, path))
        espeak = root / "audio" / ESPEAK_VOICE / f"{sentence_id}.wav"
        espeak.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "audio" / "flite-awb" / f"{sentence_id}.wav", espeak)
        rows.append((ESPEAK_VOICE, "espeak", sentence_id, text, espeak))
    with open(root / "test.jsonl", "w") as file:
        for voice, engine, sentence_id, text, path in rows:
            info = soundfile.info(str(path))
            row = {
                "id": f"{voice}_{sentence_id}",
                "path": str(path.relative_to(root)),
                "voice": voice,
                "engine": engine,
                "text": text,
                "sentence_id": sentence_id,
                "split": "test",
                "duration": info.frames / info.samplerate,
                "sample_rate": info.samplerate,
            }
            file.write(json.dumps(row) + "\n")
    seen = sorted(set(FLITE_VOICES) - {HELD_OUT}) + [ESPEAK_VOICE]
    summary = {"sample_rate": 16000, "train_voices": seen, "held_out_voices": [HELD_OUT]}
    (root / "summary.json").write_text(json.dumps(summary))
    return root


def test_items_pair_content_prompt_and_reference_as_the_protocol_says(corpus, tmp_path):
    split = eval_voice.read_test_split(corpus)
    voices = ["flite-slt", "flite-awb", HELD_OUT]
    items = eval_voice.pair_items(split, voices, num_sentences=3)
    assert len(items) == 3 * len(voices)
    assert [(i.target_voice, i.held_out) for i in items[:3]] == [
        ("flite-slt", False),
        ("flite-awb", False),
        (HELD_OUT, True),
    ]
    content_voices = {voice: set() for voice in voices}
    for item in items:
        (content,), (reference,) = item.content, item.reference
        sentence = reference.sentence_id
        assert content.sentence_id == sentence and content.text == reference.text == item.text
        assert reference.voice == item.target_voice
        assert content.voice != item.target_voice
        assert content.voice not in (ESPEAK_VOICE, HELD_OUT)
        content_voices[item.target_voice].add(content.voice)
        assert all(p.voice == item.target_voice for p in item.prompt_parts)
        assert all(p.sentence_id != sentence for p in item.prompt_parts)
        assert len({p.sentence_id for p in item.prompt_parts}) == len(item.prompt_parts)
    assert all(len(used) > 1 for used in content_voices.values())  # round-robin, not fixed

    eval_voice.write_inputs(items, tmp_path, split.sample_rate)
    for item in items:
        prompt, rate = soundfile.read(tmp_path / "prompts" / f"{item.id}.wav", dtype="float32")
        assert len(prompt) == round(eval_voice.PROMPT_SECONDS * rate)
        expected = eval_voice.join_recordings(item.prompt_parts, rate, eval_voice.PROMPT_SECONDS)
        np.testing.assert_allclose(prompt, expected[0].numpy(), atol=1e-4)  # 16-bit wav
        assert eval_voice.input_path(item, tmp_path, "reference") == item.reference[0].path


def test_long_items_join_the_same_sentences_and_take_a_prompt_of_others(corpus, tmp_path):
    split = eval_voice.read_test_split(corpus)
    items = eval_voice.pair_items(split, ["flite-slt", HELD_OUT], 1, long_seconds=4.0)
    long_items = [item for item in items if item.is_long]
    assert [i.id for i in long_items] == ["flite-slt__long", f"{HELD_OUT}__long"]
    for item in long_items:
        sentences = [r.sentence_id for r in item.reference]
        assert [r.sentence_id for r in item.content] == sentences
        assert {r.voice for r in item.reference} == {item.target_voice}
        assert len({r.voice for r in item.content}) == 1
        assert item.content[0].voice not in (item.target_voice, ESPEAK_VOICE, HELD_OUT)
        assert sum(r.duration for r in item.content) + 0.1 * (len(sentences) - 1) >= 4.0
        assert not {p.sentence_id for p in item.prompt_parts} & set(sentences)
    with pytest.raises(eval_voice.SoundStormError, match="last under"):
        eval_voice.pair_items(split, ["flite-slt"], 1, long_seconds=1000.0)
    with pytest.raises(eval_voice.SoundStormError, match="not in the test split"):
        eval_voice.pair_items(split, ["nobody"], 1)


def test_content_skips_the_target_speaker_and_uses_sparse_voices_where_they_spoke():
    """Corpus-like split: a and a2 share a speaker; the natural voice n recorded s1 only."""
    sentences = [f"s{i}" for i in range(6)]
    recordings = {}
    for sentence in sentences:
        voices = ["a", "a2", "c", "h"] + (["n"] if sentence == "s1" else [])
        recordings[sentence] = {
            v: eval_voice.Recording(Path(f"{v}.wav"), v, sentence, "a b", 2.0) for v in voices
        }
    split = eval_voice.TestSplit(
        recordings=recordings,
        sentence_order=sentences,
        engines={"a": "flite", "a2": "festival", "c": "piper", "h": "flite", "n": "kokoro"},
        held_out_voices=("h",),
        sample_rate=16000,
        speakers={"a": "x", "a2": "x", "c": "c", "h": "h", "n": "n"},
    )
    assert eval_voice.content_sources(split, "a") == ["c", "n"]
    assert eval_voice.content_sources(split, "a", "s0") == ["c"]
    items = eval_voice.pair_items(split, ["a", "h"], num_sentences=4, long_seconds=5.0)
    contents = {item.id: [r.voice for r in item.content] for item in items}
    assert contents["a__s0"] == ["c"] and contents["a__s1"] == ["n"]
    assert contents["h__s1"] == ["a2"]  # round robin over a, a2, c, n: index 1
    assert all("a2" not in voices for item_id, voices in contents.items() if item_id[0] == "a")
    assert contents["a__long"] == ["c"] * 3
    with pytest.raises(eval_voice.SoundStormError, match="only 6 test sentences"):
        eval_voice.pair_items(split, ["a"], num_sentences=7)


def test_groups_and_targets_keep_seen_and_held_out_apart():
    from soundstorm.evaluate import EvaluationItem
    from soundstorm.evaluate.suite import EvaluationReport, ItemResult

    def paired(voice, held_out, long=False):
        recording = eval_voice.Recording(Path("x.wav"), voice, "s", "a b", 1.0)
        content = (recording,) * (2 if long else 1)
        suffix = "long" if long else "s"
        return eval_voice.PairedItem(
            f"{voice}__{suffix}", voice, held_out, "a b", content, content, ()
        )

    items = [paired("a", False), paired("b", False), paired("r", True), paired("a", False, True)]
    sims = {"a__s": 0.9, "b__s": 0.8, "r__s": 0.4, "a__long": 0.7}
    results = [
        ItemResult(
            EvaluationItem(i.id, Path("g.wav")),
            {"duration_s": 10.0, "sim_generated_prompt": sims[i.id]}
            | ({"consistency_slope_generated": -0.01} if i.is_long else {}),
        )
        for i in items
    ]
    groups = eval_voice.group_summaries(EvaluationReport(results, {}, {}), items)
    assert list(groups) == ["seen", "held_out", "seen_long"]
    assert groups["seen"]["items"] == 2 and groups["seen"]["voices"] == ["a", "b"]
    assert groups["seen"]["metric_errors"] == 0
    assert groups["seen"]["sim_generated_prompt"] == pytest.approx(0.85)
    assert groups["held_out"]["sim_generated_prompt"] == pytest.approx(0.4)
    assert groups["seen_long"]["consistency_drift_generated"] == pytest.approx(0.1)
    targets = eval_voice.check_targets(groups, None)
    # per group: WER, WER gap to resynthesis, similarity, DNSMOS, drift ratio; then speed x2
    seen, held_out = [None, None, True, None, None], [None, None, False, None, None]
    assert [t["pass"] for t in targets] == seen + held_out + [None, None]
    assert [t["binding"] for t in targets] == [True] * 6 + [False] + [True] * 5


def test_targets_are_the_issue_15_bounds():
    groups = {
        "seen": {
            "wer_generated_corpus": 0.09,
            "wer_resynthesis_corpus": 0.03,
            "sim_generated_prompt": 0.80,
            "dnsmos_generated": 3.1,
        },
        "held_out": {
            "wer_generated_corpus": 0.15,
            "wer_resynthesis_corpus": 0.02,
            "sim_generated_prompt": 0.74,
            "dnsmos_generated": 2.9,
        },
        "seen_long": {"consistency_drift_generated": 0.2, "consistency_drift_reference": 0.1},
        "held_out_long": {"consistency_drift_generated": 0.3, "consistency_drift_reference": 0.1},
    }
    speed = {
        "audio_seconds": 10.0,
        "threads": 2,
        "tokens_and_decode_seconds": 9.5,
        "tokens_seconds": 1.6,
    }
    targets = {t["target"]: t for t in eval_voice.check_targets(groups, speed)}
    verdicts = {rule: (t["pass"], t["binding"]) for rule, t in targets.items()}
    assert verdicts == {
        "seen: Whisper WER gen <= 10%": (True, True),
        "seen: WER gen - resynth <= 5 points": (False, True),
        "seen: similarity to prompt >= 0.8": (True, True),
        "seen: DNSMOS overall >= 3.0": (True, True),
        "seen: drift over the long clip <= 2 x the reference's": (True, True),
        "held_out: Whisper WER gen <= 15%": (True, True),
        "held_out: WER gen - resynth <= 5 points": (False, False),
        "held_out: similarity to prompt >= 0.75": (False, True),
        "held_out: DNSMOS overall >= 3.0": (False, True),
        "held_out: drift over the long clip <= 2 x the reference's": (False, True),
        "10.0 s of audio, 2 threads: tokens + decode < 10 s": (True, True),
        "10.0 s of audio, 2 threads: tokens < 1.5 s": (False, True),
    }
    assert targets["held_out: drift over the long clip <= 2 x the reference's"][
        "value"
    ] == pytest.approx(3.0)
    one_thread = eval_voice.check_targets(groups, speed | {"threads": 1})
    assert [t["binding"] for t in one_thread[-2:]] == [False, False]


@pytest.mark.slow
def _tiny_voice_model(model_dir: Path, extra: str = "") -> Path:
    """A random 2-level voice model over a fitted codec; ``extra``: more pipeline.json keys."""
    tone = torch.sin(torch.arange(32000) / 16000 * 2 * torch.pi * 180) * 0.3
    codec = EmbeddedCodec.fit([tone], 16000, num_levels=2, codebook_size=16, num_iters=2)
    torch.manual_seed(0)
    config = SoundStormConfig.tiny(num_levels=2, codebook_size=16, cond_vocab_size=48)
    SoundStorm(config).save_pretrained(model_dir)
    codec.save(model_dir / "codec.safetensors")
    (model_dir / "pipeline.json").write_text(
        '{"codec": "codec.safetensors", "semantic": "phones-words"' + extra + "}"
    )
    return model_dir


def test_a_full_run_writes_audio_reports_and_grouped_summary(corpus, tmp_path):
    model_dir = _tiny_voice_model(tmp_path / "model")
    out = tmp_path / "out"
    argv = ["--model", str(model_dir), "--corpus", str(corpus), "--out", str(out)]
    argv += ["--sentences", "1", "--voices", "flite-slt", HELD_OUT, "--batch-size", "2"]
    argv += ["--long-seconds", "0", "--speed-seconds", "2", "--threads", "1", "--max-plots", "1"]
    assert eval_voice.main(argv) == 0

    assert sorted(p.name for p in (out / "generated").iterdir()) == [
        f"{HELD_OUT}__s0.wav",
        "flite-slt__s0.wav",
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["groups"]) == {"seen", "held_out"}
    assert summary["groups"]["seen"]["voices"] == ["flite-slt"]
    assert summary["groups"]["held_out"]["voices"] == [HELD_OUT]
    for group in summary["groups"].values():  # a random model's noise may have no voice
        assert {"wer_generated_corpus", "wer_resynthesis_corpus", "sim_reference_prompt"} <= set(
            group
        )
    assert summary["speed"]["threads"] == 1 and summary["speed"]["tokens_seconds"] > 0
    report = json.loads((out / "report.json").read_text())
    assert {item["item"]["id"] for item in report["items"]} == {"flite-slt__s0", f"{HELD_OUT}__s0"}
    assert all(item["metrics"]["rtf"] > 0 for item in report["items"])
    markdown = (out / "summary.md").read_text()
    assert str(model_dir) in markdown and "torch threads: 1" in markdown
    assert "steps: 16" in markdown  # no recommendation in pipeline.json: the paper's 16
    assert (out / "report.md").is_file() and (out / "consistency.png").is_file()


def test_speed_only_times_the_models_recommended_passes(corpus, tmp_path):
    """Without --steps the model's pipeline.json decides the passes (what users get), and
    --speed-only writes the speed line alone."""
    model_dir = _tiny_voice_model(tmp_path / "model", ', "steps": 2')
    out = tmp_path / "out"
    argv = ["--model", str(model_dir), "--corpus", str(corpus), "--out", str(out)]
    argv += ["--sentences", "1", "--voices", "flite-slt", "--speed-seconds", "2", "--threads", "1"]
    argv += ["--long-seconds", "0", "--speed-only"]
    assert eval_voice.main(argv) == 0
    record = json.loads((out / "speed.json").read_text())
    assert record["run"]["steps"] == 2 and record["speed"]["tokens_seconds"] > 0
    assert record["speed"]["audio_seconds"] > 1
    assert sorted(p.name for p in out.iterdir()) == ["speed.json"]  # nothing generated
    assert eval_voice.main([*argv, "--steps", "3"]) == 0
    assert json.loads((out / "speed.json").read_text())["run"]["steps"] == 3


def test_content_transcripts_are_the_items_texts_only_when_asked(corpus, tmp_path):
    split = eval_voice.read_test_split(corpus)
    items = eval_voice.pair_items(split, ["flite-slt", HELD_OUT], 1, 0)
    eval_voice.write_inputs(items, tmp_path, split.sample_rate)
    seen = []

    class Pipeline:  # what generate_items uses of a VoicePipeline
        codec = types.SimpleNamespace(sample_rate=16000)

        def make_request(self, content, rate, prompt, prompt_rate, content_transcript=None):
            seen.append(content_transcript)
            return types.SimpleNamespace(cond=torch.zeros(5))

        def generate(self, requests, generator, options):
            return [None] * len(requests)

        def decode(self, codes):
            return torch.zeros(1, 160)

    for transcripts in (False, True):
        seen.clear()
        eval_voice.generate_items(Pipeline(), items, tmp_path, 2, None, 0, transcripts)
        assert seen == ([item.text for item in items] if transcripts else [None] * len(items))
