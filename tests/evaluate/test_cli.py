"""``soundstorm evaluate`` end to end on a tiny manifest of flite speech, and its errors."""

from __future__ import annotations

import json
import shutil

import pytest

from soundstorm.cli import main as soundstorm_main
from soundstorm.errors import SoundStormError

from tests.evaluate.conftest import FOX, WEATHER, MuLawCodec

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def manifest(tmp_path, speech_files):
    for path in speech_files.values():
        shutil.copy(path, tmp_path / path.name)
    rows = [
        {
            "id": "steady",
            "generated": "slt_fox.wav",
            "reference": "slt_fox.wav",
            "prompt": "slt_prompt.wav",
            "text": FOX,
            "generation_seconds": 0.4,
        },
        {
            "id": "wrong|voice",
            "generated": "awb_fox.wav",
            "prompt": "slt_prompt.wav",
            "text": WEATHER,
        },
    ]
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_evaluate_manifest_writes_json_markdown_and_figures(manifest, tmp_path, capsys):
    out = tmp_path / "results"
    assert soundstorm_main(["evaluate", "--manifest", str(manifest), "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == [
        "consistency.png",
        "results.json",
        "results.md",
        "spectrograms_steady.png",
        "spectrograms_wrong_voice.png",
    ]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
    results = json.loads((out / "results.json").read_text())
    steady, wrong = (item["metrics"] for item in results["items"])
    assert steady["wer_generated"] == steady["wer_reference"] <= 0.25
    assert wrong["wer_generated"] >= 0.7  # awb says the fox sentence, the text is another one
    assert steady["sim_generated_prompt"] > wrong["sim_generated_prompt"] + 0.1
    assert steady["rtf"] == pytest.approx(0.4 / steady["duration_s"])
    assert "rtf" not in wrong and "wer_reference" not in wrong
    assert steady["dnsmos_generated"] == steady["dnsmos_reference"]
    curve = results["items"][0]["details"]["consistency_generated"]
    assert len(curve["similarities"]) == round(steady["duration_s"])
    assert results["summary"]["wer_generated"] == pytest.approx(
        (steady["wer_generated"] + wrong["wer_generated"]) / 2
    )
    markdown = (out / "results.md").read_text()
    assert "| steady |" in markdown and "wrong\\|voice" in markdown and "**mean**" in markdown
    assert "| steady |" in capsys.readouterr().out


def test_evaluate_files_with_selected_metrics_and_no_plots(speech_files, tmp_path):
    out = tmp_path / "out"
    args = ["evaluate", "--generated", str(speech_files["slt_fox"]), "--text", FOX]
    args += ["--metrics", "wer", "--max-plots", "0", "--quiet", "--out", str(out)]
    assert soundstorm_main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["results.json", "results.md"]
    metrics = json.loads((out / "results.json").read_text())["items"][0]["metrics"]
    assert set(metrics) == {"duration_s", "wer_generated", "wer_pocketsphinx_generated"}


def test_evaluate_with_codec_reports_the_resynthesis_ceiling(speech_files, tmp_path, monkeypatch):
    import soundstorm.codecs

    asked = []
    monkeypatch.setattr(
        soundstorm.codecs,
        "get_codec",
        lambda name: asked.append(name) or MuLawCodec(),
        raising=False,
    )
    out = tmp_path / "out"
    args = ["evaluate", "--generated", str(speech_files["awb_fox"]), "--text", FOX]
    args += ["--reference", str(speech_files["slt_fox"]), "--codec", "mulaw"]
    args += ["--metrics", "wer", "--max-plots", "0", "--quiet", "--out", str(out)]
    assert soundstorm_main(args) == 0
    assert asked == ["mulaw"]
    results = json.loads((out / "results.json").read_text())
    metrics = results["items"][0]["metrics"]
    assert results["options"]["codec"] == "mulaw"
    assert metrics["wer_resynthesis"] <= 0.3
    assert 0.9 < metrics["stoi_resynthesis"] <= 1.0
    assert 2.0 < metrics["pesq_resynthesis"] <= 4.7
    assert "wer_resynthesis_corpus" in results["summary"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--generated", "{d}/slt_fox.wav", "{d}/awb_fox.wav", "--text", "one"],
            "2 generated files but 1 --text",
        ),
        (["--generated", "{d}/missing.wav"], "audio file not found"),
        (["--manifest", "{d}/missing.jsonl"], "manifest not found"),
        (["--manifest", "{d}/eval.jsonl", "--text", "x"], "cannot be combined with --text"),
        (["--generated", "{d}/slt_fox.wav", "--metrics", "wer,bleu"], "unknown metric 'bleu'"),
        (["--text", "x"], "give --manifest FILE or --generated FILES"),
    ],
)
def test_evaluate_errors_are_one_line_and_write_nothing(manifest, tmp_path, capsys, extra, message):
    out = tmp_path / "never"
    args = ["evaluate", *(a.format(d=tmp_path) for a in extra), "--out", str(out)]
    assert soundstorm_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("soundstorm evaluate: error:")
    assert not out.exists()


def test_missing_packages_are_named_in_one_line(monkeypatch):
    import importlib.util

    from soundstorm.evaluate.suite import check_dependencies

    real_find_spec = importlib.util.find_spec
    gone = {"pocketsphinx", "pkg_resources"}
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in gone else real_find_spec(name, *a),
    )
    with pytest.raises(SoundStormError, match=r"needs pocketsphinx, setuptools<81: pip install"):
        check_dependencies(["wer", "speaker", "dnsmos", "plots"])
    check_dependencies(["dnsmos", "plots"])  # these are all installed
