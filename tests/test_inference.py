"""GenerationEngine: bucketed / compiled generation gives the eager model's tokens."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from soundstorm import SoundStorm, SoundStormConfig
from soundstorm.bench import CountingEngine, measure_generation
from soundstorm.inference import GenerationEngine, bucket_length, load_pretrained

GREEDY = dict(temperature=0.0, choice_temperature=0.0)


@pytest.fixture
def sharp_model() -> SoundStorm:
    """A tiny random model whose logits are spread wide, so argmax never hinges on 1e-7."""
    torch.manual_seed(0)
    model = SoundStorm(SoundStormConfig.tiny()).eval()
    with torch.no_grad():
        model.head_weight.mul_(50.0)
    return model


def random_cond(model: SoundStorm, batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.config.cond_vocab_size, (batch, frames), generator=generator)


def test_bucket_length_picks_smallest_bucket_and_rounds_beyond_the_largest():
    buckets = (16, 64, 256)
    assert bucket_length(1, buckets) == 16
    assert bucket_length(16, buckets) == 16
    assert bucket_length(17, buckets) == 64
    assert bucket_length(256, buckets) == 256
    assert bucket_length(257, buckets) == 512
    assert bucket_length(700, buckets) == 768
    with pytest.raises(ValueError):
        bucket_length(0, buckets)


def test_greedy_bucketed_equals_eager_unpadded(sharp_model):
    cond = random_cond(sharp_model, batch=2, frames=37)
    eager = sharp_model.generate(cond, **GREEDY)
    engine = GenerationEngine(sharp_model, buckets=(16, 64))
    assert engine.padded_length(37) == 64
    bucketed = engine.generate(cond, **GREEDY)
    assert bucketed.shape == (2, sharp_model.config.num_levels, 37)
    assert torch.equal(bucketed, eager)


def test_greedy_bucketed_with_prompt_and_lengths_equals_eager(sharp_model):
    cfg = sharp_model.config
    cond = random_cond(sharp_model, batch=2, frames=30, seed=1)
    lengths = torch.tensor([30, 21])
    prompt = torch.randint(0, cfg.codebook_size, (2, cfg.num_levels, 8))
    eager = sharp_model.generate(cond, prompt=prompt, lengths=lengths, **GREEDY)
    bucketed = GenerationEngine(sharp_model, buckets=(48,)).generate(
        cond, prompt=prompt, lengths=lengths, **GREEDY
    )
    assert torch.equal(bucketed, eager)
    assert torch.equal(bucketed[..., :8], prompt)
    assert bool((bucketed[1, :, 21:] == 0).all())


def test_generate_many_equals_one_by_one(sharp_model):
    engine = GenerationEngine(sharp_model, buckets=(32,))
    conds = [random_cond(sharp_model, 1, frames, seed=frames)[0] for frames in (9, 25, 17)]
    together = engine.generate_many(conds, **GREEDY)
    for cond, codes in zip(conds, together):
        assert codes.shape == (sharp_model.config.num_levels, len(cond))
        assert torch.equal(codes, sharp_model.generate(cond[None], **GREEDY)[0])


def test_seeded_sampling_equals_eager_on_the_bucket_and_is_reproducible(tiny_model):
    # The plain random model: its soft logits make samples depend on the seed.
    cond = random_cond(tiny_model, batch=2, frames=20, seed=2)
    engine = GenerationEngine(tiny_model, buckets=(32,))
    first = engine.generate(cond, generator=torch.Generator().manual_seed(5))
    again = engine.generate(cond, generator=torch.Generator().manual_seed(5))
    other = engine.generate(cond, generator=torch.Generator().manual_seed(6))
    eager = tiny_model.generate(
        F.pad(cond, (0, 12)),
        lengths=torch.tensor([20, 20]),
        generator=torch.Generator().manual_seed(5),
    )[..., :20]
    assert torch.equal(first, again)
    assert torch.equal(first, eager)
    assert not torch.equal(first, other)


def test_load_pretrained_round_trip(sharp_model, tmp_path):
    sharp_model.save_pretrained(tmp_path)
    loaded = load_pretrained(tmp_path)
    assert loaded.config == sharp_model.config
    for name, tensor in loaded.state_dict().items():
        assert not tensor.is_meta, name
        assert torch.equal(tensor, sharp_model.state_dict()[name]), name
    cond = random_cond(sharp_model, batch=1, frames=12)
    engine = GenerationEngine.from_pretrained(tmp_path, buckets=(16,))
    assert torch.equal(engine.generate(cond, **GREEDY), sharp_model.generate(cond, **GREEDY))


def test_load_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_pretrained(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_pretrained(tmp_path)


def test_invalid_requests_raise(sharp_model):
    cfg = sharp_model.config
    engine = GenerationEngine(sharp_model, buckets=(16,))
    cond = random_cond(sharp_model, 1, 10)
    with pytest.raises(ValueError, match="cond"):
        engine.generate(cond.float())
    with pytest.raises(ValueError, match="cond ids"):
        engine.generate(cond + cfg.cond_vocab_size)
    with pytest.raises(ValueError, match="lengths"):
        engine.generate(cond, lengths=torch.tensor([11]))
    with pytest.raises(ValueError, match="longer"):
        engine.generate(cond, prompt=torch.zeros(1, cfg.num_levels, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="prompt codes"):
        engine.generate(cond, prompt=torch.full((1, cfg.num_levels, 3), cfg.codebook_size))
    with pytest.raises(ValueError, match="buckets"):
        GenerationEngine(sharp_model, buckets=(0, 8))


def test_counting_engine_runs_the_schedule_and_measures(sharp_model):
    engine = CountingEngine(sharp_model, buckets=(32,))
    result = measure_generation(engine, batch=2, frames=20, steps=5, repeats=2, warmup=1, peak=1e9)
    assert result.passes == 5 + sharp_model.config.num_levels - 1
    assert len(result.times_s) == 2 and result.median_s > 0
    assert result.frames_per_s == pytest.approx(40 / result.median_s)
    assert result.audio_s == pytest.approx(40 / 50)
    assert 0 < result.mfu


def test_compiled_engine_gives_eager_tokens(sharp_model):
    cond = random_cond(sharp_model, batch=2, frames=24, seed=3)
    eager = GenerationEngine(sharp_model, buckets=(32,))
    compiled = GenerationEngine(sharp_model, buckets=(32,), compile=True)
    assert torch.equal(compiled.generate(cond, **GREEDY), eager.generate(cond, **GREEDY))
    sampled = [
        engine.generate(cond, generator=torch.Generator().manual_seed(9))
        for engine in (eager, compiled)
    ]
    assert torch.equal(sampled[0], sampled[1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_compiled_engine_gives_eager_tokens(sharp_model):
    # fp32 for the exact comparison: bf16 eager and compiled kernels round differently.
    cond = random_cond(sharp_model, batch=2, frames=100, seed=4).cuda()
    options = dict(device="cuda", dtype=torch.float32, buckets=(128,))
    eager = GenerationEngine(sharp_model, **options)
    compiled = GenerationEngine(sharp_model, compile=True, **options)
    compiled.warmup(batch_sizes=(2,))
    want = eager.generate(cond, **GREEDY)
    assert torch.equal(compiled.generate(cond, **GREEDY), want)
    seeded = [
        engine.generate(cond, generator=torch.Generator("cuda").manual_seed(1))
        for engine in (eager, compiled)
    ]
    assert torch.equal(seeded[0], seeded[1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_engine_defaults_to_bf16_and_generates_valid_codes(sharp_model):
    engine = GenerationEngine(sharp_model, device="cuda", buckets=(128,), compile=True)
    assert engine.dtype == torch.bfloat16
    codes = engine.generate(random_cond(sharp_model, 3, 90).cuda())
    assert codes.shape == (3, sharp_model.config.num_levels, 90)
    assert bool(((codes >= 0) & (codes < sharp_model.config.codebook_size)).all())


def test_generate_long_chunks_are_prompted_by_the_previous_tail(sharp_model):
    engine = GenerationEngine(sharp_model, buckets=(16, 32))
    cond = random_cond(sharp_model, batch=2, frames=70, seed=7)
    prompt = torch.randint(
        0, sharp_model.config.codebook_size, (2, sharp_model.config.num_levels, 5)
    )
    greedy = dict(steps=(3, 1, 1, 1), temperature=0.0, choice_temperature=0.0)
    calls = []
    original = engine._level_forward
    engine._level_forward = lambda *a: calls.append(a[0].shape[-1]) or original(*a)
    out = engine.generate_long(cond, prompt=prompt, window=30, context=10, **greedy)
    passes = len(calls)
    assert out.shape == (2, sharp_model.config.num_levels, 70)
    assert torch.equal(out[..., :5], prompt)
    # chunks: [0,30) with the voice prompt, then [20,50) and [40,70) prompted by 10 frames
    expected = engine.generate(cond[:, :30], prompt=prompt, **greedy)
    expected = torch.cat(
        [
            expected,
            engine.generate(cond[:, 20:50], prompt=expected[..., 20:30], **greedy)[..., 10:],
        ],
        -1,
    )
    expected = torch.cat(
        [
            expected,
            engine.generate(cond[:, 40:70], prompt=expected[..., 40:50], **greedy)[..., 10:],
        ],
        -1,
    )
    assert torch.equal(out, expected)
    assert passes == 3 * sum(greedy["steps"]), "three chunks of sum(steps) passes"
    assert torch.equal(
        engine.generate_long(cond[:, :25], prompt=prompt, window=30, context=10, **greedy),
        engine.generate(cond[:, :25], prompt=prompt, **greedy),
    )
    with pytest.raises(ValueError, match="context"):
        engine.generate_long(cond, window=30, context=30)
    with pytest.raises(ValueError, match="shorter than window"):
        engine.generate_long(cond, prompt=prompt, window=5, context=2)


def test_auto_buckets_pad_only_compiled_engines(tiny_model):
    assert GenerationEngine(tiny_model).padded_length(650) == 650
    assert GenerationEngine(tiny_model, compile=True).padded_length(650) == 1024
    with pytest.raises(ValueError, match="auto"):
        GenerationEngine(tiny_model, buckets="fast")


def test_engine_with_non_finite_logits_keeps_prompt_and_equals_eager(sharp_model):
    """The engine shares ``decoding.decode``: a diverged model gives the eager model's valid codes."""
    cfg = sharp_model.config
    with torch.no_grad():
        sharp_model.head_bias[0, ::2] = float("nan")
        sharp_model.head_bias[1, 3] = float("inf")
        sharp_model.head_bias[2] = float("-inf")
    cond = random_cond(sharp_model, batch=2, frames=30, seed=3)
    lengths = torch.tensor([30, 19])
    prompt = torch.randint(0, cfg.codebook_size, (2, cfg.num_levels, 6))
    kwargs = dict(prompt=prompt, lengths=lengths, steps=(5, 2, 1, 1), **GREEDY)
    eager = sharp_model.generate(cond, **kwargs)
    bucketed = GenerationEngine(sharp_model, buckets=(48,)).generate(cond, **kwargs)
    assert torch.equal(bucketed, eager)
    assert torch.equal(bucketed[..., :6], prompt)
    assert ((bucketed >= 0) & (bucketed < cfg.codebook_size)).all()
    sampled = GenerationEngine(sharp_model, buckets=(48,)).generate(
        cond, prompt=prompt, lengths=lengths, temperature=1e-40, generator=torch.Generator()
    )
    assert torch.equal(sampled[..., :6], prompt)
    assert ((sampled >= 0) & (sampled < cfg.codebook_size)).all()


def test_known_frames_and_guidance_bucketed_and_compiled_equal_eager(sharp_model):
    """Speech-editing requests (known frames on both sides) with guidance: the padded engine,
    eager or compiled (its static bucket then holds the doubled batch), gives the model's
    tokens, greedy and seeded."""
    from soundstorm.decoding import DecodeOptions

    cfg = sharp_model.config
    cond = random_cond(sharp_model, batch=2, frames=26, seed=5)
    codes = torch.randint(0, cfg.codebook_size, (2, cfg.num_levels, 26))
    known_frames = torch.zeros(2, 26, dtype=torch.bool)
    known_frames[:, :8] = True
    known_frames[0, 15:] = True
    known_frames[1, 20:] = True
    lengths = torch.tensor([26, 23])
    request = dict(lengths=lengths, known=codes, known_frames=known_frames)
    eager = GenerationEngine(sharp_model, buckets=(32,))
    compiled = GenerationEngine(sharp_model, buckets=(32,), compile=True)
    for options in (
        DecodeOptions(steps=4, guidance_scale=1.5, **GREEDY),
        DecodeOptions(steps=4, guidance_scale=0.5),
    ):
        expected = sharp_model.generate(
            F.pad(cond, (0, 6)),
            options=options,
            generator=torch.Generator().manual_seed(2),
            lengths=lengths,
            known=F.pad(codes, (0, 6)),
            known_frames=F.pad(known_frames, (0, 6), value=False),
        )[..., :26]
        for engine in (eager, compiled):
            out = engine.generate(
                cond, options=options, generator=torch.Generator().manual_seed(2), **request
            )
            assert torch.equal(out, expected)
            assert torch.equal(out[0, :, :8], codes[0, :, :8])
            assert torch.equal(out[0, :, 15:], codes[0, :, 15:])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_compiled_engine_with_guidance_and_known_frames_gives_eager_tokens(sharp_model):
    """CUDA graphs of the doubled batch (guidance) on a static bucket give the eager tokens."""
    from soundstorm.decoding import DecodeOptions

    cfg = sharp_model.config
    cond = random_cond(sharp_model, batch=2, frames=100, seed=6).cuda()
    codes = torch.randint(0, cfg.codebook_size, (2, cfg.num_levels, 100)).cuda()
    known_frames = torch.ones(2, 100, dtype=torch.bool, device="cuda")
    known_frames[:, 40:60] = False
    request = dict(known=codes, known_frames=known_frames)
    options = dict(device="cuda", dtype=torch.float32, buckets=(128,))
    eager = GenerationEngine(sharp_model, **options)
    compiled = GenerationEngine(sharp_model, compile=True, **options)
    guided = DecodeOptions(steps=4, guidance_scale=1.0, **GREEDY)
    compiled.warmup(batch_sizes=(2,), options=guided)
    want = eager.generate(cond, options=guided, **request)
    assert torch.equal(compiled.generate(cond, options=guided, **request), want)
    assert torch.equal(want[..., :40], codes[..., :40])
