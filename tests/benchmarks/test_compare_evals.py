"""benchmarks/compare_evals.py: paired word errors and similarity of eval_voice.py runs."""

from __future__ import annotations

import json
import math

import compare_evals  # benchmarks/compare_evals.py (tests/benchmarks/conftest.py)
import pytest

from soundstorm.errors import SoundStormError


def _run(folder, wers, sims, held_out=("v2",)):
    """An eval_voice.py output folder: items v1__s<i> / v2__s<i> of 4 words, and a long one."""
    folder.mkdir(parents=True)
    items = []
    for index, (wer, sim) in enumerate(zip(wers, sims)):
        voice = "v1" if index % 2 == 0 else "v2"
        items.append({
            "item": {"id": f"{voice}__s{index}", "text": "one two three four"},
            "metrics": {"wer_generated": wer, "sim_generated_prompt": sim},
        })  # fmt: skip
    items.append({
        "item": {"id": "v1__long", "text": "a b"},
        "metrics": {"wer_generated": 9.0, "sim_generated_prompt": 0.0},
    })  # fmt: skip
    (folder / "report.json").write_text(json.dumps({"items": items}))
    groups = {"held_out": {"voices": list(held_out)}, "seen": {"voices": ["v1"]}}
    (folder / "summary.json").write_text(json.dumps({"groups": groups}))
    return folder


def test_paired_errors_groups_and_similarity(tmp_path):
    base = compare_evals.load_items(_run(tmp_path / "base", [0.5, 0.25, 0.0, 1.0], [0.8] * 4))
    other = compare_evals.load_items(
        _run(tmp_path / "other", [0.25, 0.25, 0.25, 0.5], [0.7, 0.8, 0.9, 0.8])
    )
    figures = compare_evals.compare(base, other)
    # word errors: wer x 4 words, the long item left out
    assert figures["all"]["word_errors"] == 5 and figures["all"]["base_word_errors"] == 7
    diffs = [-1, 0, 1, -2]
    expected = math.sqrt(4) * (sum((d + 0.5) ** 2 for d in diffs) / 3) ** 0.5
    assert figures["all"]["paired_sd"] == pytest.approx(expected)
    assert figures["seen"]["word_errors"] == 2 and figures["seen"]["base_word_errors"] == 2
    assert figures["held_out"]["word_errors"] == 3 and figures["held_out"]["items"] == 2
    assert figures["similarity_change"]["mean"] == pytest.approx(0.0)
    row = compare_evals.format_row("other", figures)
    assert row.startswith("| other | 5 vs 7 (") and row.count("|") == 6


def test_errors_are_one_line(tmp_path, capsys):
    base = _run(tmp_path / "base", [0.5], [0.8])
    assert compare_evals.main([str(base), str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err.startswith("error: cannot read")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "report.json").write_text('{"items": [{"item": 3}]}')
    assert compare_evals.main([str(base), str(tmp_path / "bad")]) == 1
    assert "not a report of benchmarks/eval_voice.py" in capsys.readouterr().err
    other = _run(tmp_path / "other", [], [])  # only the long item: nothing to pair
    with pytest.raises(SoundStormError, match="share no scored short item"):
        compare_evals.compare(compare_evals.load_items(base), compare_evals.load_items(other))


def test_main_prints_a_table_and_writes_json(tmp_path, capsys):
    base = _run(tmp_path / "base", [0.5, 0.25], [0.8, 0.8])
    other = _run(tmp_path / "other", [0.25, 0.25], [0.8, 0.8])
    assert compare_evals.main([str(base), str(other), "--json", str(tmp_path / "f.json")]) == 0
    printed = capsys.readouterr().out
    assert compare_evals.HEADER in printed and "| 2 vs 3 (" in printed
    saved = json.loads((tmp_path / "f.json").read_text())
    assert saved["runs"][str(other)]["all"]["word_errors"] == 2


def test_seeds_joined_by_commas_add_up_per_item(tmp_path):
    base0 = _run(tmp_path / "b0", [0.5, 0.25], [0.8, 0.6])
    base1 = _run(tmp_path / "b1", [0.25, 0.0], [0.6, 0.6])
    joined = compare_evals.load_runs(f"{base0},{base1}")
    assert joined["v1__s0"]["errors"] == 3 and joined["v1__s0"]["words"] == 8
    assert joined["v1__s0"]["similarity"] == pytest.approx(0.7)
    assert joined["v2__s1"]["errors"] == 1 and joined["v2__s1"]["held_out"]
    other = _run(tmp_path / "o0", [0.0, 0.0], [0.8, 0.6])
    figures = compare_evals.compare(joined, compare_evals.load_runs(f"{other},{other}"))
    assert figures["all"]["word_errors"] == 0 and figures["all"]["base_word_errors"] == 4
    lone = _run(tmp_path / "lone", [], [])  # only the long item, which the others have too
    assert set(compare_evals.load_runs(f"{base0},{lone}")) == {"v1__long"}
