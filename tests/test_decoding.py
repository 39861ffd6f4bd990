import functools
import math

import pytest
import torch

from soundstorm import SoundStorm
from soundstorm.decoding import (
    DecodeOptions,
    confidence_step,
    default_steps,
    generate_tokens,
    resolve_steps,
)

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


# ---------------------------------------------------------------- known frames (speech editing)


def islands(batch: int, frames: int) -> torch.Tensor:
    """Known frames of several shapes: prefix + suffix around a span, islands, none, all."""
    known = torch.zeros(batch, frames, dtype=torch.bool)
    known[0, :6] = True
    known[0, 15:] = True  # a span [6, 15) between a known prefix and suffix
    known[1, 3:5] = True
    known[1, 10:12] = True  # islands
    known[1, frames - 1] = True
    if batch > 2:
        known[2] = True  # every frame known: nothing to generate
    return known


def test_known_frames_are_fed_and_returned_unchanged(tiny_model, tiny_config):
    mask = tiny_config.mask_id
    codes, cond = random_inputs(tiny_config, 4, 24, seed=5)
    known_frames = islands(4, 24)  # example 3: no known frame at all
    lengths = torch.tensor([24, 24, 24, 20])
    rec = Recorder(tiny_model)
    out = tiny_model.generate(
        cond,
        lengths=lengths,
        known=codes.masked_fill(~known_frames[:, None], mask),  # other values are not read
        known_frames=known_frames,
        steps=(5, 2, 1, 1),
        generator=torch.Generator().manual_seed(2),
    )
    given = known_frames[:, None].expand_as(codes)
    assert torch.equal(out[given], codes[given]), "known frames returned unchanged"
    assert ((out[:3] >= 0) & (out[:3] < tiny_config.codebook_size)).all()
    assert (out[3, :, 20:] == 0).all(), "padding still 0"
    assert len(rec.calls) == 9
    for inputs, level in rec.calls:
        assert torch.equal(inputs[given], codes[given]), "the network sees the known codes"
        assert (inputs[:, level + 1 :][~given[:, level + 1 :]] == mask).all()


def test_schedule_counts_only_the_unknown_frames(tiny_model, tiny_config):
    mask = tiny_config.mask_id
    codes, cond = random_inputs(tiny_config, 3, 24, seed=6)
    known_frames = islands(3, 24)
    rec = Recorder(tiny_model)
    n = 6
    tiny_model.generate(
        cond,
        known=codes,
        known_frames=known_frames,
        steps=(n, 1, 1, 1),
        generator=torch.Generator().manual_seed(3),
    )
    for b in range(3):
        unknown = ~known_frames[b]
        N = int(unknown.sum())
        for i, (inputs, _) in enumerate(rec.calls[:n]):
            expected = N if i == 0 else math.floor(N * math.cos(math.pi / 2 * i / n))
            assert int((inputs[b, 0, unknown] == mask).sum()) == expected, (b, i)
            assert not (inputs[b, :, known_frames[b]] == mask).any()


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_known_prefix_is_exactly_a_prompt(tiny_model, tiny_config, temperature):
    """``known_frames`` = the first P frames gives the prompt's tokens, draw for draw."""
    codes, cond = random_inputs(tiny_config, 3, 20, seed=7)
    prompt_lengths = torch.tensor([6, 0, 3])
    lengths = torch.tensor([20, 17, 12])
    kwargs = dict(steps=(4, 2, 1, 1), temperature=temperature, lengths=lengths)
    prompted = tiny_model.generate(
        cond,
        prompt=codes[..., :6],
        prompt_lengths=prompt_lengths,
        generator=torch.Generator().manual_seed(4),
        **kwargs,
    )
    known = tiny_model.generate(
        cond,
        known=codes,
        known_frames=torch.arange(20)[None] < prompt_lengths[:, None],
        generator=torch.Generator().manual_seed(4),
        **kwargs,
    )
    assert torch.equal(prompted, known)


def test_known_frame_requests_are_checked(tiny_model, tiny_config):
    codes, cond = random_inputs(tiny_config, 1, 8)
    frames = torch.zeros(1, 8, dtype=torch.bool)
    with pytest.raises(ValueError, match="known and known_frames go together"):
        tiny_model.generate(cond, known=codes)
    with pytest.raises(ValueError, match="known_frames must be a bool tensor"):
        tiny_model.generate(cond, known=codes, known_frames=frames.long())
    with pytest.raises(ValueError, match=r"known must be an integer tensor \[B, Q, T\]"):
        tiny_model.generate(cond, known=codes[..., :5], known_frames=frames)
    frames[0, 2] = True
    bad = codes.clone()
    bad[0, 1, 2] = tiny_config.mask_id
    with pytest.raises(ValueError, match="known code"):
        tiny_model.generate(cond, known=bad, known_frames=frames)
    bad[0, 1, 2] = 0
    bad[0, 1, 3] = tiny_config.mask_id  # not a known frame: not read
    tiny_model.generate(cond, known=bad, known_frames=frames, steps=2)


# ---------------------------------------------------------------- classifier-free guidance


def test_guidance_scale_zero_is_exactly_no_guidance(tiny_model, tiny_config):
    codes, cond = random_inputs(tiny_config, 2, 16, seed=8)
    rec = Recorder(tiny_model)
    runs = [
        tiny_model.generate(
            cond,
            prompt=codes[..., :5],
            options=options,
            generator=torch.Generator().manual_seed(5),
        )
        for options in (DecodeOptions(steps=4), DecodeOptions(steps=4, guidance_scale=0.0))
    ]
    assert torch.equal(runs[0], runs[1])
    assert all(inputs.shape[0] == 2 for inputs, _ in rec.calls), "no doubled batch at scale 0"


def test_guidance_doubles_the_batch_not_the_passes(tiny_model, tiny_config):
    mask = tiny_config.mask_id
    codes, cond = random_inputs(tiny_config, 2, 16, seed=9)
    known_frames = islands(2, 16)
    rec = Recorder(tiny_model)
    steps = (4, 2, 1, 1)
    out = tiny_model.generate(
        cond,
        prompt=codes[..., :2],
        known=codes,
        known_frames=known_frames,
        options=DecodeOptions(steps=steps, guidance_scale=1.5),
        generator=torch.Generator().manual_seed(6),
    )
    given = known_frames.clone()
    given[:, :2] = True  # the prompt is known too
    assert len(rec.calls) == sum(steps), "one network call per iteration"
    for inputs, _ in rec.calls:
        assert inputs.shape == (4, tiny_config.num_levels, 16), "a doubled batch"
        conditional, unconditional = inputs[:2], inputs[2:]
        assert torch.equal(
            conditional[given[:, None].expand_as(codes)], codes[given[:, None].expand_as(codes)]
        )
        assert (unconditional.transpose(1, 2)[given] == mask).all(), "known frames hidden"
        assert torch.equal(
            unconditional.transpose(1, 2)[~given], conditional.transpose(1, 2)[~given]
        )
    assert torch.equal(out.transpose(1, 2)[given], codes.transpose(1, 2)[given])


def test_guidance_mixes_the_two_halves():
    """Greedy decoding follows ``l_c + s (l_c - l_u)``: a code the prompt makes likelier than
    the unconditional pass does wins under guidance even when it is not the conditional argmax."""
    batch, frames = 2, 5

    def forward(codes, cond, lengths, level):
        logits = torch.zeros(codes.shape[0], frames, K)
        logits[:batch, :, 1] = 2.0  # conditional: code 1 ahead of code 2
        logits[:batch, :, 2] = 1.5
        logits[batch:, :, 1] = 3.0  # unconditional: code 1 far more likely, code 2 not at all
        return logits

    cond = torch.zeros(batch, frames, dtype=torch.long)
    prompt = torch.zeros(batch, Q, 1, dtype=torch.long)
    run = functools.partial(generate_tokens, forward, cond, num_levels=Q, mask_id=K, prompt=prompt)
    plain = run(options=DecodeOptions(steps=(1,) * Q))
    guided = run(options=DecodeOptions(steps=(1,) * Q, guidance_scale=1.0))
    assert (plain[..., 1:] == 1).all()
    assert (guided[..., 1:] == 2).all(), "2 + (2 - 3) = 1 < 1.5 + 1.5 = 3"
    undoubled = functools.partial(generate_tokens, lambda c, *a: torch.zeros(batch, frames, K))
    with pytest.raises(ValueError, match=r"logits of shape \(2, 5, 8\).*= \[4, 5, 8\]"):
        undoubled(cond, num_levels=Q, mask_id=K, options=DecodeOptions(guidance_scale=1.0))


@pytest.mark.parametrize("bad", [-0.5, float("nan"), "1"])
def test_bad_guidance_scales_raise_naming_the_field(bad):
    with pytest.raises(ValueError, match="guidance_scale must be a finite number >= 0"):
        DecodeOptions(guidance_scale=bad)


# ---------------------------------------------------------------- minimum Bayes risk (greedy_choice)
def test_mbr_picks_the_code_nearest_the_expected_vector():
    from soundstorm.decoding import fill_mbr

    codebook = torch.tensor([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 5.0]])
    # two far-apart codes share the mass: the mean (0, 0) is code 0, which argmax never picks
    logits = torch.log(torch.tensor([[[1e-6, 0.5, 0.5 - 1e-6, 1e-6]]]))
    level = torch.full((1, 1), 4)
    masked = torch.ones(1, 1, dtype=torch.bool)
    assert fill_mbr(logits, codebook, level, masked).item() == 0
    # a confident distribution keeps its code
    sure = torch.tensor([[[0.0, 0.0, 0.0, 30.0]]])
    assert fill_mbr(sure, codebook, level, masked).item() == 3
    # positions that are not masked stay; NaN logits still give a code in range
    kept = fill_mbr(logits, codebook, torch.tensor([[2]]), torch.zeros(1, 1, dtype=torch.bool))
    assert kept.item() == 2
    nan = fill_mbr(torch.full((1, 1, 4), float("nan")), codebook, level, masked)
    assert 0 <= nan.item() < 4


def test_mbr_changes_only_the_one_pass_levels(tiny_model, tiny_config):
    codes, cond = random_inputs(tiny_config, 2, 16, seed=11)
    Q, K = tiny_config.num_levels, tiny_config.codebook_size
    codebooks = torch.randn(Q, K, 6, generator=torch.Generator().manual_seed(0))

    def run(choice):
        return tiny_model.generate(
            cond,
            prompt=codes[..., :4],
            options=DecodeOptions(steps=4, greedy_choice=choice),
            generator=torch.Generator().manual_seed(3),
            codebooks=codebooks,
        )

    argmax, mbr = run("argmax"), run("mbr")
    assert torch.equal(argmax[:, 0], mbr[:, 0])  # the first level is sampled as before
    assert torch.equal(mbr[..., :4], codes[..., :4])  # the prompt is kept
    assert not torch.equal(argmax[:, 1:], mbr[:, 1:])  # a random model is unsure: MBR differs


def test_mbr_without_codebooks_is_a_clear_error(tiny_model, tiny_config):
    _, cond = random_inputs(tiny_config, 1, 8)
    with pytest.raises(ValueError, match="greedy_choice='mbr' needs the codec's codebooks"):
        tiny_model.generate(cond, options=DecodeOptions(steps=2, greedy_choice="mbr"))
    with pytest.raises(ValueError, match="greedy_choice must be one of argmax, mbr"):
        DecodeOptions(greedy_choice="nearest")


def test_a_pipeline_gives_its_engine_the_codec_code_vectors(voice_model_dir):
    from soundstorm.pipeline import VoicePipeline

    pipeline = VoicePipeline.from_directory(voice_model_dir)
    vectors = pipeline.engine.codebooks
    Q, K = pipeline.engine.config.num_levels, pipeline.engine.config.codebook_size
    assert vectors is not None and vectors.shape[:2] == (Q, K)
    codes = torch.randint(0, K, (1, Q, 5))
    # the codec decodes the sum of one vector per level: code_vectors are those vectors
    spectrum = pipeline.codec.decode_log_spectrogram(codes)
    expected = vectors[torch.arange(Q)[:, None], codes[0]].sum(0) + pipeline.codec.feature_mean
    torch.testing.assert_close(spectrum[0].reshape(5, -1), expected, rtol=1e-4, atol=1e-4)
