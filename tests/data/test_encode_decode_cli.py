"""``soundstorm encode`` / ``decode``: audio -> token file -> audio, with a fake codec."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from data_test_fakes import FakeEnergyCodec, FakeZeroCrossingTokenizer, write_tone

from soundstorm.cli import main as cli_main
from soundstorm.data import load_tokens
from soundstorm.data.token_files import decode_file, encode_files
from soundstorm.errors import SoundStormError


def encode(paths, output):
    return encode_files(
        paths, output, FakeEnergyCodec(), FakeZeroCrossingTokenizer(), "fake-energy", "fake-zcr"
    )


def test_encode_then_decode_round_trip(tmp_path):
    quiet = write_tone(tmp_path / "quiet.wav", 0.8, 200, seed=1)
    loud = write_tone(tmp_path / "loud.wav", 1.3, 300, seed=2)
    tokens = encode([quiet, loud], tmp_path / "pair.tokens")
    token_file = load_tokens(tokens)
    assert [u.id for u in token_file.utterances] == ["quiet", "loud"]
    assert token_file.header["codec_path"] == "fake-energy"
    assert [u.num_frames for u in token_file.utterances] == [40, 65]  # 50 frames/s
    written = decode_file(tokens, tmp_path / "decoded", codec=FakeEnergyCodec())
    assert [p.name for p in written] == ["quiet.wav", "loud.wav"]
    for path, utterance in zip(written, token_file.utterances):
        audio, rate = soundfile.read(str(path))
        assert rate == 8000 and len(audio) == utterance.num_frames * 160
    one = encode([quiet], tmp_path / "one.tokens")
    (path,) = decode_file(one, tmp_path / "one.wav", codec=FakeEnergyCodec(), levels=1)
    assert path == tmp_path / "one.wav" and soundfile.info(str(path)).frames == 40 * 160
    # the decoded amplitude follows the level-1 codes: louder frames decode louder
    audio, _ = soundfile.read(str(path))
    frame_rms = np.sqrt((audio.reshape(40, 160) ** 2).mean(1))
    codes = load_tokens(one).utterances[0].codes[0]
    assert np.corrcoef(frame_rms, codes)[0, 1] > 0.9


def test_decode_refuses_a_codec_that_does_not_match(tmp_path):
    tokens = encode([write_tone(tmp_path / "a.wav", 0.6, 250)], tmp_path / "a.tokens")
    with pytest.raises(SoundStormError, match="num_levels"):
        decode_file(tokens, tmp_path / "a.wav", codec=FakeEnergyCodec(num_levels=2))
    with pytest.raises(SoundStormError, match="--levels"):
        decode_file(tokens, tmp_path / "b.wav", codec=FakeEnergyCodec(), levels=5)
    assert not (tmp_path / "b.wav").exists()


def test_encode_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        encode([tmp_path / "absent.wav"], tmp_path / "x.tokens")
    a = write_tone(tmp_path / "one" / "same.wav", 0.6, 250)
    b = write_tone(tmp_path / "two" / "same.wav", 0.6, 350)
    with pytest.raises(SoundStormError, match="share the name"):
        encode([a, b], tmp_path / "x.tokens")
    (tmp_path / "bad.wav").write_text("not audio")
    with pytest.raises(SoundStormError, match="cannot read"):
        encode([tmp_path / "bad.wav"], tmp_path / "x.tokens")
    assert not (tmp_path / "x.tokens").exists()


def test_cli_errors_exit_2_with_one_line(tmp_path, capsys):
    codec = ["--codec", str(tmp_path / "codec.safetensors")]
    assert (
        cli_main(["encode", str(tmp_path / "absent.wav"), "-o", str(tmp_path / "x.tokens"), *codec])
        == 2
    )
    assert "absent.wav" in capsys.readouterr().err
    write_tone(tmp_path / "a.wav", 0.6, 250)
    assert (
        cli_main(["encode", str(tmp_path / "a.wav"), "-o", str(tmp_path / "x.tokens"), *codec]) == 2
    )
    assert capsys.readouterr().err.count("\n") == 1
    (tmp_path / "junk.tokens").write_bytes(b"junk" * 10)
    assert cli_main(["decode", str(tmp_path / "junk.tokens"), "-o", str(tmp_path / "x.wav")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "wrong magic" in error
    assert not (tmp_path / "x.tokens").exists() and not (tmp_path / "x.wav").exists()


def test_output_under_a_file_is_a_one_line_error(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SoundStormError, match="cannot create the folder"):
        encode([write_tone(tmp_path / "a.wav", 0.6, 250)], tmp_path / "a_file" / "x.tokens")
