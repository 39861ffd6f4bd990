"""The versioned token file: round trip and every check made on load."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from soundstorm.data import FORMAT_VERSION, TokenUtterance, load_tokens, save_tokens
from soundstorm.data.token_format import make_header, pack_utterances, utterance_records
from soundstorm.errors import SoundStormError

CODEC = {
    "name": "fake",
    "sample_rate": 8000,
    "frame_rate": 50.0,
    "num_levels": 3,
    "codebook_size": 1024,
}
SEMANTIC = {"name": "fake-sem", "frame_rate": 25.0, "vocab_size": 500}


def make_utterances(rng: np.random.Generator, lengths=(7, 0, 13)) -> list[TokenUtterance]:
    return [
        TokenUtterance(
            id=f"spk/utt{i}",
            codes=rng.integers(0, 1024, size=(3, t)).astype(np.uint16),
            semantic=rng.integers(0, 500, size=t).astype(np.int32),
            duration=t / 50.0,
            source=f"/audio/utt{i}.wav",
        )
        for i, t in enumerate(lengths)
    ]


def write_raw(path, header, codes, semantic, offsets) -> None:
    """A token file with arbitrary (possibly inconsistent) content."""
    save_file(
        {"codes": codes, "semantic": semantic, "offsets": offsets},
        str(path),
        metadata={"soundstorm": json.dumps(header)},
    )


def test_round_trip_keeps_codes_ids_and_metadata(tmp_path):
    utterances = make_utterances(np.random.default_rng(0))
    path = save_tokens(tmp_path / "a.tokens", utterances, CODEC, SEMANTIC, codec_path="/c.st")
    loaded = load_tokens(path)
    assert loaded.codec_config == CODEC and loaded.semantic_config == SEMANTIC
    assert loaded.header["version"] == FORMAT_VERSION
    assert loaded.header["codec_path"] == "/c.st"
    assert [u.id for u in loaded.utterances] == [u.id for u in utterances]
    for original, read in zip(utterances, loaded.utterances):
        assert read.codes.dtype == np.uint16 and read.codes.shape == original.codes.shape
        np.testing.assert_array_equal(read.codes, original.codes)
        np.testing.assert_array_equal(read.semantic, original.semantic)
        assert read.duration == pytest.approx(original.duration)
        assert read.source == original.source
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_newer_version_is_refused(tmp_path):
    utterances = make_utterances(np.random.default_rng(1))
    header = make_header(CODEC, SEMANTIC, utterance_records(utterances))
    header["version"] = FORMAT_VERSION + 1
    write_raw(tmp_path / "new.tokens", header, *pack_utterances(utterances, 3))
    with pytest.raises(SoundStormError, match="newer"):
        load_tokens(tmp_path / "new.tokens")


@pytest.mark.parametrize("content", [b"RIFF....WAVEfmt not tokens at all", b"", b"\xff" * 64])
def test_file_that_is_not_a_token_file_has_wrong_magic(tmp_path, content):
    path = tmp_path / "x.tokens"
    path.write_bytes(content)
    with pytest.raises(SoundStormError, match="wrong magic"):
        load_tokens(path)


def test_safetensors_without_soundstorm_header_has_wrong_magic(tmp_path):
    save_file({"codes": np.zeros((3, 2), np.uint16)}, str(tmp_path / "w.safetensors"))
    with pytest.raises(SoundStormError, match="wrong magic"):
        load_tokens(tmp_path / "w.safetensors")


def test_inconsistent_shapes_are_refused(tmp_path):
    utterances = make_utterances(np.random.default_rng(2))
    header = make_header(CODEC, SEMANTIC, utterance_records(utterances))
    codes, semantic, offsets = pack_utterances(utterances, 3)
    cases = {
        "semantic": (codes, semantic[:-1], offsets),
        "offsets": (codes, semantic, offsets[:-1]),
        "expected \\[3, T\\]": (codes[:2], semantic, offsets),
    }
    for message, arrays in cases.items():
        write_raw(tmp_path / "bad.tokens", header, *arrays)
        with pytest.raises(SoundStormError, match=message):
            load_tokens(tmp_path / "bad.tokens")
    shuffled = offsets.copy()
    shuffled[1], shuffled[2] = shuffled[2] + 1, shuffled[1]
    write_raw(tmp_path / "bad.tokens", header, codes, semantic, shuffled)
    with pytest.raises(SoundStormError, match="offsets"):
        load_tokens(tmp_path / "bad.tokens")


def test_ids_out_of_range_are_refused(tmp_path):
    utterances = make_utterances(np.random.default_rng(3))
    header = make_header(CODEC, SEMANTIC, utterance_records(utterances))
    codes, semantic, offsets = pack_utterances(utterances, 3)
    bad_codes = codes.copy()
    bad_codes[1, 4] = 1024
    write_raw(tmp_path / "c.tokens", header, bad_codes, semantic, offsets)
    with pytest.raises(SoundStormError, match="code 1024 out of range"):
        load_tokens(tmp_path / "c.tokens")
    for bad_id in (500, -1):
        bad_semantic = semantic.copy()
        bad_semantic[0] = bad_id
        write_raw(tmp_path / "s.tokens", header, codes, bad_semantic, offsets)
        with pytest.raises(SoundStormError, match=f"semantic id {bad_id} out of range"):
            load_tokens(tmp_path / "s.tokens")


def test_save_refuses_codes_and_ids_of_different_lengths(tmp_path):
    utterance = TokenUtterance("u", np.zeros((3, 5), np.uint16), np.zeros(4, np.int32), 0.1)
    with pytest.raises(SoundStormError, match="semantic ids for 5 frames"):
        save_tokens(tmp_path / "u.tokens", [utterance], CODEC, SEMANTIC)
    assert not list(tmp_path.iterdir())


def test_missing_config_keys_and_missing_file(tmp_path):
    with pytest.raises(SoundStormError, match="codebook_size"):
        make_header({"name": "x", "sample_rate": 1, "frame_rate": 1, "num_levels": 1}, SEMANTIC, [])
    with pytest.raises(FileNotFoundError):
        load_tokens(tmp_path / "absent.tokens")


def test_transposed_codes_round_trip(tmp_path):
    """Codecs often return codes as a transposed view ([T, Q] memory): kept in order."""
    frames_by_level = np.arange(24, dtype=np.uint16).reshape(8, 3)  # (T, Q) memory layout
    utterance = TokenUtterance("t", frames_by_level.T, np.arange(8, dtype=np.int32), 0.16)
    assert not utterance.codes.flags["C_CONTIGUOUS"]
    loaded = load_tokens(save_tokens(tmp_path / "t.tokens", [utterance], CODEC, SEMANTIC))
    np.testing.assert_array_equal(loaded.utterances[0].codes, frames_by_level.T)
