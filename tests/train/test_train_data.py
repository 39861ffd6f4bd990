"""The data pipeline: deterministic crops and masks, rank sharding, resume, token checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_fixtures import CODEBOOK, COND_VOCAB, NUM_LEVELS, synthetic_tokens

from soundstorm.errors import SoundStormError
from soundstorm.train.data import (
    CroppedTokenDataset,
    GlobalBatchSampler,
    build_loader,
    collate_token_batch,
    utterance_lengths,
)


def cropped(items, max_frames=20, seed=0, **kwargs):
    return CroppedTokenDataset(items, NUM_LEVELS, CODEBOOK, COND_VOCAB, max_frames, seed, **kwargs)


def test_crops_are_windows_of_the_utterance_and_deterministic():
    items = synthetic_tokens(8, min_frames=30, max_frames=50)
    dataset = cropped(items, max_frames=20)
    starts = set()
    for index, item in enumerate(items):
        example = dataset[(3, index)]
        assert example["codes"].shape == (NUM_LEVELS, 20) and example["cond"].shape == (20,)
        semantic = item["semantic"]
        start = next(
            s
            for s in range(len(semantic) - 19)
            if np.array_equal(semantic[s : s + 20], example["cond"].numpy())
        )
        assert np.array_equal(item["codes"][:, start : start + 20], example["codes"].numpy())
        starts.add(start)
        again = dataset[(3, index)]
        assert torch.equal(again["codes"], example["codes"]) and torch.equal(
            again["masked"], example["masked"]
        )
    assert len(starts) > 1  # crops are random, not always at 0
    other_epoch = [dataset[(4, i)]["masked"] for i in range(len(items))]
    assert any(not torch.equal(a, dataset[(3, i)]["masked"]) for i, a in enumerate(other_epoch))


def test_validation_crops_start_at_zero():
    items = synthetic_tokens(3, min_frames=30, max_frames=50)
    example = cropped(items, max_frames=20, random_crop=False)[(0, 1)]
    assert np.array_equal(example["codes"].numpy(), items[1]["codes"][:NUM_LEVELS, :20])


def test_collate_pads_and_masks_follow_the_paper():
    items = synthetic_tokens(5, min_frames=5, max_frames=30)
    batch = collate_token_batch([cropped(items, max_frames=64)[(0, i)] for i in range(5)])
    lengths = torch.tensor([len(item["semantic"]) for item in items])
    assert torch.equal(batch.lengths, lengths)
    assert batch.codes.shape == (5, NUM_LEVELS, int(lengths.max()))
    frames = torch.arange(batch.codes.shape[-1])
    padding = frames[None] >= lengths[:, None]
    assert not batch.masked.permute(1, 0, 2)[:, padding].any()  # padding never masked
    assert (batch.codes.permute(1, 0, 2)[:, padding] == 0).all()
    for row in range(5):
        level, prompt = int(batch.level[row]), int(batch.prompt_len[row])
        assert batch.masked[row, level].any()
        assert not batch.masked[row, :, :prompt].any()
        assert not batch.masked[row, :level].any()


def test_ranks_split_the_single_process_global_batch():
    lengths = np.random.default_rng(0).integers(5, 100, 50)
    single = GlobalBatchSampler(lengths, batch_size=6, world_size=1, rank=0, seed=3, max_frames=60)
    ranks = [
        GlobalBatchSampler(lengths, 3, world_size=2, rank=r, seed=3, max_frames=60)
        for r in range(2)
    ]
    for sampler in [single, *ranks]:
        sampler.set_epoch(2)
    for whole, part0, part1 in zip(single, *ranks, strict=True):
        assert whole == part0 + part1
        assert not set(part0) & set(part1)
    assert len(single) == 50 // 6


def test_sampler_epochs_differ_and_resume_skips_consumed_batches():
    lengths = np.arange(10, 70)
    sampler = GlobalBatchSampler(lengths, batch_size=4, seed=1)
    sampler.set_epoch(0)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != epoch0
    sampler.set_epoch(0, start_batch=5)
    assert list(sampler) == epoch0[5:]


def test_bucketing_groups_similar_lengths():
    lengths = np.random.default_rng(0).integers(10, 1000, 400)
    spread = {}
    for bucket in (False, True):
        sampler = GlobalBatchSampler(lengths, 8, seed=0, bucket=bucket, bucket_window=50)
        spread[bucket] = np.mean([np.ptp(lengths[[i for _, i in b]]) for b in sampler])
    assert spread[True] < 0.2 * spread[False]


def test_short_utterances_are_skipped_and_tiny_datasets_rejected():
    lengths = np.array([1, 50, 50, 3, 50])
    sampler = GlobalBatchSampler(lengths, 1, seed=0, min_frames=10)
    assert sorted(i for batch in sampler for _, i in batch) == [1, 2, 4]
    with pytest.raises(SoundStormError, match="fewer than one global batch"):
        GlobalBatchSampler(lengths, 2, world_size=2, seed=0, min_frames=10)


def test_loader_is_identical_with_workers():
    items = synthetic_tokens(12)
    dataset = cropped(items)
    batches = []
    for workers in (0, 2):
        sampler = GlobalBatchSampler(utterance_lengths(items), 4, seed=0)
        batches.append(list(build_loader(dataset, sampler, workers, pin_memory=False)))
    for a, b in zip(*batches, strict=True):
        assert a.ids == b.ids and torch.equal(a.codes, b.codes) and torch.equal(a.masked, b.masked)


@pytest.mark.parametrize("field", ["codes", "semantic"])
def test_out_of_range_tokens_name_the_utterance(field):
    items = synthetic_tokens(4)
    if field == "codes":
        items[2]["codes"][1, 3] = CODEBOOK
    else:
        items[2]["semantic"][5] = COND_VOCAB + 2
    dataset = cropped(items, max_frames=100)
    assert dataset[(0, 1)]["id"] == items[1]["id"]  # the others are fine
    with pytest.raises(SoundStormError, match=f"utterance '{items[2]['id']}'.*out of range"):
        dataset[(0, 2)]


def test_misaligned_or_missing_levels_are_errors():
    items = synthetic_tokens(2)
    items[0]["semantic"] = items[0]["semantic"][:-1]
    with pytest.raises(SoundStormError, match="not aligned"):
        cropped(items)[(0, 0)]
    items[1]["codes"] = items[1]["codes"][:1]
    with pytest.raises(SoundStormError, match="fewer than 2 levels"):
        cropped(items)[(0, 1)]


def test_masking_options_reach_the_masks_and_stay_a_function_of_seed_epoch_utterance():
    """Resume stays exact: with the options on, the mask of (epoch, utterance) is the same in
    any dataset object; with them at 0 it is the paper's mask, bit for bit."""
    items = synthetic_tokens(12, min_frames=20, max_frames=40)
    paper = cropped(items, max_frames=32)
    zero = cropped(items, max_frames=32, known_suffix_fraction=0.0, prompt_dropout=0.0)
    options = {"known_suffix_fraction": 0.5, "prompt_dropout": 0.5}
    first, second = (
        cropped(items, max_frames=32, **options),
        cropped(items, max_frames=32, **options),
    )
    differs = 0
    for index in range(len(items)):
        for epoch in (0, 5):
            key = (epoch, index)
            assert torch.equal(paper[key]["masked"], zero[key]["masked"])
            assert torch.equal(first[key]["masked"], second[key]["masked"])
            differs += not torch.equal(first[key]["masked"], paper[key]["masked"])
    assert differs > 0
