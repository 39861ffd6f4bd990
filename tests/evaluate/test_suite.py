"""The suite on items directly: partial inputs, failed metrics, summaries, report files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from soundstorm.evaluate.manifest import EvaluationItem
from soundstorm.evaluate.report import format_value, markdown_table, write_json
from soundstorm.evaluate.suite import SuiteOptions, evaluate_item, evaluate_items, summarize

from tests.evaluate.conftest import FOX


def test_silent_generation_keeps_the_other_metrics_and_records_why(speech_files, tmp_path):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(2 * 16_000, dtype=np.float32), 16_000)
    item = EvaluationItem("mute", silent, prompt=speech_files["slt_prompt"], text=FOX)
    result = evaluate_item(item, SuiteOptions(metrics=("wer", "speaker", "dnsmos", "consistency")))
    assert result.metrics["wer_generated"] >= 0.9  # (almost) nothing recognised
    assert "sim_generated_prompt" not in result.metrics
    assert "dnsmos_generated" not in result.metrics
    assert set(result.details["errors"]) == {"sim_generated_prompt", "dnsmos_generated"}
    assert result.details["consistency_generated"]["similarities"] == [None, None]
    assert "consistency_slope_generated" not in result.metrics


def test_items_without_prompt_or_text_get_only_what_they_allow(speech_files):
    item = EvaluationItem("bare", speech_files["awb_fox"], generation_seconds=1.0)
    result = evaluate_item(item, SuiteOptions(metrics=("wer", "speaker", "consistency")))
    assert set(result.metrics) == {"duration_s", "rtf"}
    assert result.metrics["rtf"] == pytest.approx(1.0 / result.metrics["duration_s"])


def test_summary_means_corpus_wer_and_total_rtf(speech_files, tmp_path):
    items = [
        EvaluationItem("a", speech_files["slt_fox"], text=FOX, generation_seconds=1.0),
        EvaluationItem("b", speech_files["slt_weather"], text=FOX, generation_seconds=3.0),
    ]
    report = evaluate_items(items, SuiteOptions(metrics=("wer",)))
    a, b = report.results
    assert report.summary["wer_generated"] == pytest.approx(
        (a.metrics["wer_generated"] + b.metrics["wer_generated"]) / 2
    )
    errors = [r.details["asr_generated"] for r in report.results]
    corpus = sum(e["substitutions"] + e["deletions"] + e["insertions"] for e in errors) / sum(
        e["reference_words"] for e in errors
    )
    assert report.summary["wer_generated_corpus"] == pytest.approx(corpus)
    assert "wer_pocketsphinx_generated_corpus" in report.summary  # the second column
    assert set(report.options["asr"]) == {"whisper", "pocketsphinx"}
    total = a.metrics["duration_s"] + b.metrics["duration_s"]
    assert report.summary["rtf_total"] == pytest.approx(4.0 / total)
    assert summarize([]) == {}
    table = markdown_table(report)
    assert table.count("\n| ") >= 3 and format_value("wer_generated", 0.25) == "25.0%"
    assert format_value("consistency_slope_generated", -0.0012) == "-0.0012"
    assert format_value("rtf", None) == format_value("rtf", float("nan")) == "-"
    path = write_json(report, tmp_path / "r.json")
    assert json.loads(path.read_text())["summary"] == pytest.approx(report.summary)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_suite_options_reject_unknown_metrics_and_bad_windows():
    with pytest.raises(ValueError, match="unknown metric 'mos'"):
        SuiteOptions(metrics=("wer", "mos"))
    with pytest.raises(ValueError, match="segment_seconds"):
        SuiteOptions(segment_seconds=0.0)


def test_recognizers_option_selects_the_wer_columns(speech_files):
    item = EvaluationItem("a", speech_files["slt_fox"], text=FOX)
    result = evaluate_item(item, SuiteOptions(metrics=("wer",), recognizers=("whisper",)))
    assert set(result.metrics) == {"duration_s", "wer_generated"}
    assert result.metrics["wer_generated"] == 0.0  # the judge on clean flite speech
    assert result.details["asr_generated"]["transcript"]
    result = evaluate_item(item, SuiteOptions(metrics=("wer",), recognizers=("pocketsphinx",)))
    assert set(result.metrics) == {"duration_s", "wer_pocketsphinx_generated"}
    with pytest.raises(ValueError, match="unknown recognizer"):
        SuiteOptions(recognizers=("kaldi",))
