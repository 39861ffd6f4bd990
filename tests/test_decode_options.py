"""``DecodeOptions``: validated once, resolved per level, passed whole from the commands to
``generate_tokens`` (so a new decoding option is ``decoding.py`` plus a test)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import soundstorm.inference as inference_module
import soundstorm.model as model_module
from soundstorm.decoding import DecodeOptions, generate_tokens, level_steps
from soundstorm.inference import GenerationEngine

from tests.conftest import random_inputs
from tests.voice_fakes import SR, record_decode_options, tone


def test_defaults_are_the_papers():
    options = DecodeOptions()
    assert (options.steps, options.temperature, options.choice_temperature) == (None, 1.0, 1.0)
    assert options.level_steps(12) == (16,) + (1,) * 11
    assert DecodeOptions(steps=8).level_steps(3) == (8, 1, 1)
    assert DecodeOptions(steps=(4, 2, 1)).level_steps(3) == (4, 2, 1)
    assert level_steps(None, 2) == (16, 1)


@pytest.mark.parametrize(
    "steps, stored",
    [(3, 3), (np.int64(3), 3), (torch.tensor(3), 3), ([3, 1], (3, 1)), (np.array([3, 1]), (3, 1))],
)
def test_integer_steps_of_any_type_are_normalised(steps, stored):
    options = DecodeOptions(steps=steps)
    assert options.steps == stored and type(options.steps) is type(stored)
    hash(options)  # frozen and hashable: a usable cache key


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 16.7}, r"^steps must be an integer >= 1, got 16.7 \(float\)"),
        ({"steps": 0}, r"^steps must be an integer >= 1, got 0"),
        ({"steps": (4, 0)}, r"^steps must be positive integers"),
        ({"steps": (4.0, 1)}, r"^steps\[0\] must be an integer"),
        ({"temperature": float("nan")}, r"^temperature must be a finite number >= 0"),
        ({"temperature": None}, r"^temperature must be a finite number >= 0"),
        ({"choice_temperature": -1.0}, r"^choice_temperature must be a finite number >= 0"),
    ],
)
def test_bad_values_fail_when_built_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DecodeOptions(**kwargs)


def test_a_steps_tuple_must_have_one_count_per_level():
    with pytest.raises(ValueError, match=r"steps must be 4 positive integers.*got \(4, 1\)"):
        DecodeOptions(steps=(4, 1)).level_steps(4)


def test_merge_keeps_options_unless_an_alias_is_given():
    base = DecodeOptions(steps=5, temperature=0.5)
    assert DecodeOptions.merge(base) is base
    assert DecodeOptions.merge(base, steps=None) is base  # steps=None: "not given"
    assert DecodeOptions.merge(base, temperature=0.0) == DecodeOptions(5, 0.0, 1.0)
    assert DecodeOptions.merge(None, choice_temperature=0.0) == DecodeOptions(None, 1.0, 0.0)
    with pytest.raises(ValueError, match="options must be a DecodeOptions"):
        DecodeOptions.merge({"steps": 5})
    with pytest.raises(ValueError, match="unknown decoding option"):
        DecodeOptions.merge(None, top_p=0.9)


def test_old_keywords_equal_the_options_object(tiny_model, tiny_config):
    _, cond = random_inputs(tiny_config, 2, 7)
    engine = GenerationEngine(tiny_model, device="cpu")
    options = DecodeOptions(steps=(3, 2, 1, 1), temperature=0.7, choice_temperature=0.3)
    for generate in (tiny_model.generate, engine.generate):
        by_keywords = generate(
            cond, steps=(3, 2, 1, 1), temperature=0.7, choice_temperature=0.3,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        by_options = generate(cond, options=options, generator=torch.Generator().manual_seed(0))
        assert torch.equal(by_keywords, by_options)


def test_the_old_token_decoder_name_still_works(tiny_model, tiny_config):
    from soundstorm.decoding import decode

    _, cond = random_inputs(tiny_config, 1, 5)

    def forward(codes, cond_, lengths, level):
        return tiny_model(codes, cond_, lengths, level=level)

    cfg = tiny_config
    with pytest.warns(DeprecationWarning, match="generate_tokens"):
        old = decode(forward, cond, num_levels=cfg.num_levels, mask_id=cfg.mask_id, steps=2,
                     temperature=0.0, choice_temperature=0.0)  # fmt: skip
    new = generate_tokens(forward, cond, num_levels=cfg.num_levels, mask_id=cfg.mask_id,
                          options=DecodeOptions(2, 0.0, 0.0))  # fmt: skip
    assert torch.equal(old, new)


# ---------------------------------------------------------------- the options pass whole


@pytest.fixture
def spy(monkeypatch):
    """Record the ``options`` every ``generate_tokens`` call receives (model and engine)."""
    return record_decode_options(monkeypatch, model_module, inference_module)


def _with_top_k():
    """``DecodeOptions`` as it would be after adding a field in ``decoding.py`` only."""
    field = dataclasses.field(default=None, metadata={"help": "keep the k best codes", "type": int})
    return dataclasses.make_dataclass(
        "DecodeOptions", [("top_k", "int | None", field)], bases=(DecodeOptions,), frozen=True
    )


def test_the_same_object_reaches_decoding_from_model_engine_and_pipeline(
    tiny_model, tiny_config, voice_model_dir, spy
):
    from soundstorm.pipeline import VoicePipeline

    extended = _with_top_k()
    options = extended(steps=2, temperature=0.0, top_k=7)
    _, cond = random_inputs(tiny_config, 1, 6)
    tiny_model.generate(cond, options=options)
    engine = GenerationEngine(tiny_model, device="cpu")
    engine.generate(cond, options=options)
    engine.generate_long(cond, window=4, context=2, options=options)
    engine.warmup(buckets=(6,), options=options)
    pipeline = VoicePipeline.from_directory(voice_model_dir)
    request = pipeline.make_request(torch.from_numpy(tone(0.5, 1))[None], SR)
    pipeline.generate([request], options=options)
    pipeline.generate([request], window=10, context=4, options=options)  # chunked
    assert len(spy) >= 7 and all(seen is options for seen in spy)
    assert spy[-1].top_k == 7


def test_the_model_recommended_steps_fill_only_missing_steps(voice_model_dir):
    from soundstorm.pipeline import VoicePipeline

    pipeline = VoicePipeline.from_directory(voice_model_dir)
    pipeline.default_steps = 3
    assert pipeline.recommended_options().steps == 3
    assert pipeline.recommended_options(DecodeOptions(temperature=0.5)) == DecodeOptions(3, 0.5)
    mine = DecodeOptions(steps=5)
    assert pipeline.recommended_options(mine) is mine
    with pytest.warns(DeprecationWarning):
        assert pipeline.resolve_steps(None)[0] == 3
