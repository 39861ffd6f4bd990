"""A tiny corpus synthesised inside the test: files, phones, splits, determinism, resuming.

Needs the Debian ``flite`` package (scripts/install-system-deps); festival and piper checks
need their packages too and are skipped without them.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from corpus_test_fakes import write_fake_wordnet

from soundstorm.cli import main as cli_main
from soundstorm.corpus import build_corpus, synthesize
from soundstorm.corpus.voices import VOICES, missing_requirements

pytestmark = pytest.mark.skipif(
    shutil.which("flite") is None,
    reason="Debian flite is not installed (scripts/install-system-deps)",
)

EXAMPLES = [
    "the dog barked all night",
    "she sang a quiet song for the children",
    "they walked along the river after dinner",
    "he painted the old fence a bright green",
    "rain fell on the roof all afternoon",
    "we planted tomatoes in the small garden",
    "the train arrived late because of the snow",
]
VOICE_NAMES = ["flite-slt", "flite-kal16", "flite-awb"]
HELD_OUT = ["flite-awb"]


def build(out_dir: Path, wordnet: Path, workers: int = 1) -> dict:
    return build_corpus(
        out_dir,
        num_sentences=6,
        voices=VOICE_NAMES,
        held_out_voices=HELD_OUT,
        voices_per_sentence=1,
        valid_fraction=0.2,
        test_fraction=0.2,
        wordnet_dir=wordnet,
        workers=workers,
        install=False,
        progress=False,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    wordnet = write_fake_wordnet(root / "wordnet", EXAMPLES)
    summary = build(root / "a", wordnet)
    records = [
        json.loads(line) for line in (root / "a" / "manifest.jsonl").read_text().splitlines()
    ]
    return root, wordnet, summary, records


def test_files_are_16k_mono_nonsilent_with_plausible_durations(corpus):
    root, _, _, records = corpus
    assert len(records) == 4 * 1 + 2 * 3  # 4 train sentences x 1 voice, 2 eval sentences x 3
    for record in records:
        audio, rate = soundfile.read(root / "a" / record["path"], always_2d=True)
        assert rate == 16000 == record["sample_rate"] and audio.shape[1] == 1
        assert audio.shape[0] == record["num_samples"]
        assert abs(record["duration"] - audio.shape[0] / rate) < 1e-3
        assert np.sqrt(np.mean(audio**2)) > 0.02
        seconds_per_word = record["duration"] / len(record["text"].split())
        assert 0.15 < seconds_per_word < 1.2, record


def test_phone_times_are_monotone_and_end_near_the_audio_end(corpus):
    root, _, _, records = corpus
    for record in records:
        phones = json.loads((root / "a" / record["phones"]).read_text())
        assert phones["id"] == record["id"] and phones["text"] == record["text"]
        times = phones["phones"]
        assert len(times) > len(record["text"].split())
        assert times[0][1] == 0.0
        for (_, start, end), (_, next_start, _) in zip(times, times[1:]):
            assert start <= end <= next_start + 1e-6
        assert abs(times[-1][2] - record["duration"]) < 0.15
        assert "pau" in {phone for phone, _, _ in times}


def test_splits_are_disjoint_by_sentence_and_held_out_voice_is_not_trained(corpus):
    _, _, summary, records = corpus
    by_split = {
        s: {r["text"] for r in records if r["split"] == s} for s in ("train", "valid", "test")
    }
    assert not by_split["train"] & (by_split["valid"] | by_split["test"])
    assert not by_split["valid"] & by_split["test"]
    assert "flite-awb" not in {r["voice"] for r in records if r["split"] == "train"}
    assert {r["voice"] for r in records if r["split"] == "test"} == set(VOICE_NAMES)
    assert summary["held_out_voices"] == HELD_OUT
    assert summary["num_utterances"] == len(records)
    assert {s: v["sentences"] for s, v in summary["splits"].items()} == {
        "train": 4,
        "valid": 1,
        "test": 1,
    }


def test_same_arguments_give_the_same_manifest(corpus):
    root, wordnet, summary, _ = corpus
    second = build(root / "b", wordnet, workers=2)
    assert (root / "b" / "manifest.jsonl").read_text() == (
        root / "a" / "manifest.jsonl"
    ).read_text()
    assert second == summary


def test_resuming_skips_finished_utterances_and_redoes_missing_ones(corpus):
    root, wordnet, _, records = corpus
    out = root / "resume"
    build(out, wordnet)
    stamps = {r["path"]: (out / r["path"]).stat().st_mtime_ns for r in records}
    removed, interrupted = records[0], records[1]
    (out / removed["path"]).unlink()
    (out / removed["phones"]).unlink()
    (out / interrupted["phones"]).unlink()  # audio written, phones not: not finished
    stale = out / "audio" / "flite-slt" / f".x.wav.{2**31 - 1}.tmp"  # from a killed run
    stale.write_bytes(b"partial")
    build(out, wordnet)
    for record in records:
        changed = (out / record["path"]).stat().st_mtime_ns != stamps[record["path"]]
        assert changed == (record in (removed, interrupted)), record["id"]
    assert (out / "manifest.jsonl").read_text() == (root / "a" / "manifest.jsonl").read_text()
    assert not list(out.rglob("*.tmp"))


def test_unknown_voice_is_a_one_line_error(tmp_path, capsys):
    status = cli_main(
        ["corpus", str(tmp_path / "c"), "--voices", "flite-slt,nobody", "--no-install"]
    )
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert "unknown voice nobody" in error and "\n" not in error
    assert not (tmp_path / "c").exists()


def test_list_voices_names_every_voice(capsys):
    assert cli_main(["corpus", "--list-voices"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in VOICES)


@pytest.mark.parametrize("name", ["festival-kal", "festival-slt", "piper-joe", "espeak-us-f2"])
def test_other_engines_give_audio_and_phone_times(name):
    voice = VOICES[name]
    if any(missing_requirements(voice)):
        pytest.skip(f"{name} is not installed: {missing_requirements(voice)}")
    result = synthesize(voice, "The dog barked all night.")
    duration = result.audio.shape[0] / result.sample_rate
    assert 0.8 < duration < 4.0
    assert np.abs(result.audio).max() > 0.1
    assert result.phones is not None, result.phones_note
    ends = [end for _, _, end in result.phones]
    assert ends == sorted(ends) and abs(ends[-1] - duration) < 0.1
