"""Tests of ``soundstorm semantic fit|tokenize`` (run through the module's own parser)."""

from __future__ import annotations

import argparse
import math

import pytest
import soundfile as sf
import torch

from soundstorm.commands.semantic import add_arguments, main
from soundstorm.errors import SoundStormError
from soundstorm.semantic import get_semantic_tokenizer

transformers = pytest.importorskip("transformers")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def _write_clips(folder, count: int, seconds: float, sample_rate: int) -> list[str]:
    folder.mkdir()
    paths = []
    for i in range(count):
        t = torch.arange(int(seconds * sample_rate)) / sample_rate
        f0 = 110 + 30 * i
        wav = 0.3 * torch.sin(2 * math.pi * f0 * t) * (0.6 + 0.4 * torch.sin(5 * t + i))
        path = folder / f"clip{i}.wav"
        sf.write(path, wav.numpy(), sample_rate)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def tiny_hubert(tmp_path_factory) -> str:
    torch.manual_seed(0)
    config = transformers.HubertConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    path = tmp_path_factory.mktemp("hubert")
    transformers.HubertModel(config).save_pretrained(path)
    return str(path)


def test_fit_then_tokenize(tiny_hubert, tmp_path, capsys) -> None:
    paths = _write_clips(tmp_path / "audio", count=3, seconds=0.8, sample_rate=22050)
    out = tmp_path / "tok"
    argv = ["fit", str(tmp_path / "audio"), str(out), "--model", tiny_hubert, "--layer", "1"]
    assert main(_parse([*argv, "--clusters", "6", "--max-seconds", "2.0"])) == 0
    assert "3 files" in capsys.readouterr().out
    tokenizer = get_semantic_tokenizer(out)
    assert tokenizer.vocab_size == 6 and tokenizer.layer == 1

    assert main(_parse(["tokenize", paths[0], "--tokenizer", str(out)])) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{paths[0]}: ")
    count = int(printed.split(": ")[1].split()[0])
    assert abs(count - 0.8 * 50) <= 2
    ids = [int(x) for x in printed.strip().split("Hz: ")[1].split()]
    assert len(ids) == count and all(0 <= i < 6 for i in ids)


def test_tokenize_with_the_default_prints_phones(tmp_path, capsys) -> None:
    paths = _write_clips(tmp_path / "audio", count=1, seconds=0.5, sample_rate=16000)
    assert main(_parse(["tokenize", paths[0], "--max-tokens", "5"])) == 0
    printed = capsys.readouterr().out
    assert "25 tokens at 50 Hz" in printed and printed.strip().endswith("...")


def test_user_errors(tiny_hubert, tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        main(_parse(["fit", str(tmp_path / "nothing"), str(tmp_path / "o"), "--model",
                     tiny_hubert, "--layer", "1"]))  # fmt: skip
    _write_clips(tmp_path / "audio", count=1, seconds=0.2, sample_rate=16000)
    with pytest.raises(SoundStormError, match="at least"):
        main(_parse(["fit", str(tmp_path / "audio"), str(tmp_path / "o"), "--model",
                     tiny_hubert, "--layer", "1", "--clusters", "100"]))  # fmt: skip
    with pytest.raises(SoundStormError, match="unknown semantic tokenizer"):
        main(_parse(["tokenize", "x.wav", "--tokenizer", "nope"]))
