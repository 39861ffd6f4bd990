"""Wrongly typed integers are refused (never truncated); a missing CUDA is named clearly."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from soundstorm import SoundStorm, SoundStormConfig
from soundstorm.cli import main
from soundstorm.errors import SoundStormError
from soundstorm.inference import GenerationEngine, bucket_length, load_pretrained
from soundstorm.masking import remaining_masked, sample_training_masks
from soundstorm.pipeline import VoicePipeline
from soundstorm.validation import require_int, require_real, resolve_device

from tests.conftest import random_inputs

NOT_INTEGERS = [16.7, 16.0, True, "16", None, torch.tensor(16.0), torch.tensor([1, 2])]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
CUDA_MISSING = r"CUDA is not available on this machine \(.*\): use the CPU \(--device cpu\)"


# ---------------------------------------------------------------- the helpers
@pytest.mark.parametrize("value", NOT_INTEGERS)
def test_require_int_refuses_what_is_not_an_integer(value):
    with pytest.raises(ValueError, match=r"^steps must be an integer >= 1, got "):
        require_int("steps", value, minimum=1)


def test_require_int_accepts_integers_and_checks_the_range():
    for value in (3, np.int64(3), torch.tensor(3), torch.tensor([3], dtype=torch.int32)):
        assert require_int("n", value) == 3 and type(require_int("n", value)) is int
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 4\], got 5"):
        require_int("n", 5, minimum=1, maximum=4)
    with pytest.raises(ValueError, match=r"got 16.7 \(float\)"):
        require_int("n", 16.7)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.5, "1", True, None])
def test_require_real_refuses_non_finite_and_non_numbers(value):
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        require_real("temperature", value, minimum=0.0)
    assert require_real("t", 1) == 1.0 and require_real("t", np.float32(0.5)) == 0.5


# ---------------------------------------------------------------- integer arguments
@pytest.mark.parametrize(
    "steps, message",
    [
        ((16.7, 1, 1, 1), r"steps\[0\] must be an integer, got 16.7 \(float\)"),
        ((16, 1.0, 1, 1), r"steps\[1\] must be an integer, got 1.0 \(float\)"),
        (16.7, r"steps must be an integer >= 1, got 16.7 \(float\)"),
        (True, r"steps must be an integer >= 1, got True \(bool\)"),
        ("16", r"steps must be an integer >= 1, got '16' \(str\)"),
        (torch.tensor([4.0, 1, 1, 1]), r"steps\[0\] must be an integer"),
    ],
)
def test_generate_refuses_non_integer_steps(tiny_model, tiny_config, steps, message):
    _, cond = random_inputs(tiny_config, 1, 8)
    with pytest.raises(ValueError, match=message):
        tiny_model.generate(cond, steps=steps)
    engine = GenerationEngine(tiny_model)
    with pytest.raises(ValueError, match=message):
        engine.generate(cond, steps=steps)


def test_integer_steps_of_any_integer_type_are_accepted(tiny_model, tiny_config):
    _, cond = random_inputs(tiny_config, 1, 8)
    g = torch.Generator
    expected = tiny_model.generate(cond, steps=(3, 1, 1, 1), generator=g().manual_seed(0))
    for steps in (3, np.int64(3), torch.tensor(3), (3, 1, 1, 1), np.array([3, 1, 1, 1])):
        out = tiny_model.generate(cond, steps=steps, generator=g().manual_seed(0))
        assert torch.equal(out, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_lengths_and_prompt_lengths_must_be_integer_tensors(tiny_model, tiny_config, dtype):
    codes, cond = random_inputs(tiny_config, 2, 10)
    lengths = torch.tensor([10, 7]).to(dtype)
    engine = GenerationEngine(tiny_model)
    for generate in (tiny_model.generate, engine.generate):  # the engine never casts to long
        with pytest.raises(ValueError, match=r"lengths must be an integer tensor \[B\]"):
            generate(cond, lengths=lengths)
        with pytest.raises(ValueError, match=r"prompt_lengths must be an integer tensor \[B\]"):
            generate(cond, prompt=codes[..., :4], prompt_lengths=torch.tensor([4, 2]).to(dtype))
        with pytest.raises(ValueError, match=r"cond must be an integer tensor"):
            generate(cond.bool())
        with pytest.raises(ValueError, match=r"prompt must be an integer tensor"):
            generate(cond, prompt=codes[..., :4].to(dtype))
    with pytest.raises(ValueError, match=r"lengths must be an integer tensor"):
        tiny_model.generate(cond, lengths=[10, 7])


def test_forward_level_must_be_an_integer(tiny_model, tiny_config):
    codes, cond = random_inputs(tiny_config, 2, 6)
    for level in (1.0, True, "1", -1, 4):
        with pytest.raises(ValueError, match=r"level must be an integer in \[0, 3\]"):
            tiny_model(codes, cond, level=level)
    with pytest.raises(ValueError, match=r"level must be an integer tensor \[B\]"):
        tiny_model(codes, cond, level=torch.tensor([0.0, 1.0]))
    assert tiny_model(codes, cond, level=torch.tensor(2)).shape == (2, 6, 64)


def test_engine_integer_arguments(tiny_model, tiny_config):
    with pytest.raises(ValueError, match=r"buckets\[0\] must be an integer >= 1, got 16.5"):
        GenerationEngine(tiny_model, buckets=(16.5, 32))
    with pytest.raises(ValueError, match="num_frames must be an integer >= 1, got 16.0"):
        bucket_length(16.0, (16, 32))
    engine = GenerationEngine(tiny_model, buckets=(16,))
    _, cond = random_inputs(tiny_config, 1, 20)
    with pytest.raises(ValueError, match="window must be an integer >= 2, got 15.5"):
        engine.generate_long(cond, window=15.5, context=4)
    with pytest.raises(ValueError, match=r"context must be an integer >= 1, got True \(bool\)"):
        engine.generate_long(cond, window=16, context=True)
    with pytest.raises(ValueError, match="batch_sizes must be an integer >= 1, got 1.5"):
        engine.warmup(batch_sizes=(1.5,))
    with pytest.raises(ValueError, match="buckets must be an integer >= 1, got '16'"):
        engine.warmup(buckets=("16",))
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 2.5"):
        engine.warmup(steps=2.5)
    with pytest.raises(ValueError, match="num_frames must be an integer >= 0"):
        tiny_model.flops_per_forward(10.5)


def test_masking_integer_arguments():
    lengths = torch.tensor([10, 6])
    with pytest.raises(ValueError, match="lengths must be a non-empty 1-D integer tensor"):
        sample_training_masks(4, lengths.float())
    with pytest.raises(ValueError, match="num_levels must be an integer >= 1, got 2.5"):
        sample_training_masks(2.5, lengths)
    with pytest.raises(ValueError, match="num_frames must be an integer >= 1, got 10.0"):
        sample_training_masks(4, lengths, num_frames=10.0)
    with pytest.raises(ValueError, match="iteration must be an integer >= 0, got 1.5"):
        remaining_masked(lengths, 1.5, 4)
    with pytest.raises(ValueError, match="num_iterations must be an integer >= 1, got True"):
        remaining_masked(lengths, 0, True)
    with pytest.raises(ValueError, match="num_tokens must be an integer tensor"):
        remaining_masked(lengths.float(), 0, 4)


@pytest.mark.parametrize(
    "field, value",
    [("conv_kernel", 5.0), ("conv_expansion", 2.5), ("depth", True), ("dim", "64")],
)
def test_config_integer_fields(field, value):
    with pytest.raises(ValueError, match=f"SoundStormConfig.{field} must be an integer >= 1"):
        SoundStormConfig.tiny(**{field: value})
    with pytest.raises(ValueError, match="SoundStormConfig.dropout must be a finite number"):
        SoundStormConfig.tiny(dropout=float("nan"))


def test_pipeline_integer_arguments(tiny_model):
    codec = types.SimpleNamespace(name="fake", num_levels=4, codebook_size=64, frame_rate=50)
    tokenizer = types.SimpleNamespace(name="fake", vocab_size=8)
    engine = GenerationEngine(tiny_model)
    with pytest.raises(ValueError, match="default_steps must be an integer >= 1, got 8.5"):
        VoicePipeline(engine, codec, tokenizer, default_steps=8.5)
    pipeline = VoicePipeline(engine, codec, tokenizer)
    with pytest.raises(ValueError, match="window must be an integer >= 2, got 1500.5"):
        pipeline.generate([], window=1500.5)
    with pytest.raises(ValueError, match="context must be an integer >= 1, got 2.5"):
        pipeline.generate([], context=2.5)
    with pytest.raises(ValueError, match=r"steps\[0\] must be an integer, got 16.7"):
        pipeline.generate([], steps=(16.7, 1, 1, 1))
    wav = torch.zeros(1, 1600)
    with pytest.raises(ValueError, match="content_rate must be an integer >= 1, got 16000.5"):
        pipeline.make_request(wav, 16000.5)


def test_cli_integer_flags_refuse_fractions(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse: one line, exit 2
        main(["bench", "--steps", "16.7"])
    assert exit_info.value.code == 2
    assert "argument --steps: invalid int value: '16.7'" in capsys.readouterr().err
    assert main(["bench", "--preset", "tiny", "--threads", "0"]) == 2
    assert "--threads must be an integer >= 1, got 0" in capsys.readouterr().err


# ---------------------------------------------------------------- devices
def test_resolve_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == resolve_device(None).type == expected
    with pytest.raises(SoundStormError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(SoundStormError, match="device must be a name"):
        resolve_device(0.5)


@NO_CUDA
@pytest.mark.parametrize("name", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_cuda_without_cuda_is_named(name):
    with pytest.raises(SoundStormError, match=CUDA_MISSING):
        resolve_device(name)


@NO_CUDA
def test_loading_and_engines_on_missing_cuda_say_so(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    with pytest.raises(SoundStormError, match=CUDA_MISSING):
        SoundStorm.from_pretrained(tmp_path, map_location="cuda")
    with pytest.raises(SoundStormError, match=CUDA_MISSING):
        load_pretrained(tmp_path, device="cuda")
    with pytest.raises(SoundStormError, match=CUDA_MISSING):
        GenerationEngine.from_pretrained(tmp_path, device="cuda")
    with pytest.raises(SoundStormError, match=CUDA_MISSING):
        GenerationEngine(tiny_model, device="cuda")
    with pytest.raises(SoundStormError, match=CUDA_MISSING):
        VoicePipeline.from_directory(tmp_path, codec="unused", device="cuda")
    from soundstorm.codecs import get_codec

    with pytest.raises(SoundStormError, match=CUDA_MISSING):
        get_codec("encodec", device="cuda")
    from soundstorm.train.distributed import init_distributed

    with pytest.raises(SoundStormError, match="run.device=cuda: CUDA is not available"):
        init_distributed("cuda")


@NO_CUDA
def test_cli_device_cuda_without_cuda_is_a_one_line_error(tmp_path, capsys):
    content = tmp_path / "a.wav"
    content.write_bytes(b"")  # never read: the device is checked before any audio
    model = tmp_path / "model"
    model.mkdir()
    commands = {
        "generate": [
            "generate",
            "--model",
            str(model),
            "--content",
            str(content),
            "--out",
            str(tmp_path / "out.wav"),
        ],
        "bench": ["bench", "--preset", "tiny", "--frames", "8"],
        "prepare": ["prepare", str(tmp_path / "audio"), str(tmp_path / "shards")],
        "semantic": ["semantic", "fit", str(tmp_path), str(tmp_path / "k"), "--model", "m"]
        + ["--layer", "6"],
    }
    for name, argv in commands.items():
        assert main([*argv, "--device", "cuda"]) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, (name, err)
        assert err[0].startswith(f"soundstorm {name}: error: CUDA is not available")
        assert err[0].endswith("use the CPU (--device cpu)")
        assert not (tmp_path / "shards").exists()


def test_export_refuses_fractional_steps(tiny_model, tmp_path):
    from soundstorm.export import export_model

    tiny_model.save_pretrained(tmp_path / "ckpt")
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1, got 8.5 \(float\)"):
        export_model(tmp_path / "ckpt", tmp_path / "out", codec="encodec", steps=8.5)
    assert not (tmp_path / "out").exists()


def test_distributed_env_is_the_one_reader_of_torchrun_ranks(monkeypatch):
    from soundstorm.validation import distributed_env, resolve_rank_device

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed_env() == (0, 1, 0)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed_env() == (3, 4, 1)
    assert resolve_rank_device("cpu") == torch.device("cpu")
    for rank, world, local in (("4", "4", "0"), ("0", "0", "0"), ("1", "2", "-1"), ("x", "2", "0")):
        monkeypatch.setenv("RANK", rank)
        monkeypatch.setenv("WORLD_SIZE", world)
        monkeypatch.setenv("LOCAL_RANK", local)
        with pytest.raises(SoundStormError, match="RANK"):
            distributed_env()
