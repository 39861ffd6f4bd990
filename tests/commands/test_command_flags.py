"""The commands wing: uniform flags, and decoding flags derived from ``DecodeOptions``."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

import soundstorm.commands.options as options_module
from soundstorm.cli import COMMANDS, build_parser, main
from soundstorm.commands.options import decode_options_from_args, flag_name
from soundstorm.decoding import DecodeOptions

from tests.voice_fakes import write_tones

GENERATING = ("generate", "demo", "bench")


def _parser(name: str) -> argparse.ArgumentParser:
    """The sub-parser of command ``name`` (its module's ``add_arguments`` applied)."""
    parser = build_parser(only=name)
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    flags = set()
    for action in parser._actions:
        flags.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):  # semantic fit|tokenize
            for sub in action.choices.values():
                flags |= _flags(sub)
    return flags


def test_every_command_lives_in_the_commands_package():
    assert all(path.startswith("soundstorm.commands.") for path, _ in COMMANDS.values())
    for name in COMMANDS:
        _parser(name)  # imports and builds


@pytest.mark.parametrize("name", GENERATING)
def test_generating_commands_expose_every_decoding_option(name):
    flags = _flags(_parser(name))
    for field in dataclasses.fields(DecodeOptions):
        assert flag_name(field.name) in flags, f"soundstorm {name} lacks {flag_name(field.name)}"


def test_uniform_flags():
    for name in COMMANDS:
        flags = _flags(_parser(name))
        assert "--quiet" in flags, name
        for old, new in (("--output", "--out"), ("--output-dir", "--out-dir"), ("--json", "--out")):
            assert old not in flags or new in flags, f"{name}: {old} without {new}"
    for name in ("prepare", "encode", "decode", "train", "generate", "bench", "semantic", "demo"):
        assert "--device" in _flags(_parser(name)), name
    for name in ("train", "generate", "bench", "semantic", "corpus", "demo"):
        assert "--seed" in _flags(_parser(name)), name


def test_old_output_spellings_are_aliases(tmp_path):
    args = _parser("encode").parse_args(["a.wav", "-o", "x.tokens", "--codec", "c"])
    assert args.out == "x.tokens"
    args = _parser("evaluate").parse_args(["--generated", "g.wav", "--out", "r"])
    assert args.out_dir == "r"
    args = _parser("train").parse_args(["--output-dir", "runs/x", "c.yaml"])
    assert args.out_dir == "runs/x"
    assert _parser("bench").parse_args(["--json", "b.json"]).out == "b.json"
    assert _parser("corpus").parse_args(["d", "--no-progress"]).quiet


def test_decoding_flags_build_options_and_name_the_flag_in_errors():
    parser = _parser("demo")
    args = parser.parse_args(["--steps", "4", "--choice-temperature", "0"])
    assert decode_options_from_args(args) == DecodeOptions(4, 1.0, 0.0)
    assert decode_options_from_args(parser.parse_args([])) == DecodeOptions()
    with pytest.raises(ValueError, match=r"^--steps must be an integer >= 1, got 0"):
        decode_options_from_args(parser.parse_args(["--steps", "0"]))
    with pytest.raises(ValueError, match=r"^--choice-temperature must be a finite number"):
        decode_options_from_args(parser.parse_args(["--choice-temperature", "nan"]))


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    return write_tones(tmp_path_factory.mktemp("audio"), (("content", 0.6, 1), ("voice", 1.0, 3)))


def _run(name, voice_model_dir, audio, tmp_path, decoding):
    if name == "bench":
        base = ["bench", "--preset", "tiny", "--frames", "8", "--repeats", "1", "--warmup", "0"]
        return main([*base, "--quiet", *decoding])
    inputs = ["--model", str(voice_model_dir), "--content", str(audio / "content.wav")]
    inputs += ["--prompt", str(audio / "voice.wav"), "--prompt-seconds", "0.5", "--quiet"]
    if name == "generate":
        return main(["generate", *inputs, "--out", str(tmp_path / "o.wav"), *decoding])
    return main(["demo", *inputs, "--out-dir", str(tmp_path / "demo"), "--no-eval", *decoding])


@pytest.mark.parametrize("name", GENERATING)
def test_command_line_options_reach_decoding_unchanged(name, voice_model_dir, audio, tmp_path, spy):
    decoding = ["--steps", "3", "--temperature", "0.5", "--choice-temperature", "0.25"]
    assert _run(name, voice_model_dir, audio, tmp_path, decoding) == 0
    assert spy and all(seen == DecodeOptions(3, 0.5, 0.25) for seen in spy)


@pytest.mark.parametrize("name", GENERATING)
def test_a_new_decoding_field_needs_no_command_change(
    name, voice_model_dir, audio, tmp_path, spy, monkeypatch
):
    """A field added to ``DecodeOptions`` (here ``top_k``) becomes a flag of every generating
    command and arrives in ``generate_tokens`` with no edit outside ``decoding.py``."""
    field = dataclasses.field(default=None, metadata={"help": "keep the k best codes", "type": int})
    extended = dataclasses.make_dataclass(
        "DecodeOptions", [("top_k", "int | None", field)], bases=(DecodeOptions,), frozen=True
    )
    monkeypatch.setattr(options_module, "DecodeOptions", extended)
    assert "--top-k" in _flags(_parser(name))
    assert _run(name, voice_model_dir, audio, tmp_path, ["--steps", "2", "--top-k", "7"]) == 0
    assert spy and all(isinstance(seen, extended) and seen.top_k == 7 for seen in spy)
    assert all(seen.steps == 2 for seen in spy)


def test_demo_has_the_choice_temperature_it_lacked(voice_model_dir, audio, tmp_path, spy):
    args = ["--choice-temperature", "0", "--temperature", "0"]
    assert _run("demo", voice_model_dir, audio, tmp_path, args) == 0
    assert spy and all(seen == DecodeOptions(None, 0.0, 0.0) for seen in spy)
