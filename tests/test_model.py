import pytest
import torch

from soundstorm import SoundStorm

from tests.conftest import random_inputs


def test_forward_shapes_and_head_selection(tiny_model, tiny_config):
    codes, cond = random_inputs(tiny_config, 3, 11)
    codes[:, 2:] = tiny_config.mask_id  # the mask id is a valid input
    all_heads = tiny_model(codes, cond)
    Q, K = tiny_config.num_levels, tiny_config.codebook_size
    assert all_heads.shape == (3, Q, 11, K)
    for q in range(Q):
        torch.testing.assert_close(tiny_model(codes, cond, level=q), all_heads[:, q])
    per_example = torch.tensor([2, 0, 3])
    out = tiny_model(codes, cond, level=per_example)
    torch.testing.assert_close(out, all_heads[torch.arange(3), per_example])


def test_output_depends_on_every_input_frame_both_directions(tiny_config):
    """Bidirectional: the first frame's logits depend on the last frame's input and vice versa."""
    torch.manual_seed(0)
    model = SoundStorm(tiny_config).double()
    codes, cond = random_inputs(tiny_config, 1, 9)
    embed = model.embed(codes, cond).detach().requires_grad_(True)
    model.embed = lambda *_: embed  # feed the embeddings directly
    out = model(codes, cond, level=0)
    (g_first,) = torch.autograd.grad(out[0, 0].sum(), embed, retain_graph=True)
    (g_last,) = torch.autograd.grad(out[0, -1].sum(), embed)
    assert g_first[0, -1].abs().sum() > 0 and g_last[0, 0].abs().sum() > 0


def test_padding_does_not_change_real_frames(tiny_config):
    torch.manual_seed(0)
    model = SoundStorm(tiny_config).double().eval()
    lengths = torch.tensor([13, 6, 9])
    codes, cond = random_inputs(tiny_config, 3, 13, seed=1)
    # padding frames hold arbitrary garbage: it must not leak into real frames
    batched = model(codes, cond, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = model(codes[b : b + 1, :, :n], cond[b : b + 1, :n])
        torch.testing.assert_close(batched[b : b + 1, :, :n], alone, rtol=1e-10, atol=1e-10)
    # and the gradient of the loss with respect to padded inputs is zero
    embed = model.embed(codes, cond).detach().requires_grad_(True)
    model.embed = lambda *_: embed
    out = model(codes, cond, lengths, level=0)
    real_sum = sum(out[b, :n].sum() for b, n in enumerate(lengths.tolist()))
    (grad,) = torch.autograd.grad(real_sum, embed)
    assert grad[1, 6:].abs().max() == 0 and grad[2, 9:].abs().max() == 0
    assert grad[1, :6].abs().max() > 0


def test_loss_is_finite_scalar_and_differentiable(tiny_model, tiny_config):
    codes, cond = random_inputs(tiny_config, 4, 20)
    lengths = torch.tensor([20, 1, 2, 17])  # one-frame example: prompt 0, one token masked
    g = torch.Generator().manual_seed(0)
    out = tiny_model.loss_and_stats(codes, cond, lengths, generator=g)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert (out.num_masked >= 1).all() and (out.num_correct <= out.num_masked).all()
    out.loss.backward()
    assert tiny_model.head_weight.grad is not None
    # near-uniform initial predictions: loss close to log K
    assert abs(out.loss.item() - torch.log(torch.tensor(float(tiny_config.codebook_size)))) < 0.5


def test_loss_is_deterministic_with_generator(tiny_model, tiny_config):
    codes, cond = random_inputs(tiny_config, 2, 10)
    a = tiny_model.loss(codes, cond, generator=torch.Generator().manual_seed(5))
    b = tiny_model.loss(codes, cond, generator=torch.Generator().manual_seed(5))
    assert a.item() == b.item()


def test_save_and_load_round_trip(tmp_path, tiny_config):
    torch.manual_seed(0)
    model = SoundStorm(tiny_config).eval()
    model.save_pretrained(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert "model.safetensors" in files and "config.json" in files
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    loaded = SoundStorm.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    codes, cond = random_inputs(tiny_config, 2, 8)
    torch.testing.assert_close(loaded(codes, cond), model(codes, cond), rtol=0, atol=0)
    g = torch.Generator().manual_seed(1)
    out = loaded.generate(cond, temperature=0.0, choice_temperature=0.0, generator=g)
    assert torch.equal(out, model.generate(cond, temperature=0.0, choice_temperature=0.0))


def test_from_pretrained_missing_weights_raises(tmp_path, tiny_config):
    SoundStorm(tiny_config).save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        SoundStorm.from_pretrained(tmp_path / "m")


class TestBadInputs:
    @pytest.fixture
    def inputs(self, tiny_config):
        return random_inputs(tiny_config, 2, 10)

    def test_codes_out_of_range(self, tiny_model, tiny_config, inputs):
        codes, cond = inputs
        codes[0, 0, 0] = tiny_config.mask_id + 1
        with pytest.raises(ValueError, match="codes must be in"):
            tiny_model(codes, cond)
        codes[0, 0, 0] = -1
        with pytest.raises(ValueError, match="codes must be in"):
            tiny_model(codes, cond)

    def test_mask_id_not_allowed_in_training_targets(self, tiny_model, tiny_config, inputs):
        codes, cond = inputs
        codes[1, 2, 3] = tiny_config.mask_id
        with pytest.raises(ValueError, match="no mask id"):
            tiny_model.loss(codes, cond)

    def test_cond_out_of_range(self, tiny_model, tiny_config, inputs):
        codes, cond = inputs
        cond[1, 3] = tiny_config.cond_vocab_size
        with pytest.raises(ValueError, match="cond ids"):
            tiny_model(codes, cond)
        with pytest.raises(ValueError, match="cond ids"):
            tiny_model.generate(cond)

    def test_shape_mismatches(self, tiny_model, tiny_config, inputs):
        codes, cond = inputs
        with pytest.raises(ValueError, match="does not match"):
            tiny_model(codes[:, :, :9], cond)
        with pytest.raises(ValueError, match="does not match"):
            tiny_model(codes[:, :2], cond)
        with pytest.raises(ValueError, match=r"cond must be an integer tensor \[B, T\]"):
            tiny_model(codes, cond[0])
        with pytest.raises(ValueError, match="integer"):
            tiny_model(codes.float(), cond)

    def test_bad_lengths(self, tiny_model, inputs):
        codes, cond = inputs
        with pytest.raises(ValueError, match="lengths must lie"):
            tiny_model(codes, cond, torch.tensor([10, 11]))
        with pytest.raises(ValueError, match="lengths must lie"):
            tiny_model.generate(cond, lengths=torch.tensor([0, 3]))
        with pytest.raises(ValueError, match=r"lengths must be an integer tensor \[B\]"):
            tiny_model(codes, cond, torch.tensor([10]))

    def test_bad_prompts(self, tiny_model, tiny_config, inputs):
        codes, cond = inputs
        with pytest.raises(ValueError, match="longer"):
            tiny_model.generate(cond[:, :4], prompt=codes[..., :5])
        with pytest.raises(ValueError, match="longer than its example"):
            tiny_model.generate(cond, prompt=codes[..., :5], lengths=torch.tensor([10, 4]))
        with pytest.raises(ValueError, match="does not match"):
            tiny_model.generate(cond, prompt=codes[:1, :, :5])
        bad = codes[..., :3].clone()
        bad[0, 0, 0] = tiny_config.mask_id
        with pytest.raises(ValueError, match="prompt codes"):
            tiny_model.generate(cond, prompt=bad)

    def test_bad_steps_and_levels(self, tiny_model, inputs):
        codes, cond = inputs
        with pytest.raises(ValueError, match="steps must be"):
            tiny_model.generate(cond, steps=(4, 1))
        with pytest.raises(ValueError, match="steps must be"):
            tiny_model.generate(cond, steps=(4, 0, 1, 1))
        with pytest.raises(ValueError, match="level must be"):
            tiny_model(codes, cond, level=7)
