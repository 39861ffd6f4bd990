"""Shards on disk and ``TokenShardDataset``: random access, memory maps, manifest, checks."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from soundstorm.data import (
    ShardWriter,
    TokenShardDataset,
    TokenUtterance,
    open_shard,
    write_manifest,
)
from soundstorm.data.shards import SHARDS_DIRNAME, read_manifest, remove_stale_temp_dirs
from soundstorm.errors import DamagedFileError, SoundStormError

CODEC = {
    "name": "fake",
    "sample_rate": 8000,
    "frame_rate": 50.0,
    "num_levels": 4,
    "codebook_size": 256,
}
SEMANTIC = {"name": "fake-sem", "frame_rate": 25.0, "vocab_size": 40}


def random_utterance(rng: np.random.Generator, uid: str) -> TokenUtterance:
    t = int(rng.integers(1, 60))
    return TokenUtterance(
        uid,
        rng.integers(0, 256, size=(4, t)).astype(np.uint16),
        rng.integers(0, 40, size=t).astype(np.int32),
        duration=t / 50.0,
        source=f"/a/{uid}.wav",
    )


@pytest.fixture
def prepared(tmp_path):
    """Three shards (two train, one valid) with a manifest; returns (root, utterances by split)."""
    rng = np.random.default_rng(0)
    by_split = {"train": [], "valid": []}
    shards = []
    for name, split, count in (
        ("train-00000", "train", 5),
        ("train-00001", "train", 3),
        ("valid-00000", "valid", 2),
    ):
        writer = ShardWriter(tmp_path / SHARDS_DIRNAME / name, CODEC, SEMANTIC)
        for i in range(count):
            utterance = random_utterance(rng, f"{name}/u{i}")
            writer.add(utterance)
            by_split[split].append(utterance)
        writer.write()
        shards.append((name, split))
    write_manifest(tmp_path, shards, codec_path="codec.safetensors")
    return tmp_path, by_split


def test_shard_arrays_are_flat_and_memory_mapped(prepared):
    root, by_split = prepared
    header, codes, semantic, offsets = open_shard(root / SHARDS_DIRNAME / "train-00000")
    assert isinstance(codes, np.memmap) and isinstance(semantic, np.memmap)
    assert codes.dtype == np.uint16 and codes.shape == (4, int(offsets[-1]))
    first = by_split["train"][:5]
    assert offsets.tolist() == np.cumsum([0] + [u.num_frames for u in first]).tolist()
    np.testing.assert_array_equal(codes[:, offsets[2] : offsets[3]], first[2].codes)
    assert [u["id"] for u in header["utterances"]] == [u.id for u in first]


def test_dataset_random_access_matches_what_was_written(prepared):
    root, by_split = prepared
    everything = by_split["train"] + by_split["valid"]
    ds = TokenShardDataset(root)
    assert len(ds) == len(everything)
    assert ds.lengths.tolist() == [u.num_frames for u in everything]
    for index in np.random.default_rng(1).permutation(len(ds)).tolist() + [-1]:
        item, expected = ds[index], everything[index]
        assert item["id"] == expected.id
        assert item["codes"].dtype == np.uint16 and item["codes"].flags.writeable
        np.testing.assert_array_equal(item["codes"], expected.codes)
        np.testing.assert_array_equal(item["semantic"], expected.semantic)
        assert item["duration"] == pytest.approx(expected.duration)
    assert ds.ids() == [u.id for u in everything]
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(TypeError):
        ds["0"]


def test_dataset_splits_and_meta(prepared):
    root, by_split = prepared
    train, valid = TokenShardDataset(root, split="train"), TokenShardDataset(root, split="valid")
    assert [train[i]["id"] for i in range(len(train))] == [u.id for u in by_split["train"]]
    assert [valid[i]["id"] for i in range(len(valid))] == [u.id for u in by_split["valid"]]
    meta = train.meta
    assert meta["codec"] == CODEC and meta["semantic"] == SEMANTIC
    assert (meta["num_levels"], meta["codebook_size"], meta["semantic_vocab_size"]) == (4, 256, 40)
    assert meta["frame_rate"] == 50.0 and meta["semantic_frame_rate"] == 25.0
    with pytest.raises(SoundStormError, match="no shard for split 'test'"):
        TokenShardDataset(root, split="test")


def test_dataset_pickles_without_its_memory_maps(prepared):
    root, _ = prepared
    ds = TokenShardDataset(root, split="train")
    expected = ds[6]
    assert ds._opened, "reading an item opens its shard"
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._opened == {}
    np.testing.assert_array_equal(clone[6]["codes"], expected["codes"])


def test_item_with_out_of_range_code_is_reported(prepared):
    root, _ = prepared
    codes = np.load(root / SHARDS_DIRNAME / "valid-00000" / "codes.npy", mmap_mode="r+")
    codes[0, 0] = 300
    codes.flush()
    del codes
    with pytest.raises(DamagedFileError, match="valid-00000/codes.npy is damaged"):
        TokenShardDataset(root, split="valid")  # the checksum finds it when opened
    ds = TokenShardDataset(root, split="valid", verify=False)
    with pytest.raises(SoundStormError, match="code 300 out of range"):
        ds[0]  # without verification, the range check of each item still does


def test_manifest_checks(prepared, tmp_path_factory):
    root, by_split = prepared
    manifest = read_manifest(root)
    assert manifest["splits"]["train"]["num_utterances"] == len(by_split["train"])
    assert manifest["splits"]["valid"]["num_shards"] == 1
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(FileNotFoundError, match="soundstorm prepare"):
        TokenShardDataset(empty)
    (empty / "manifest.json").write_text(json.dumps({"magic": "other", "shards": []}))
    with pytest.raises(SoundStormError, match="wrong magic"):
        TokenShardDataset(empty)
    manifest["version"] = 99
    (empty / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SoundStormError, match="version"):
        TokenShardDataset(empty)


def test_shard_with_missing_or_inconsistent_array_is_refused(prepared):
    root, _ = prepared
    shard = root / SHARDS_DIRNAME / "train-00001"
    np.save(shard / "semantic.npy", np.zeros(3, np.int32))
    with pytest.raises(SoundStormError, match="semantic ids have shape"):
        open_shard(shard)
    (shard / "codes.npy").unlink()
    with pytest.raises(FileNotFoundError):
        open_shard(shard)


def test_writer_is_atomic_and_replaces(tmp_path):
    rng = np.random.default_rng(2)
    directory = tmp_path / "shards" / "train-00000"
    writer = ShardWriter(directory, CODEC, SEMANTIC)
    writer.add(random_utterance(rng, "a"))
    temp = writer.write_temp()  # a writer killed here leaves only the temporary directory
    assert temp.exists() and not directory.exists()
    assert remove_stale_temp_dirs(directory) == 1 and not temp.exists()
    writer.write()
    replacement = ShardWriter(directory, CODEC, SEMANTIC)
    replacement.add(random_utterance(rng, "b"))
    replacement.write()
    header, *_ = open_shard(directory, check_values=True)
    assert [u["id"] for u in header["utterances"]] == ["b"]
    assert sorted(p.name for p in directory.parent.iterdir()) == ["train-00000"]


@pytest.mark.parametrize(
    ("vocab_size", "dtype"),
    [(256, np.uint8), (257, np.uint16), (65536, np.uint16), (70000, np.int32)],
)
def test_semantic_ids_are_stored_narrow_and_read_back_exactly(tmp_path, vocab_size, dtype):
    ids = np.array([0, 1, vocab_size - 1, vocab_size // 2], dtype=np.int32)
    codes = np.zeros((4, len(ids)), dtype=np.uint16)
    semantic = {**SEMANTIC, "vocab_size": vocab_size}
    writer = ShardWriter(tmp_path / SHARDS_DIRNAME / "train-00000", CODEC, semantic)
    writer.add(TokenUtterance("u", codes, ids, duration=len(ids) / 50.0))
    writer.write()
    assert np.load(tmp_path / SHARDS_DIRNAME / "train-00000" / "semantic.npy").dtype == dtype
    write_manifest(tmp_path, [("train-00000", "train")])
    item = TokenShardDataset(tmp_path, "train")[0]
    assert item["semantic"].dtype == np.int64 and item["semantic"].tolist() == ids.tolist()


def test_an_id_beyond_the_vocabulary_is_refused_before_narrowing(tmp_path):
    semantic = {**SEMANTIC, "vocab_size": 256}
    writer = ShardWriter(tmp_path / SHARDS_DIRNAME / "train-00000", CODEC, semantic)
    ids = np.array([3, 256], dtype=np.int32)  # 256 would wrap to 0 in uint8
    writer.add(TokenUtterance("u", np.zeros((4, 2), dtype=np.uint16), ids, duration=0.04))
    with pytest.raises(SoundStormError, match="semantic id"):
        writer.write()
    assert not (tmp_path / SHARDS_DIRNAME / "train-00000").exists()
