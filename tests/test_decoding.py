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


# ---------------------------------------------------------------- non-finite logits
K, Q = 8, 3  # codebook size (= mask id) and levels of the fake decoders below


def fake_logits(kind: str, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Logits ``[B, T, K]`` of a diverged or overflowing model."""
    finite = torch.randn(shape, generator=generator)
    inf = float("inf")
    if kind == "nan":
        return torch.full(shape, float("nan"))
    if kind == "posinf":
        return torch.full(shape, inf)
    if kind == "neginf":
        return torch.full(shape, -inf)
    if kind == "mixed":  # NaN, +inf, -inf and finite values in every row and everywhere
        choice = torch.randint(0, 4, shape, generator=generator)
        values = torch.stack([finite, torch.full(shape, float("nan")), finite * inf, -finite.abs()])
        return values.gather(0, choice[None])[0].masked_fill(choice == 3, -inf)
    if kind == "some_frames_nan":  # a few frames diverged, the others fine
        diverged = torch.rand(shape[:2], generator=generator)[..., None] < 0.5
        return finite.masked_fill(diverged, float("nan"))
    if kind == "fp16_overflow":  # a float16 model whose logits overflow to +-inf, then NaN
        return (finite * 1e5).half() * torch.tensor(float("nan")).half().where(
            finite > 2.5, torch.tensor(1.0).half()
        )
    if kind == "fp16_extremes":  # the largest finite float16 values, ties included
        return torch.full(shape, 65504.0).half().masked_fill(finite < 0, -65504.0)
    if kind == "huge":  # finite float32 logits that overflow when divided by a temperature
        return finite * 3e38
    raise AssertionError(kind)


class FakeDecoder:
    """A ``LevelForward`` returning ``fake_logits(kind)``; records the codes of every call."""

    def __init__(self, kind: str, seed: int = 0):
        self.kind, self.calls = kind, []
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, codes, cond, lengths, level):
        self.calls.append((codes.clone(), level))
        return fake_logits(self.kind, (*cond.shape, K), self.generator)


KINDS = ["nan", "posinf", "neginf", "mixed", "some_frames_nan", "fp16_overflow", "fp16_extremes"]
KINDS += ["huge"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("temperature", [0.0, 1e-40, 1e-300, 5e-324, 1e-4, 1.0, 1e30])
def test_non_finite_logits_keep_prompt_padding_schedule_and_range(kind, temperature):
    from soundstorm.decoding import decode

    g = torch.Generator().manual_seed(1)
    cond = torch.randint(0, 5, (3, 20), generator=g)
    prompt = torch.randint(0, K, (3, Q, 6), generator=g)
    lengths = torch.tensor([20, 13, 9])
    prompt_lengths = torch.tensor([6, 0, 4])
    n = 6
    forward = FakeDecoder(kind)
    out = decode(
        forward,
        cond,
        num_levels=Q,
        mask_id=K,
        prompt=prompt,
        lengths=lengths,
        prompt_lengths=prompt_lengths,
        steps=(n, 2, 1),
        temperature=temperature,
        choice_temperature=1.0,
        generator=torch.Generator().manual_seed(0),
    )
    assert [level for _, level in forward.calls] == [0] * n + [1] * 2 + [2]
    for b, (length, p) in enumerate(zip(lengths.tolist(), prompt_lengths.tolist())):
        assert torch.equal(out[b, :, :p], prompt[b, :, :p]), "prompt returned unchanged"
        assert (out[b, :, length:] == 0).all(), "padding holds 0"
        assert ((out[b, :, :length] >= 0) & (out[b, :, :length] < K)).all(), "ids in [0, K)"
        N = length - p
        for i, (codes, _) in enumerate(forward.calls):
            assert torch.equal(codes[b, :, :p], prompt[b, :, :p]), "prompt fed unchanged"
            if i < n:  # the cosine schedule of level 0, counted on the generated frames only
                expected = N if i == 0 else math.floor(N * math.cos(math.pi / 2 * i / n))
                assert int((codes[b, 0, p:length] == K).sum()) == expected
                assert not (codes[b, 0, :p] == K).any()
        # a decided token of level 0 is never changed afterwards
        level0 = [codes[b, 0, :length] for codes, _ in forward.calls[1:n]] + [out[b, 0, :length]]
        for before, after in zip(level0, level0[1:]):
            decided = before != K
            assert torch.equal(after[decided], before[decided])


def test_tiny_temperature_keeps_the_prompt_of_a_real_model(tiny_model, tiny_config):
    """The reported case: temperature=1e-40 re-masked the prompt's level 0 frames."""
    g = torch.Generator().manual_seed(0)
    cond = torch.randint(0, tiny_config.cond_vocab_size, (1, 16), generator=g)
    prompt = torch.randint(0, tiny_config.codebook_size, (1, 4, 4), generator=g)
    for temperature in (1e-40, 1e-45, 1e-300):
        out = tiny_model.generate(cond, prompt=prompt, temperature=temperature)
        assert torch.equal(out[..., :4], prompt)
        assert ((out >= 0) & (out < tiny_config.codebook_size)).all()
    # a tiny temperature is argmax sampling: the same tokens as temperature 0
    kwargs = dict(prompt=prompt, choice_temperature=0.0)
    assert torch.equal(
        tiny_model.generate(cond, temperature=1e-40, **kwargs),
        tiny_model.generate(cond, temperature=0.0, **kwargs),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_diverged_model_gives_valid_codes_and_keeps_prompt(tiny_config, dtype):
    """A model whose heads output NaN and +-inf (diverged training, fp16 overflow)."""
    torch.manual_seed(0)
    model = SoundStorm(tiny_config).eval()
    with torch.no_grad():
        model.head_bias[0, ::3] = float("nan")
        model.head_bias[1, 1::3] = float("inf")
        model.head_bias[2] = float("-inf")
        model.head_weight[3] *= 1e38  # overflows in float16, huge in float32
    model = model.to(dtype)
    codes, cond = random_inputs(tiny_config, 2, 18, seed=3)
    lengths = torch.tensor([18, 12])
    for temperature in (0.0, 1.0, 1e-40):
        out = model.generate(
            cond,
            prompt=codes[..., :5],
            lengths=lengths,
            steps=(4, 2, 1, 1),
            temperature=temperature,
            generator=torch.Generator().manual_seed(0),
        )
        assert torch.equal(out[..., :5], codes[..., :5])
        assert ((out >= 0) & (out < tiny_config.codebook_size)).all()
        assert (out[1, :, 12:] == 0).all()


def test_confidence_step_never_remasks_decided_positions_whatever_the_logits():
    """NaN / +inf confidences must not push decided positions (prompt) into the re-mask set."""
    logits = torch.randn(2, 7, 4)
    logits[0, :4] = float("nan")
    logits[1, ::2] = float("inf")
    level_codes = torch.tensor([[1, 2, 4, 4, 4, 4, 0], [4, 3, 4, 4, 2, 4, 4]])  # mask id 4
    masked = level_codes == 4
    keep = torch.tensor([2, 3])
    for temperature in (0.0, 1e-40, 1.0):
        out = confidence_step(
            logits, level_codes, masked, keep, mask_id=4, temperature=temperature, noise_scale=1.0
        )
        assert torch.equal(out[~masked], level_codes[~masked]), "decided positions unchanged"
        assert (out == 4).sum(-1).tolist() == keep.tolist(), "exactly keep_masked re-masked"
        assert (out[masked & (out != 4)] < 4).all()
    # more to keep than there are candidates: all candidates stay masked, nothing else
    out = confidence_step(
        logits, level_codes, masked, torch.tensor([7, 7]), 4, temperature=1.0, noise_scale=1.0
    )
    assert torch.equal(out, level_codes)


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), -1.0, -1e-300, "1.0", True, None, torch.tensor(1.0)]
)
def test_bad_temperatures_raise(tiny_model, tiny_config, bad):
    _, cond = random_inputs(tiny_config, 1, 6)
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        tiny_model.generate(cond, temperature=bad)
    with pytest.raises(ValueError, match="choice_temperature must be a finite number >= 0"):
        tiny_model.generate(cond, choice_temperature=bad)


def test_forward_with_wrong_logits_shape_raises():
    from soundstorm.decoding import decode

    def forward(codes, cond, lengths, level):
        return torch.zeros(*cond.shape, K + 1)  # a head that also scores the mask id

    with pytest.raises(ValueError, match=r"logits of shape \(1, 5, 9\).*K\] = \[1, 5, 8\]"):
        decode(forward, torch.zeros(1, 5, dtype=torch.long), num_levels=Q, mask_id=K)
