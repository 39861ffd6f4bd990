import math

import pytest
import torch

from soundstorm import SoundStorm
from soundstorm.decoding import confidence_step, default_steps, resolve_steps

from tests.conftest import random_inputs


class Recorder:
    """Records the inputs and the level of every forward call of a model."""

    def __init__(self, model: SoundStorm):
        self.calls: list[tuple[torch.Tensor, int]] = []
        model.register_forward_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs, output):
        codes = args[0] if args else kwargs["codes"]
        level = kwargs.get("level", args[3] if len(args) > 3 else None)
        self.calls.append((codes.clone(), level))


def test_default_steps_are_the_papers():
    assert default_steps(12) == (16,) + (1,) * 11
    assert sum(default_steps(12)) == 27
    assert resolve_steps(8, 3) == (8, 1, 1)


def test_prompt_kept_tokens_filled_and_forward_count(tiny_model, tiny_config):
    codes, cond = random_inputs(tiny_config, 3, 30)
    prompt = codes[..., :7]
    rec = Recorder(tiny_model)
    steps = (5, 3, 1, 2)
    g = torch.Generator().manual_seed(0)
    out = tiny_model.generate(cond, prompt=prompt, steps=steps, generator=g)
    assert out.shape == (3, tiny_config.num_levels, 30) and out.dtype == torch.long
    assert torch.equal(out[..., :7], prompt)
    assert ((out >= 0) & (out < tiny_config.codebook_size)).all(), "every token filled and in range"
    assert len(rec.calls) == sum(steps)
    assert [lvl for _, lvl in rec.calls] == [0] * 5 + [1] * 3 + [2] + [3] * 2


def test_schedule_finer_levels_masked_and_prompt_untouched(tiny_model, tiny_config):
    mask = tiny_config.mask_id
    codes, cond = random_inputs(tiny_config, 2, 40)
    lengths = torch.tensor([40, 29])
    P = 5
    rec = Recorder(tiny_model)
    n = 8
    tiny_model.generate(
        cond,
        prompt=codes[..., :P],
        lengths=lengths,
        steps=(n, 1, 1, 1),
        generator=torch.Generator().manual_seed(1),
    )
    for b, length in enumerate(lengths.tolist()):
        N = length - P
        # iteration i of level 0 sees the tokens left masked by iteration i-1
        for i, (inputs, _) in enumerate(rec.calls[:n]):
            expected = N if i == 0 else math.floor(N * math.cos(math.pi / 2 * i / n))
            assert int((inputs[b, 0, P:length] == mask).sum()) == expected
        for inputs, level in rec.calls:
            assert torch.equal(inputs[b, :, :P], codes[b, :, :P]), "prompt fed unchanged"
            assert (inputs[b, level + 1 :, P:length] == mask).all(), "finer levels fed as mask"
            assert (inputs[b, :level, P:length] != mask).all(), "coarser levels complete"
            assert (inputs[b, level, P:length] == mask).any()


def test_same_seed_same_output_and_different_seed_differs(tiny_model, tiny_config):
    _, cond = random_inputs(tiny_config, 2, 25)

    def run(seed):
        return tiny_model.generate(
            cond, steps=(6, 2, 1, 1), temperature=1.0, generator=torch.Generator().manual_seed(seed)
        )

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_one_step_levels_are_greedy(tiny_model, tiny_config):
    """With one iteration per level, every level takes the argmax given the coarser ones."""
    _, cond = random_inputs(tiny_config, 2, 15)
    out = tiny_model.generate(
        cond, steps=(1, 1, 1, 1), temperature=1.0, generator=torch.Generator().manual_seed(0)
    )
    Q, mask = tiny_config.num_levels, tiny_config.mask_id
    for q in range(Q):
        inputs = out.clone()
        inputs[:, q:] = mask
        expected = tiny_model(inputs, cond, level=q).argmax(-1)
        assert torch.equal(out[:, q], expected)


def test_confidence_step_keeps_most_confident():
    # one example, 6 positions, position 0 already decided; keep 2 masked
    logits = torch.full((1, 6, 4), -10.0)
    peaks = torch.tensor([9.0, 1.0, 5.0, 0.5, 3.0, 8.0])
    logits[0, torch.arange(6), torch.arange(6) % 4] = peaks
    level_codes = torch.tensor([[2, 4, 4, 4, 4, 4]])  # mask id 4
    masked = level_codes == 4
    out = confidence_step(
        logits, level_codes, masked, torch.tensor([2]), mask_id=4, temperature=0.0, noise_scale=0.0
    )
    # the two least confident masked positions (peaks 0.5 and 1.0) stay masked
    assert out.tolist() == [[2, 4, 2, 4, 0, 1]]


def test_padded_batch_equals_examples_alone_greedy(tiny_config):
    torch.manual_seed(0)
    model = SoundStorm(tiny_config).double().eval()
    codes, cond = random_inputs(tiny_config, 3, 24, seed=2)
    lengths = torch.tensor([24, 11, 17])
    prompt = codes[..., :4]
    kwargs = dict(steps=(6, 2, 1, 1), temperature=0.0, choice_temperature=0.0)
    batched = model.generate(cond, prompt=prompt, lengths=lengths, **kwargs)
    for b, n in enumerate(lengths.tolist()):
        alone = model.generate(cond[b : b + 1, :n], prompt=prompt[b : b + 1], **kwargs)
        assert torch.equal(batched[b : b + 1, :, :n], alone)
        assert (batched[b, :, n:] == 0).all(), "padding frames hold 0"


def test_per_example_prompt_lengths(tiny_config):
    torch.manual_seed(0)
    model = SoundStorm(tiny_config).double().eval()
    codes, cond = random_inputs(tiny_config, 2, 20, seed=4)
    prompt_lengths = torch.tensor([6, 2])
    kwargs = dict(steps=(4, 1, 1, 1), temperature=0.0, choice_temperature=0.0)
    out = model.generate(cond, prompt=codes[..., :6], prompt_lengths=prompt_lengths, **kwargs)
    assert torch.equal(out[0, :, :6], codes[0, :, :6])
    assert torch.equal(out[1, :, :2], codes[1, :, :2])
    alone = model.generate(cond[1:], prompt=codes[1:, :, :2], **kwargs)
    assert torch.equal(out[1:], alone)


def test_prompt_covering_everything_returns_prompt(tiny_model, tiny_config):
    codes, cond = random_inputs(tiny_config, 1, 9)
    out = tiny_model.generate(cond, prompt=codes)
    assert torch.equal(out, codes)


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_generation_runs_in_bfloat16(tiny_config, temperature):
    torch.manual_seed(0)
    model = SoundStorm(tiny_config).to(torch.bfloat16).eval()
    _, cond = random_inputs(tiny_config, 2, 12)
    out = model.generate(cond, temperature=temperature, generator=torch.Generator().manual_seed(0))
    assert ((out >= 0) & (out < tiny_config.codebook_size)).all()
