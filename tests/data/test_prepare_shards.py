"""``soundstorm prepare`` end to end with a fake codec / tokenizer: content, splits, bad
files, resumability after a simulated kill, ranks, manifests and CLI errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data_test_fakes import (
    FakeEnergyCodec,
    FakeZeroCrossingTokenizer,
    tree_bytes,
    write_corpus,
    write_tone,
)

from soundstorm.cli import main as cli_main
from soundstorm.data import TokenShardDataset
from soundstorm.data.encoding import encode_file
from soundstorm.data.inputs import AudioInput, list_inputs
from soundstorm.data.prepare import PrepareInterrupted, prepare
from soundstorm.errors import SoundStormError


def run(source, out, **options):
    options = {"shard_size": 3, "valid_fraction": 0.2, "progress": False, **options}
    return prepare(
        source, out, codec=FakeEnergyCodec(), semantic=FakeZeroCrossingTokenizer(), **options
    )


def test_prepare_writes_every_utterance_with_the_codec_tokens(tmp_path):
    paths = write_corpus(tmp_path / "wavs", num_files=10)
    summary = run(tmp_path / "wavs", tmp_path / "out")
    assert summary["num_utterances_encoded"] == 10 and summary["num_bad_files_encoded"] == 0
    train, valid = (
        TokenShardDataset(tmp_path / "out", "train"),
        TokenShardDataset(tmp_path / "out", "valid"),
    )
    assert len(train) + len(valid) == 10 and len(valid) >= 1
    ids = train.ids() + valid.ids()
    assert sorted(ids) == sorted(f"{p.parent.name}/{p.stem}" for p in paths)
    assert not set(train.ids()) & set(valid.ids())
    codec, tokenizer = FakeEnergyCodec(), FakeZeroCrossingTokenizer()
    for ds in (train, valid):
        assert (
            ds.meta["codec"] == codec.config_dict()
            and ds.meta["semantic"] == tokenizer.config_dict()
        )
        for i in range(len(ds)):
            item = ds[i]
            expected = encode_file(
                codec,
                tokenizer,
                AudioInput(item["id"], str(tmp_path / "wavs" / f"{item['id']}.wav")),
            )
            np.testing.assert_array_equal(item["codes"], expected.codes)
            np.testing.assert_array_equal(item["semantic"], expected.semantic)
            assert item["codes"].shape[1] == ds.lengths[i] == item["semantic"].shape[0]
            # 25 Hz ids repeated to 50 Hz frames: pairs of equal ids
            assert np.all(
                item["semantic"][0::2][: len(item["semantic"]) // 2] == item["semantic"][1::2]
            )
            assert item["duration"] == pytest.approx(ds.lengths[i] / 50.0, abs=0.021)
    assert (tmp_path / "out" / "bad_files.tsv").read_text() == "path\tid\treason\n"


def test_bad_files_are_skipped_and_reported(tmp_path):
    wavs = tmp_path / "wavs"
    write_corpus(wavs, num_files=4)
    write_tone(wavs / "short.wav", 0.1, 300)
    (wavs / "not_audio.wav").write_text("this is not audio\n")
    (wavs / "empty.wav").write_bytes(b"")
    write_tone(wavs / "silent_zero.wav", 0.0, 300)
    (wavs / "notes.txt").write_text("ignored: not an audio suffix")
    summary = run(wavs, tmp_path / "out")
    report = (tmp_path / "out" / "bad_files.tsv").read_text().splitlines()
    assert report[0] == "path\tid\treason"
    reasons = {line.split("\t")[1]: line.split("\t")[2] for line in report[1:]}
    assert set(reasons) == {"short", "not_audio", "empty", "silent_zero"}
    assert "too short" in reasons["short"]
    assert "no samples" in reasons["silent_zero"]
    assert summary["num_utterances_encoded"] == 4
    assert len(TokenShardDataset(tmp_path / "out")) == 4
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["num_bad_files"] == 4


def test_interrupted_run_resumes_to_the_same_shards(tmp_path):
    write_corpus(tmp_path / "wavs", num_files=10)
    run(tmp_path / "wavs", tmp_path / "reference")
    with pytest.raises(PrepareInterrupted):
        run(tmp_path / "wavs", tmp_path / "resumed", stop_after_shards=2)
    shards = tmp_path / "resumed" / "shards"
    assert len([p for p in shards.iterdir() if not p.name.startswith(".")]) == 2
    assert len(list(shards.glob(".*.tmp-*"))) == 1, "the killed shard exists only as a temp dir"
    assert not (tmp_path / "resumed" / "manifest.json").exists()
    summary = run(tmp_path / "wavs", tmp_path / "resumed")
    assert summary["num_shards_skipped"] == 2
    assert summary["num_shards_written"] == summary["num_shards_planned"] - 2
    assert tree_bytes(tmp_path / "resumed") == tree_bytes(tmp_path / "reference")
    again = run(tmp_path / "wavs", tmp_path / "resumed")  # idempotent: nothing to redo
    assert again["num_shards_written"] == 0
    assert tree_bytes(tmp_path / "resumed") == tree_bytes(tmp_path / "reference")


def test_corrupt_shard_is_redone(tmp_path):
    write_corpus(tmp_path / "wavs", num_files=6)
    run(tmp_path / "wavs", tmp_path / "out")
    reference = tree_bytes(tmp_path / "out")
    (tmp_path / "out" / "shards" / "train-00000" / "index.json").write_text("{truncated")
    codes = tmp_path / "out" / "shards" / "train-00001" / "codes.npy"
    codes.write_bytes(codes.read_bytes()[:-10])
    summary = run(tmp_path / "wavs", tmp_path / "out")
    assert summary["num_shards_written"] == 2
    assert tree_bytes(tmp_path / "out") == reference


def test_ranks_split_the_work_and_rank_zero_merges(tmp_path):
    write_corpus(tmp_path / "wavs", num_files=10)
    run(tmp_path / "wavs", tmp_path / "single")
    rank1 = run(tmp_path / "wavs", tmp_path / "multi", rank=1, world_size=2)
    assert rank1["manifest"] is None and not (tmp_path / "multi" / "manifest.json").exists()
    rank0 = run(tmp_path / "wavs", tmp_path / "multi", rank=0, world_size=2)
    assert rank0["num_shards_written"] + rank1["num_shards_written"] == rank0["num_shards_planned"]
    assert rank0["num_shards_written"] > 0 and rank1["num_shards_written"] > 0
    assert tree_bytes(tmp_path / "multi") == tree_bytes(tmp_path / "single")


def test_rank_zero_times_out_when_another_rank_never_finishes(tmp_path):
    write_corpus(tmp_path / "wavs", num_files=10)
    with pytest.raises(SoundStormError, match="waiting for the other ranks"):
        run(tmp_path / "wavs", tmp_path / "out", rank=0, world_size=2, merge_timeout=0.1)


def test_worker_processes_give_the_same_shards(tmp_path):
    write_corpus(tmp_path / "wavs", num_files=6)
    run(tmp_path / "wavs", tmp_path / "serial")
    run(tmp_path / "wavs", tmp_path / "parallel", workers=2)
    assert tree_bytes(tmp_path / "parallel") == tree_bytes(tmp_path / "serial")


def test_manifest_inputs_text_and_jsonl(tmp_path):
    paths = write_corpus(tmp_path / "corpus" / "wavs", num_files=4)
    text = tmp_path / "corpus" / "list.txt"
    text.write_text(
        "# audio files, relative to this file\n\n"
        + "".join(f"{p.relative_to(text.parent)}\n" for p in paths[:3])
        + f"custom_id\t{paths[3]}\n"
        + "wavs/missing.wav\n"
    )
    inputs = list_inputs(text)
    assert [i.id for i in inputs] == [
        "custom_id",
        "wavs/missing",
        "wavs/spk_a/utt_000",
        "wavs/spk_a/utt_002",
        "wavs/spk_b/utt_001",
    ]
    jsonl = tmp_path / "corpus" / "list.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"path": str(p), "id": f"u{i}"}) + "\n" for i, p in enumerate(paths))
    )
    assert [i.id for i in list_inputs(jsonl)] == ["u0", "u1", "u2", "u3"]
    summary = run(text, tmp_path / "out", valid_fraction=0.0)
    assert summary["num_utterances_encoded"] == 4
    bad = (tmp_path / "out" / "bad_files.tsv").read_text()
    assert "wavs/missing" in bad and "not found" in bad
    jsonl.write_text('{"id": "x"}\n')
    with pytest.raises(SoundStormError, match='no "path"'):
        list_inputs(jsonl)
    text.write_text(f"a\t{paths[0]}\na\t{paths[1]}\n")
    with pytest.raises(SoundStormError, match="duplicate utterance id 'a'"):
        list_inputs(text)


def test_rerun_with_other_settings_is_refused(tmp_path):
    write_corpus(tmp_path / "wavs", num_files=4)
    run(tmp_path / "wavs", tmp_path / "out")
    with pytest.raises(SoundStormError, match="shard_size"):
        run(tmp_path / "wavs", tmp_path / "out", shard_size=2)


def test_cli_missing_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    status = cli_main(["prepare", str(tmp_path / "no_such_dir"), str(out)])
    error = capsys.readouterr().err
    assert status == 2
    assert error.count("\n") == 1 and "no_such_dir" in error and "Traceback" not in error
    assert not out.exists()
    (tmp_path / "empty_dir").mkdir()
    assert cli_main(["prepare", str(tmp_path / "empty_dir"), str(out)]) == 2
    assert "no audio files" in capsys.readouterr().err
    assert not out.exists()


def test_splits_are_stable_when_data_is_added():
    from soundstorm.data.inputs import assign_splits, plan_shards

    inputs = [AudioInput(f"spk{i % 7}/utt{i:05d}", f"/a/{i}.wav") for i in range(2000)]
    small = assign_splits(inputs[:500], 0.1)
    large = assign_splits(inputs, 0.1)
    assert {i.id for i in small["valid"]} == {i.id for i in large["valid"] if i in inputs[:500]}
    assert 0.07 < len(large["valid"]) / len(inputs) < 0.13
    plans = plan_shards(inputs, 300, 0.1)
    assert [p.name for p in plans][:2] == ["train-00000", "train-00001"]
    assert sum(len(p.inputs) for p in plans) == len(inputs)
    assert all(len(p.inputs) <= 300 for p in plans)
    assert plans == plan_shards(list(inputs), 300, 0.1)
    with pytest.raises(SoundStormError, match="shard-size"):
        plan_shards(inputs, 0, 0.1)
    with pytest.raises(SoundStormError, match="valid-fraction"):
        plan_shards(inputs, 10, 1.0)


def test_jsonl_manifest_splits_are_kept(tmp_path):
    paths = write_corpus(tmp_path / "wavs", num_files=6)
    splits = ["train", "train", "train", "valid", "test", "test"]
    manifest = tmp_path / "corpus.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"id": f"u{i}", "path": str(p), "split": s, "text": "ignored"}) + "\n"
            for i, (p, s) in enumerate(zip(paths, splits))
        )
    )
    run(manifest, tmp_path / "out", valid_fraction=0.5)
    for split in ("train", "valid", "test"):
        ds = TokenShardDataset(tmp_path / "out", split)
        assert ds.ids() == [f"u{i}" for i, s in enumerate(splits) if s == split]
    manifest.write_text(
        json.dumps({"path": str(paths[0]), "split": "train"})
        + "\n"
        + json.dumps({"path": str(paths[1])})
        + "\n"
    )
    with pytest.raises(SoundStormError, match="not to"):
        run(manifest, tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_the_codec_is_fitted_on_the_train_split_only(tmp_path, monkeypatch):
    """Held-out utterances (a manifest's valid / test splits) never shape the codebooks: a
    voice fitted into them gets codes of its own that no training example targets."""
    import soundstorm.data.codec_fitting as codec_fitting

    paths = write_corpus(tmp_path / "wavs", num_files=6)
    splits = ["train", "test", "train", "valid", "train", "test"]
    manifest = tmp_path / "corpus.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"id": f"u{i}", "path": str(p), "split": s}) + "\n"
            for i, (p, s) in enumerate(zip(paths, splits))
        )
    )
    fitted_on = []
    real_fit = codec_fitting.fit_embedded_codec

    def spy(inputs, *args, **kwargs):
        fitted_on.extend(i.id for i in inputs)
        return real_fit(inputs, *args, **kwargs)

    monkeypatch.setattr(codec_fitting, "fit_embedded_codec", spy)
    tiny = {"num_levels": 2, "codebook_size": 4, "fit_files": 10, "embedded_codec": "v1"}
    prepare(manifest, tmp_path / "out", codec=None, semantic=FakeZeroCrossingTokenizer(),
            shard_size=3, progress=False, **tiny)  # fmt: skip
    assert fitted_on == ["u0", "u2", "u4"]
    assert len(TokenShardDataset(tmp_path / "out", "test")) == 2  # encoded all the same


def test_audio_under_one_frame_goes_to_the_bad_file_report(tmp_path):
    # Fake codec: 20 ms frames; fake tokenizer: 40 ms frames. --min-duration 0 lets them through.
    wavs = tmp_path / "wavs"
    write_corpus(wavs, num_files=3)
    write_tone(wavs / "ten_ms.wav", 0.01, 300)
    write_tone(wavs / "thirty_ms.wav", 0.03, 300)
    write_tone(wavs / "one_sample.wav", 1 / 8000, 300)
    write_tone(wavs / "forty_ms.wav", 0.04, 300)  # one frame of each: kept
    summary = run(wavs, tmp_path / "out", min_duration=0.0)
    report = (tmp_path / "out" / "bad_files.tsv").read_text().splitlines()
    reasons = {line.split("\t")[1]: line.split("\t")[2] for line in report[1:]}
    assert set(reasons) == {"ten_ms", "thirty_ms", "one_sample"}
    assert reasons["ten_ms"] == (
        f"{wavs / 'ten_ms.wav'}: audio is 10.0 ms long, shorter than one codec frame (20.0 ms)"
    )
    assert reasons["thirty_ms"].endswith(
        "thirty_ms.wav: audio is 30.0 ms long, shorter than one semantic frame (40.0 ms)"
    )
    assert "0.1 ms long, shorter than one codec frame" in reasons["one_sample"]
    assert summary["num_utterances_encoded"] == 4
    dataset = TokenShardDataset(tmp_path / "out")
    lengths = dict(zip(dataset.ids(), dataset.lengths))
    assert lengths["forty_ms"] == 2  # 40 ms at 50 frames/s


def test_encode_file_names_the_file_of_unusable_audio(tmp_path):
    from soundstorm.errors import AudioInputError, AudioTooShortError

    short = write_tone(tmp_path / "short.wav", 0.01, 300)
    with pytest.raises(AudioTooShortError, match=r"short\.wav: audio is 10\.0 ms long"):
        encode_file(FakeEnergyCodec(), FakeZeroCrossingTokenizer(), AudioInput("s", str(short)))
    import soundfile

    soundfile.write(str(tmp_path / "nan.wav"), np.full(800, np.nan, np.float32), 8000, "FLOAT")
    with pytest.raises(SoundStormError, match=r"nan\.wav: the file holds NaN or infinite"):
        encode_file(
            FakeEnergyCodec(),
            FakeZeroCrossingTokenizer(),
            AudioInput("n", str(tmp_path / "nan.wav")),
        )
    assert issubclass(AudioTooShortError, AudioInputError)


def test_the_shipped_codec_alias_records_the_shipped_codec_file(tmp_path):
    """``--codec shipped``: the shards share the shipped model's codes (fine-tuning it), and
    record the file, not the alias, so they keep working when the alias moves on."""
    from soundstorm.assets import DEFAULT_MODEL_DIR
    from soundstorm.codecs import get_codec

    write_corpus(tmp_path / "wavs", num_files=3)
    prepare(
        tmp_path / "wavs",
        tmp_path / "out",
        codec="shipped",
        semantic=FakeZeroCrossingTokenizer(),
        shard_size=3,
        valid_fraction=0.0,
        progress=False,
    )
    shipped = (DEFAULT_MODEL_DIR / "codec.safetensors").resolve()
    data = TokenShardDataset(tmp_path / "out", "train")
    assert data.meta["codec_path"] == str(shipped)
    assert not (tmp_path / "out" / "codec.safetensors").exists()  # nothing fitted
    codec = get_codec(shipped)
    item = data[0]
    expected = encode_file(
        codec,
        FakeZeroCrossingTokenizer(),
        AudioInput(item["id"], str(tmp_path / "wavs" / f"{item['id']}.wav")),
    )
    np.testing.assert_array_equal(item["codes"], expected.codes)
    assert item["codes"].shape[0] == 12 and item["codes"].max() < 1024


class FakeTranscriptTokenizer(FakeZeroCrossingTokenizer):
    """Like its parent, but a clip with a transcript gets the id ``len(words) % vocab``."""

    name = "fake-transcribed"
    accepts_transcripts = True

    def _tokenize(self, wav, sample_rate, transcripts=None):
        tokens = super()._tokenize(wav, sample_rate)
        for row, text in enumerate(transcripts or []):
            if text is not None:
                tokens[row] = len(text.split()) % self.vocab_size
        return tokens


def test_transcripts_of_a_manifest_reach_the_tokenizer_only_when_asked(tmp_path):
    paths = write_corpus(tmp_path / "wavs", num_files=4)
    manifest = tmp_path / "list.jsonl"
    words = {f"u{i}": " ".join(["word"] * (i + 2)) for i in range(3)}  # u3 has no text
    manifest.write_text(
        "".join(
            json.dumps(
                {"path": str(p), "id": f"u{i}", **({"text": words[f"u{i}"]} if i < 3 else {})}
            )
            + "\n"
            for i, p in enumerate(paths)
        )
    )
    assert [i.text for i in list_inputs(manifest)] == [*words.values(), None]
    options = {"codec": FakeEnergyCodec(), "semantic": FakeTranscriptTokenizer()}
    options.update(shard_size=4, valid_fraction=0.0, progress=False)
    prepare(manifest, tmp_path / "plain", **options)
    prepare(manifest, tmp_path / "aligned", transcripts=True, **options)
    plain = TokenShardDataset(tmp_path / "plain", "train")
    aligned = TokenShardDataset(tmp_path / "aligned", "train")
    assert json.loads((tmp_path / "plain" / "prepare.json").read_text())["transcripts"] is False
    assert json.loads((tmp_path / "aligned" / "prepare.json").read_text())["transcripts"] is True
    for i in range(4):
        item, other = aligned[i], plain[plain.ids().index(aligned.ids()[i])]
        if item["id"] in words:
            assert set(item["semantic"].tolist()) == {len(words[item["id"]].split()) % 8}
        else:  # no transcript: recognised, as without the option
            np.testing.assert_array_equal(item["semantic"], other["semantic"])
        np.testing.assert_array_equal(item["codes"], other["codes"])
    with pytest.raises(SoundStormError, match="transcripts"):  # the other setting is refused
        prepare(manifest, tmp_path / "plain", transcripts=True, **options)


def test_transcripts_need_a_tokenizer_and_a_manifest_that_can_give_them(tmp_path):
    paths = write_corpus(tmp_path / "wavs", num_files=2)
    manifest = tmp_path / "list.jsonl"
    manifest.write_text("".join(json.dumps({"path": str(p), "text": "a b"}) + "\n" for p in paths))
    with pytest.raises(SoundStormError, match="aligns words"):
        run(manifest, tmp_path / "out", transcripts=True)
    options = {"codec": FakeEnergyCodec(), "semantic": FakeTranscriptTokenizer()}
    with pytest.raises(SoundStormError, match="gives no transcript"):
        prepare(tmp_path / "wavs", tmp_path / "out", transcripts=True, progress=False, **options)
    assert not (tmp_path / "out").exists()


def test_keep_levels_stores_the_coarsest_levels_and_narrow_semantic_ids(tmp_path):
    from soundstorm.model import SoundStormConfig
    from soundstorm.train.data import check_data_matches_model

    write_corpus(tmp_path / "wavs", num_files=6)
    run(tmp_path / "wavs", tmp_path / "all")
    run(tmp_path / "wavs", tmp_path / "kept", keep_levels=2)
    for split in ("train", "valid"):
        full = TokenShardDataset(tmp_path / "all", split)
        kept = TokenShardDataset(tmp_path / "kept", split)
        assert full.meta["codec"] == FakeEnergyCodec().config_dict()  # no option: unchanged
        assert kept.meta["num_levels"] == 2 and kept.meta["codec"]["codec_num_levels"] == 4
        assert kept.ids() == full.ids()
        for i in range(len(full)):
            np.testing.assert_array_equal(kept[i]["codes"], full[i]["codes"][:2])
            np.testing.assert_array_equal(kept[i]["semantic"], full[i]["semantic"])
            assert kept[i]["semantic"].dtype == np.int64
    shard = sorted((tmp_path / "kept" / "shards").glob("train-*"))[0]
    other = tmp_path / "all" / "shards" / shard.name
    assert np.load(shard / "semantic.npy").dtype == np.uint8  # 8 ids: one byte each
    assert np.load(shard / "codes.npy").nbytes * 2 == np.load(other / "codes.npy").nbytes
    assert run(tmp_path / "wavs", tmp_path / "kept", keep_levels=2)["num_shards_written"] == 0
    with pytest.raises(SoundStormError, match="keep_levels"):  # another count: refused
        run(tmp_path / "wavs", tmp_path / "kept", keep_levels=3)
    with pytest.raises(SoundStormError, match="only 4 RVQ levels"):
        run(tmp_path / "wavs", tmp_path / "bad", keep_levels=5)
    assert not (tmp_path / "bad").exists()
    model = SoundStormConfig(
        dim=16, depth=1, heads=1, num_levels=3, codebook_size=16, cond_vocab_size=8
    )
    with pytest.raises(SoundStormError, match="has 2 RVQ levels.*--keep-levels"):
        check_data_matches_model(kept.meta, model, "kept")
    check_data_matches_model(full.meta, model, "all")  # 4 levels serve a 3-level model


def test_keep_levels_of_a_named_codec_is_checked_before_anything_is_written(tmp_path):
    write_corpus(tmp_path / "wavs", num_files=2)
    with pytest.raises(SoundStormError, match="only 12 RVQ levels"):
        prepare(
            tmp_path / "wavs",
            tmp_path / "out",
            codec="shipped",
            semantic=FakeZeroCrossingTokenizer(),
            keep_levels=13,
            progress=False,
        )
    assert not (tmp_path / "out" / "prepare.json").exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
