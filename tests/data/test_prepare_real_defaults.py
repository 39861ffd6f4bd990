"""``soundstorm prepare`` / ``encode`` / ``decode`` through the CLI with the real defaults:
the embedded codec fitted on the input (kept tiny: 2 levels x 16 codes) and the default
semantic tokenizer (Moonshine features + k-means, fitted on the input too)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch
from data_test_fakes import tree_bytes, write_corpus

from soundstorm.cli import main as cli_main
from soundstorm.data import TokenShardDataset, load_tokens
from soundstorm.data.prepare import STOP_AFTER_ENV, codec_file_digest

pytest.importorskip("pocketsphinx", reason="the default semantic tokenizer needs pocketsphinx")

TINY_CODEC = ["--num-levels", "2", "--codebook-size", "16", "--shard-size", "2", "--quiet"]


def test_prepare_encode_decode_with_default_codec_and_tokenizer(tmp_path, monkeypatch, capsys):
    paths = write_corpus(tmp_path / "wavs", num_files=4)
    out = tmp_path / "tokens"
    assert cli_main(["prepare", str(tmp_path / "wavs"), str(out), *TINY_CODEC]) == 0
    assert (out / "codec.safetensors").is_file()
    ds = TokenShardDataset(out)
    assert len(ds) == 4 and ds.meta["codec"]["name"] == "embedded"
    # the default semantic tokenizer: Moonshine features + k-means fitted here, recorded
    assert (out / "semantic_tokenizer" / "semantic_tokenizer.json").is_file()
    assert ds.meta["semantic"]["kind"] == "moonshine"
    assert ds.meta["semantic_path"] == str(out / "semantic_tokenizer")
    assert ds.meta["semantic_frame_rate"] == pytest.approx(125 / 3)
    assert 2 <= ds.meta["semantic_vocab_size"] <= 128  # lowered to fit 3 s of audio
    # the default embedded codec is version 2: HiFi-GAN features, 22.05 kHz / 256 = 86.13 Hz
    assert (ds.meta["num_levels"], ds.meta["codebook_size"]) == (2, 16)
    assert ds.meta["frame_rate"] == pytest.approx(22050 / 256)
    for i in range(len(ds)):
        item = ds[i]
        assert item["codes"].shape == (2, ds.lengths[i]) and item["codes"].max() < 16
        assert item["semantic"].shape == (ds.lengths[i],)
        assert item["semantic"].max() < ds.meta["semantic_vocab_size"]
        assert abs(ds.lengths[i] * 256 / 22050 - item["duration"]) <= 256 / 22050

    # killed after one shard (exit 130 like Ctrl-C), then resumed: the same bytes
    monkeypatch.setenv(STOP_AFTER_ENV, "1")
    assert (
        cli_main(["prepare", str(tmp_path / "wavs"), str(tmp_path / "again"), *TINY_CODEC]) == 130
    )
    monkeypatch.delenv(STOP_AFTER_ENV)
    assert cli_main(["prepare", str(tmp_path / "wavs"), str(tmp_path / "again"), *TINY_CODEC]) == 0
    resumed, reference = tree_bytes(tmp_path / "again"), tree_bytes(out)
    assert resumed.keys() == reference.keys()
    # the two runs fit their own codec: same tensors (safetensors orders metadata freely)
    assert codec_file_digest(tmp_path / "again" / "codec.safetensors") == codec_file_digest(
        out / "codec.safetensors"
    )
    skip = "codec.safetensors"
    assert {k: v for k, v in resumed.items() if not k.endswith(skip)} == {
        k: v for k, v in reference.items() if not k.endswith(skip)
    }

    tokens = tmp_path / "one.tokens"
    codec = str(out / "codec.safetensors")
    assert cli_main(["encode", str(paths[0]), "-o", str(tokens), "--codec", codec]) == 0
    (utterance,) = load_tokens(tokens).utterances
    np.testing.assert_array_equal(utterance.codes, ds[0]["codes"])  # utt_000 is the first id
    assert cli_main(["decode", str(tokens), "-o", str(tmp_path / "one.wav")]) == 0
    info = soundfile.info(str(tmp_path / "one.wav"))
    assert info.samplerate == 22050 and info.frames == utterance.num_frames * 256
    capsys.readouterr()


def test_prepare_fits_either_embedded_codec_version(tmp_path, capsys):
    """``--embedded-codec v1``: the 16 kHz log-mel codec (50 frames/s), decoded by ``soundstorm
    decode`` with Griffin-Lim; resuming with the other version is refused."""
    from soundstorm.codecs import get_codec

    write_corpus(tmp_path / "wavs", num_files=4)
    out = tmp_path / "v1"
    args = ["prepare", str(tmp_path / "wavs"), str(out), *TINY_CODEC]
    assert cli_main([*args, "--embedded-codec", "v1"]) == 0
    codec = get_codec(out / "codec.safetensors")
    assert (codec.config.format_version, codec.config.decoder) == (1, "griffin-lim")
    ds = TokenShardDataset(out)
    assert ds.meta["frame_rate"] == 50.0 and ds.meta["codec"]["sample_rate"] == 16000
    assert cli_main([*args, "--embedded-codec", "v2"]) == 2
    assert "codec_fit.embedded_codec: v1 before, v2 now" in capsys.readouterr().err
    tokens = tmp_path / "one.tokens"
    wav = sorted((tmp_path / "wavs").rglob("*.wav"))[0]
    assert (
        cli_main(["encode", str(wav), "-o", str(tokens), "--codec", str(out / "codec.safetensors")])
        == 0
    )
    assert cli_main(["decode", str(tokens), "-o", str(tmp_path / "one.wav")]) == 0
    info = soundfile.info(str(tmp_path / "one.wav"))
    (utterance,) = load_tokens(tokens).utterances
    assert info.samplerate == 16000 and info.frames == utterance.num_frames * 320
    capsys.readouterr()


def test_default_tokenizer_is_stateless(tmp_path):
    """Resumable, order-independent prepare needs ids that depend on the clip alone."""
    from soundstorm.audio import load_audio
    from soundstorm.data.encoding import load_semantic_tokenizer
    from soundstorm.data.inputs import list_inputs
    from soundstorm.data.semantic_fitting import fit_default_semantic_tokenizer

    paths = write_corpus(tmp_path / "wavs", num_files=4)
    clips = [load_audio(p) for p in paths]
    fit_default_semantic_tokenizer(list_inputs(tmp_path / "wavs"), tmp_path / "tok", 16)
    forward = load_semantic_tokenizer(str(tmp_path / "tok"))
    backward = load_semantic_tokenizer(str(tmp_path / "tok"))
    ids_forward = [forward.tokenize(wav[None], rate) for wav, rate in clips]
    ids_backward = [backward.tokenize(wav[None], rate) for wav, rate in clips[::-1]][::-1]
    for a, b in zip(ids_forward, ids_backward):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_two_ranks_in_parallel_processes(tmp_path):
    """Two concurrent ``prepare`` processes with RANK / WORLD_SIZE, as torchrun starts them:
    rank 1 waits for rank 0's fitted codec, rank 0 waits for rank 1's shards, then merges."""
    import os
    import subprocess
    import sys

    write_corpus(tmp_path / "wavs", num_files=8)
    command = [
        sys.executable,
        "-m",
        "soundstorm",
        "prepare",
        str(tmp_path / "wavs"),
        str(tmp_path / "out"),
        *TINY_CODEC,
    ]
    ranks = [
        subprocess.Popen(
            command,
            env={**os.environ, "RANK": str(r), "WORLD_SIZE": "2"},
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in (1, 0)
    ]
    for process in ranks:
        _, error = process.communicate(timeout=300)
        assert process.returncode == 0, error
    ds = TokenShardDataset(tmp_path / "out")
    assert sorted(ds.ids()) == sorted(f"spk_{'ab'[i % 2]}/utt_{i:03d}" for i in range(8))
    assert len(list((tmp_path / "out" / "shards").iterdir())) == 5  # 7 train / 2 + 1 valid
