"""benchmarks/content_phones.py on a two-recording corpus of flite speech."""

from __future__ import annotations

import json
import shutil
import subprocess

import content_phones  # benchmarks/content_phones.py (tests/benchmarks/conftest.py)
import pytest

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")

SENTENCES = ("The juice of lemons makes fine punch.", "Help the woman get back to her feet.")


def _corpus(folder):
    rows = []
    for index, (voice, text) in enumerate(zip(("slt", "rms"), SENTENCES)):
        path = folder / "audio" / f"{index}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
        rows.append({"path": f"audio/{index}.wav", "text": text, "voice": f"flite-{voice}"})
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_measures_both_tokenizers_against_the_transcripts_phones(tmp_path, capsys):
    corpus = _corpus(tmp_path / "corpus")
    assert (
        content_phones.main(
            ["--corpus", str(corpus), "--per-voice", "--out", str(tmp_path / "f.json")]
        )
        == 0
    )
    figures = json.loads((tmp_path / "f.json").read_text())
    assert figures["clips"] == 2 and set(figures["tokenizers"]) == set(content_phones.TOKENIZERS)
    for result in figures["tokenizers"].values():
        assert 0.0 <= result["word_error_rate"] <= 0.5  # clean flite speech
        assert 0.7 <= result["phone_agreement"] <= 1.0
        assert set(result["per_voice"]) == {"flite-slt", "flite-rms"}
        assert result["cpu_rtf"] > 0
    printed = capsys.readouterr().out
    assert "| `phones-moonshine` |" in printed and "| flite-rms | 1 |" in printed


def test_errors_are_one_line(tmp_path, capsys):
    assert content_phones.main(["--corpus", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("error: cannot read")
    (tmp_path / "test.jsonl").write_text('{"path": 3}\n')
    assert content_phones.main(["--corpus", str(tmp_path)]) == 1
    assert "is not a soundstorm corpus split" in capsys.readouterr().err
