"""The shipped default model: complete, within the size budget, and it does the main job.

`soundstorm demo` on the shipped samples must say the content in the prompt's voice: the
generated audio is measured with the evaluation suite (Resemblyzer, Whisper, PocketSphinx)
against the content recording, which is by another voice.
"""

import json

import pytest
import soundfile
import torch

from soundstorm.assets import SAMPLES_DIR, default_model_dir
from soundstorm.cli import main
from soundstorm.pipeline import VoicePipeline

MAX_SHIPPED_BYTES = 50 * 1024 * 1024  # model + codec + tokenizer files + samples


def test_shipped_files_are_complete_16_bit_and_within_budget():
    from safetensors import safe_open

    model_dir = default_model_dir()
    shipped = [p for d in (model_dir, SAMPLES_DIR) for p in d.iterdir() if p.is_file()]
    assert sum(p.stat().st_size for p in shipped) <= MAX_SHIPPED_BYTES
    with safe_open(model_dir / "model.safetensors", "pt") as weights:
        dtypes = {weights.get_slice(name).get_dtype() for name in weights.keys()}
    assert dtypes == {"F16"}
    pipeline = VoicePipeline.from_directory(model_dir)
    config = pipeline.engine.config
    assert pipeline.codec.num_levels >= config.num_levels
    assert pipeline.codec.codebook_size == config.codebook_size
    assert pipeline.tokenizer.vocab_size <= config.cond_vocab_size
    assert next(pipeline.engine.model.parameters()).dtype == torch.float32  # CPU inference


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out-dir", str(out)]) == 0
    return out, json.loads((out / "results.json").read_text())["items"][0]["metrics"]


def test_demo_says_the_content_in_the_prompt_voice(demo_results):
    out, metrics = demo_results
    content = soundfile.info(SAMPLES_DIR / "content.wav").duration
    assert abs(soundfile.info(out / "generated.wav").duration - content) <= 0.02
    # the voice moved from the content speaker's to the prompt speaker's (the session-7 model:
    # 0.86-0.91 against 0.49 over seeds 0-2)
    assert metrics["sim_generated_prompt"] >= metrics["sim_reference_prompt"] + 0.25
    # Intelligibility (Whisper tiny.en on the 16 words of content.txt). The pipeline's ceiling,
    # the content through the shipped codec, is 0% (measured). The demo aligns content.txt to
    # the content (session 10); the session-9 model then: 19% / 6% / 19% over seeds 0-2 with
    # 16 sampled first-level passes, and 19% with the one argmax pass that pipeline.json
    # recommends since session 13 (deterministic; the held-out prompt, --unseen: 6%); with
    # the words recognised instead (--recognise) 25% / 25% / 31% (session 7: 50% / 25% / 56%;
    # session 1: 94-106%). A floor with margin, not the target.
    assert metrics["wer_resynthesis"] <= 0.10
    assert metrics["wer_generated"] <= 0.4
    for name in ("results.md", "spectrograms_demo.png", "consistency.png"):
        assert (out / name).stat().st_size > 0, name


def test_shipped_model_carries_its_training_history():
    """training.json (sealed) lists the runs behind the shipped weights, and the model card's
    Training section adds up the same runs."""
    from soundstorm.model_card import read_training_history

    model_dir = default_model_dir()
    history = read_training_history(model_dir)
    assert history and not any(run.get("missing") for run in history)
    steps = sum(int(run["progress"]["step"]) for run in history)
    card = (model_dir / "README.md").read_text()
    assert f"- In all: {steps:,} steps" in card
