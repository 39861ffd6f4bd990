"""The ``init`` section: code embeddings and heads from the codec's RVQ centroids; warm start."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from train_fixtures import CODEBOOK, NUM_LEVELS, tiny_train_config, write_synthetic_shards

from soundstorm import SoundStorm, SoundStormConfig
from soundstorm.codecs.embedded import EmbeddedCodec
from soundstorm.errors import SoundStormError
from soundstorm.train.init import INIT_STD, centroid_embeddings, init_from_codebooks
from soundstorm.train.recipe import TrainRecipe

CODEC = {"name": "fake", "sample_rate": 8000, "frame_rate": 50.0}


def _distances(points: torch.Tensor) -> torch.Tensor:
    distances = torch.cdist(points.double(), points.double())
    return distances[~torch.eye(len(points), dtype=torch.bool)]


@pytest.mark.parametrize("feature_dim", [12, 80])  # below and above the model dimension
def test_centroid_embeddings_keep_the_order_of_distances(feature_dim):
    codebooks = torch.randn(2, 64, feature_dim) * torch.linspace(3, 0.1, feature_dim)
    embedded = centroid_embeddings(codebooks, 32, torch.Generator().manual_seed(0))
    assert embedded.shape == (2, 64, 32) and embedded.dtype == torch.float32
    for level in range(2):
        assert embedded[level].std().item() == pytest.approx(INIT_STD, rel=1e-4)
        before, after = _distances(codebooks[level]), _distances(embedded[level])
        if feature_dim <= 32:  # every component kept: an isometry up to one scale
            ratio = after / before
            assert ratio.std() / ratio.mean() < 1e-6
        # ranks of the distances agree (principal components keep the large ones)
        order = torch.corrcoef(
            torch.stack([before.argsort().argsort(), after.argsort().argsort()]).double()
        )
        assert order[0, 1] > 0.7


def test_init_from_codebooks_sets_codes_and_heads_and_keeps_the_mask_rows():
    config = SoundStormConfig.tiny(num_levels=2, codebook_size=16, dim=32, heads=2)
    model = SoundStorm(config)
    mask_rows = model.code_embedding.weight.view(2, 17, 32)[:, 16].clone()
    bias = model.head_bias.clone()
    codebooks = torch.randn(2, 16, 6)
    init_from_codebooks(model, codebooks, torch.Generator().manual_seed(1))
    table = model.code_embedding.weight.view(2, 17, 32)
    expected = centroid_embeddings(codebooks, 32, torch.Generator().manual_seed(1))
    torch.testing.assert_close(table[:, :16], expected)
    torch.testing.assert_close(model.head_weight, expected)
    torch.testing.assert_close(table[:, 16], mask_rows)
    torch.testing.assert_close(model.head_bias, bias)
    with pytest.raises(SoundStormError, match="do not fit"):
        init_from_codebooks(model, torch.randn(3, 16, 6))


def _shards_with_codec(root, codec_path):
    codec = {**CODEC, "num_levels": NUM_LEVELS, "codebook_size": CODEBOOK}
    return write_synthetic_shards(root, codec, str(codec_path), counts=(12, 2))


def _tiny_codec(path):
    wav = torch.randn(1, 16000) * 0.1
    codec = EmbeddedCodec.fit(
        [wav], 16000, num_levels=NUM_LEVELS, codebook_size=CODEBOOK, num_iters=2
    )
    codec.save(path)
    return codec


def test_a_run_starts_from_the_codec_centroids_and_trains(tmp_path):
    codec = _tiny_codec(tmp_path / "codec.safetensors")
    shards = _shards_with_codec(tmp_path / "tokens", tmp_path / "codec.safetensors")
    config = tiny_train_config(
        tmp_path / "run", f"data.train_dir={shards}", "init.codebooks=codec", "run.max_steps=3"
    )
    recipe = TrainRecipe(config)
    try:
        recipe.setup()
        expected = centroid_embeddings(
            codec.quantizer.codebooks[:NUM_LEVELS], 32, torch.Generator().manual_seed(0)
        )
        torch.testing.assert_close(recipe.model.head_weight.detach(), expected)
        first = recipe.model.head_weight.detach().clone()
        recipe.train()
        assert recipe.progress.step == 3
        assert not torch.equal(recipe.model.head_weight.detach(), first)  # it trains from there
    finally:
        recipe.cleanup()


def test_codec_init_without_a_codec_file_is_one_clear_error(tmp_path):
    shards = _shards_with_codec(tmp_path / "tokens", tmp_path / "absent.safetensors")
    config = tiny_train_config(tmp_path / "run", f"data.train_dir={shards}", "init.codebooks=codec")
    recipe = TrainRecipe(config)
    try:
        with pytest.raises((SoundStormError, FileNotFoundError), match="absent"):
            recipe.setup()
    finally:
        recipe.cleanup()


def test_unknown_init_choice_is_refused(tmp_path):
    with pytest.raises(SoundStormError, match="init.codebooks must be random or codec"):
        tiny_train_config(tmp_path, "init.codebooks=pca")


def test_warm_start_copies_a_saved_model_and_refuses_another_size(tmp_path):
    from soundstorm.train.init import warm_start

    config = SoundStormConfig.tiny(num_levels=2, codebook_size=16, dim=32, heads=2)
    source = SoundStorm(config)
    source.save_pretrained(tmp_path / "saved")
    torch.manual_seed(5)
    target = SoundStorm(config)
    warm_start(target, tmp_path / "saved")
    for name, tensor in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[name], tensor)
    other = SoundStorm(SoundStormConfig.tiny(num_levels=2, codebook_size=16, dim=64, heads=2))
    with pytest.raises(SoundStormError, match="configuration differs"):
        warm_start(other, tmp_path / "saved")


@pytest.mark.parametrize(("source_depth", "depth"), [(2, 5), (3, 6), (1, 3), (2, 2)])
def test_a_deeper_model_grown_from_a_trained_one_computes_the_same_function(
    tmp_path, source_depth, depth
):
    from soundstorm.train.init import grow_depth, grown_positions, warm_start

    config = SoundStormConfig.tiny(num_levels=2, codebook_size=16, dim=32, heads=2)
    config = dataclasses.replace(config, depth=source_depth)
    torch.manual_seed(0)
    source = SoundStorm(config).eval()
    with torch.no_grad():  # trained-looking norms and branches: not the identity at the start
        for name, parameter in source.named_parameters():
            parameter.add_(torch.randn_like(parameter) * (0.3 if "norm" in name else 0.05))
    source.save_pretrained(tmp_path / "saved")
    grown = SoundStorm(dataclasses.replace(config, depth=depth)).eval()
    warm_start(grown, tmp_path / "saved")
    codes = torch.randint(0, 17, (2, 2, 24))  # 16 = the mask id
    cond = torch.randint(0, config.cond_vocab_size, (2, 24))
    lengths = torch.tensor([24, 17])
    with torch.no_grad():
        expected = source(codes, cond, lengths, level=1)
        logits = grown(codes, cond, lengths, level=1)
    torch.testing.assert_close(logits[0], expected[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits[1, :17], expected[1, :17], rtol=1e-4, atol=1e-4)
    positions = grown_positions(source_depth, depth)
    new = [b for b in range(depth) if b not in positions]
    assert len(positions) == source_depth and len(new) == depth - source_depth
    for block in new:  # the new blocks learn: their zeroed outputs get gradients
        assert grown.blocks[block].attn.proj.weight.abs().sum() == 0
    grown.train()
    grown(codes, cond, lengths, level=1).logsumexp(-1).sum().backward()
    for block in new:
        assert grown.blocks[block].attn.proj.weight.grad.abs().sum() > 0
    if depth > source_depth:
        with pytest.raises(ValueError, match="cannot grow"):  # shrinking is not growing
            grow_depth(SoundStorm(config), grown)


def test_a_model_other_than_deeper_is_still_refused(tmp_path):
    from soundstorm.train.init import warm_start

    config = SoundStormConfig.tiny(num_levels=2, codebook_size=16, dim=32, heads=2)
    SoundStorm(dataclasses.replace(config, depth=3)).save_pretrained(tmp_path / "deep")
    with pytest.raises(SoundStormError, match="only a smaller depth"):
        warm_start(SoundStorm(dataclasses.replace(config, depth=2)), tmp_path / "deep")
    wider = dataclasses.replace(config, depth=4, ff_dim=config.ff_dim * 2)
    with pytest.raises(SoundStormError, match="configuration differs"):
        warm_start(SoundStorm(wider), tmp_path / "deep")
