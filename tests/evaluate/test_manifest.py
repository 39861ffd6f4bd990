"""Manifest reading and item building: paths, matching, and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from soundstorm.errors import SoundStormError
from soundstorm.evaluate.manifest import EvaluationItem, items_from_paths, read_manifest


def _write_lines(path: Path, rows: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def audio_dir(tmp_path, speech_files) -> Path:
    """A folder with gen/{a,b}.wav, ref/{a,b}.wav and prompt.wav."""
    for sub in ("gen", "ref"):
        (tmp_path / sub).mkdir()
        shutil.copy(speech_files["slt_fox"], tmp_path / sub / "a.wav")
        shutil.copy(speech_files["awb_fox"], tmp_path / sub / "b.wav")
    shutil.copy(speech_files["slt_prompt"], tmp_path / "prompt.wav")
    return tmp_path


def test_read_manifest_resolves_relative_paths_and_defaults(audio_dir):
    manifest = _write_lines(
        audio_dir / "eval.jsonl",
        [
            {"id": "one", "generated": "gen/a.wav", "reference": "ref/a.wav", "text": "hi"},
            "",
            {"generated": "gen/b.wav", "prompt": "prompt.wav", "generation_seconds": 2},
        ],
    )
    items = read_manifest(manifest)
    assert [i.id for i in items] == ["one", "b"]
    assert items[0].generated == audio_dir / "gen" / "a.wav"
    assert items[0].prompt is None and items[0].text == "hi"
    assert items[1].generation_seconds == 2.0 and items[1].reference is None
    assert items[1].to_dict()["prompt"] == str(audio_dir / "prompt.wav")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{not json", "line 1: not valid JSON"),
        ("[1, 2]", "line 1: expected a JSON object"),
        ({"reference": "ref/a.wav"}, "line 1: missing 'generated'"),
        ({"generated": "gen/a.wav", "refrence": "x"}, "unknown field 'refrence'"),
        ({"generated": "gen/a.wav", "text": 3}, "'text' must be a string"),
        ({"generated": "gen/a.wav", "generation_seconds": "fast"}, "must be a number"),
        ({"generated": "gen/a.wav", "text": "  "}, "empty text"),
    ],
)
def test_read_manifest_rejects_bad_rows_with_a_clear_message(audio_dir, row, message):
    manifest = _write_lines(audio_dir / "bad.jsonl", [row])
    with pytest.raises(SoundStormError, match=message):
        read_manifest(manifest)


def test_read_manifest_names_missing_files_and_duplicate_ids(audio_dir):
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        read_manifest(audio_dir / "nope.jsonl")
    missing = _write_lines(audio_dir / "m.jsonl", [{"generated": "gen/a.wav", "prompt": "p.wav"}])
    with pytest.raises(FileNotFoundError, match=r"item 'a': audio file not found: .*p\.wav"):
        read_manifest(missing)
    twice = _write_lines(
        audio_dir / "d.jsonl", [{"generated": "gen/a.wav"}, {"generated": "ref/a.wav"}]
    )
    with pytest.raises(SoundStormError, match="duplicate item id 'a'"):
        read_manifest(twice)
    empty = _write_lines(audio_dir / "e.jsonl", [""])
    with pytest.raises(SoundStormError, match="no items"):
        read_manifest(empty)


def test_items_from_folders_match_by_name_and_broadcast_one_prompt(audio_dir):
    items = items_from_paths(
        [audio_dir / "gen"], [audio_dir / "ref"], [audio_dir / "prompt.wav"], ["x y", "z"]
    )
    assert [i.id for i in items] == ["a", "b"]
    assert [i.reference.parent.name for i in items] == ["ref", "ref"]
    assert all(i.prompt == audio_dir / "prompt.wav" for i in items)
    assert [i.text for i in items] == ["x y", "z"]


def test_items_from_files_number_repeated_names(audio_dir):
    items = items_from_paths([audio_dir / "gen" / "a.wav", audio_dir / "ref" / "a.wav"])
    assert [i.id for i in items] == ["0000_a", "0001_a"]
    assert items[0] == EvaluationItem(id="0000_a", generated=audio_dir / "gen" / "a.wav")


def test_items_from_paths_reject_mismatched_counts_and_missing_matches(audio_dir):
    gen = [audio_dir / "gen" / "a.wav", audio_dir / "gen" / "b.wav"]
    with pytest.raises(SoundStormError, match="2 generated files but 1 --reference"):
        items_from_paths(gen, reference=[audio_dir / "ref" / "a.wav"])
    with pytest.raises(SoundStormError, match="2 generated files but 3 --text"):
        items_from_paths(gen, texts=["a", "b", "c"])
    with pytest.raises(SoundStormError, match="2 generated files but 1 --generation-seconds"):
        items_from_paths(gen, generation_seconds=[1.0])
    (audio_dir / "ref" / "b.wav").unlink()
    with pytest.raises(FileNotFoundError, match="has no file named b"):
        items_from_paths(gen, reference=[audio_dir / "ref"])
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        items_from_paths([audio_dir / "missing.wav"])
    (audio_dir / "empty").mkdir()
    with pytest.raises(SoundStormError, match="no audio files"):
        items_from_paths([audio_dir / "empty"])
