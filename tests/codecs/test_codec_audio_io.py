"""Audio I/O: load/save round trips, resampling, mono mix-down and clear errors."""

from __future__ import annotations

import math

import pytest
import torch

from soundstorm.audio import load_audio, resample, save_audio, to_mono
from soundstorm.errors import SoundStormError


def tone(frequency: float, seconds: float, sample_rate: int) -> torch.Tensor:
    time = torch.arange(int(seconds * sample_rate)) / sample_rate
    return 0.5 * torch.sin(2 * math.pi * frequency * time)


def test_save_load_round_trip_keeps_channels_and_samples(tmp_path):
    stereo = torch.stack([tone(440, 0.5, 16000), tone(660, 0.5, 16000)])  # (2, S)
    path = tmp_path / "out" / "stereo.wav"
    save_audio(path, stereo, 16000)
    loaded, rate = load_audio(path, mono=False)
    assert rate == 16000
    assert loaded.shape == stereo.shape
    assert (loaded - stereo).abs().max() < 1e-3  # 16-bit quantization
    assert [p.name for p in path.parent.iterdir()] == ["stereo.wav"]  # no temp file left


def test_load_mixes_to_mono_and_resamples(tmp_path):
    stereo = torch.stack([tone(300, 1.0, 24000), -0.5 * tone(300, 1.0, 24000)])
    save_audio(tmp_path / "a.flac", stereo, 24000)
    mono, rate = load_audio(tmp_path / "a.flac", sample_rate=16000)
    assert rate == 16000 and mono.shape == (1, 16000)
    expected = 0.25 * tone(300, 1.0, 16000)
    assert (mono[0, 100:-100] - expected[100:-100]).abs().max() < 1e-2


def test_resample_keeps_leading_dims_and_frequency():
    wav = torch.stack([tone(1000, 1.0, 44100), tone(2000, 1.0, 44100)])[None]  # (1, 2, S)
    out = resample(wav, 44100, 16000)
    assert out.shape == (1, 2, 16000)
    spectrum = torch.fft.rfft(out[0, 0]).abs()  # 1 Hz bins
    assert int(spectrum.argmax()) == 1000
    assert resample(wav, 16000, 16000) is wav


def test_to_mono_averages_channels():
    wav = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # (1, 2, 2)
    assert torch.equal(to_mono(wav), torch.tensor([[[2.0, 3.0]]]))
    assert to_mono(wav[0]).shape == (1, 2)


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(SoundStormError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(SoundStormError, match="cannot read"):
        load_audio(garbage)
    save_audio(tmp_path / "empty.wav", torch.zeros(1, 0), 16000)
    with pytest.raises(SoundStormError, match="no samples"):
        load_audio(tmp_path / "empty.wav")


def test_save_rejects_bad_shape(tmp_path):
    with pytest.raises(SoundStormError):
        save_audio(tmp_path / "x.wav", torch.zeros(1, 1, 10), 16000)
    assert not list(tmp_path.iterdir())


def test_saved_audio_has_the_usual_file_mode(tmp_path):
    import os

    from soundstorm.audio import save_audio

    path = tmp_path / "x.wav"
    save_audio(path, torch.zeros(1, 160), 16000)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_unusable_files_give_one_line_errors_naming_the_file(tmp_path):
    import numpy as np
    import soundfile

    from soundstorm.errors import AudioInputError

    cases = {}
    cases["folder.wav"] = "is a folder"
    (tmp_path / "folder.wav").mkdir()
    header = tmp_path / "header_only.wav"
    soundfile.write(str(header), np.zeros(0, np.float32), 16000)
    cases["header_only.wav"] = "holds no samples"
    full = tmp_path / "full.wav"
    soundfile.write(str(full), np.zeros(1600, np.float32), 16000)
    (tmp_path / "cut.wav").write_bytes(full.read_bytes()[:30])  # the header cut short
    cases["cut.wav"] = "cannot read audio file"
    (tmp_path / "text.flac").write_text("no audio here\nat all\n")
    cases["text.flac"] = "cannot read audio file"
    for name, value in (("nan.wav", np.nan), ("inf.wav", np.inf)):
        soundfile.write(str(tmp_path / name), np.full(800, value, np.float32), 16000, "FLOAT")
        cases[name] = "NaN or infinite"
    for name, expected in cases.items():
        with pytest.raises(SoundStormError) as caught:
            load_audio(tmp_path / name)
        message = str(caught.value)
        assert expected in message and name in message and "\n" not in message, message
        assert message.count(name) == 1, message  # libsndfile's own copy of the path is cut
    with pytest.raises(AudioInputError, match="header_only.wav: the file holds no samples"):
        load_audio(header)


def test_naming_audio_errors_prefixes_the_source_once():
    from soundstorm.audio import check_audio_samples, naming_audio_errors
    from soundstorm.errors import AudioTooShortError

    with pytest.raises(AudioTooShortError) as caught:
        with naming_audio_errors("outer.wav"), naming_audio_errors("x.wav"):
            check_audio_samples(torch.zeros(1, 160), 16000, 50.0)
    assert (
        str(caught.value) == "x.wav: audio is 10.0 ms long, shorter than one codec frame (20.0 ms)"
    )
    assert caught.value.source == "x.wav" and caught.value.__cause__ is None
    with pytest.raises(AudioTooShortError, match=r"^audio is 10\.0 ms .* semantic frame \(40\.0"):
        with naming_audio_errors(None):
            check_audio_samples(torch.zeros(1, 160), 16000, 25.0, "semantic frame")
    check_audio_samples(torch.zeros(1, 320), 16000, 50.0)  # exactly one frame: fine


def test_audio_errors_survive_pickling_for_worker_processes():
    import pickle

    from soundstorm.errors import AudioInputError, AudioTooShortError

    error = AudioTooShortError(0.01, 0.02).named("x.wav")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is AudioTooShortError and str(copy) == str(error)
    assert (copy.seconds, copy.frame_seconds, copy.source) == (0.01, 0.02, "x.wav")
    plain = pickle.loads(pickle.dumps(AudioInputError("bad")))
    assert str(plain) == "bad" and str(plain.named("y.wav")) == "y.wav: bad"


def test_spectrogram_db_is_relative_to_the_loudest_bin_and_floored():
    from soundstorm.audio import spectrogram_db

    t = torch.arange(8000) / 8000
    db = spectrogram_db(torch.sin(2 * math.pi * 1000 * t), n_fft=256, hop=64)
    assert db.shape == (129, 1 + 8000 // 64)
    assert float(db.max()) == 0.0 and float(db.min()) >= -80.0
    assert int(db.mean(dim=1).argmax()) == 32  # 1000 Hz / (8000 Hz / 256) = bin 32
    assert spectrogram_db(torch.zeros(10), n_fft=256, hop=64).shape == (129, 5)  # padded


def test_resample_array_keeps_dtype_and_layout_and_matches_the_tensor_resampler():
    import numpy as np

    from soundstorm.audio import resample_array

    wav = torch.randn(2, 3, 4410)
    out = resample_array(wav.numpy().astype(np.float64), 44100, 16000)
    assert out.dtype == np.float64 and out.shape == (2, 3, 1600)
    tensor_out = resample(wav, 44100, 16000)
    one = resample_array(wav[1, 2].numpy(), 44100, 16000)
    assert np.array_equal(tensor_out[1, 2].numpy(), one), "channels are resampled alone"
    assert resample_array(np.zeros((2, 0), np.float32), 8000, 16000).shape == (2, 0)
    with pytest.raises(SoundStormError, match="sample rates must be positive"):
        resample_array(wav.numpy(), 0, 16000)


def test_one_list_of_audio_suffixes():
    from soundstorm.audio import AUDIO_SUFFIXES, is_audio_file

    assert is_audio_file("a/B.FLAC") and is_audio_file("x.opus") and not is_audio_file("x.txt")
    assert all(s == s.lower() and s.startswith(".") for s in AUDIO_SUFFIXES)
