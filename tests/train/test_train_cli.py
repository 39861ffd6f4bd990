"""``soundstorm train`` on token shards written to disk: run, resume, user errors."""

from __future__ import annotations

import pytest
import yaml
from train_fixtures import (
    CODEBOOK,
    COND_VOCAB,
    NUM_LEVELS,
    terminate_after_step,
    write_synthetic_shards,
)

from soundstorm.cli import main
from soundstorm.data.shards import SHARDS_DIRNAME
from soundstorm.train.checkpoint import list_checkpoints

CODEC = {
    "name": "fake",
    "sample_rate": 8000,
    "frame_rate": 50.0,
    "num_levels": NUM_LEVELS,
    "codebook_size": CODEBOOK,
}
SEMANTIC = {"name": "fake-sem", "frame_rate": 50.0, "vocab_size": COND_VOCAB}


@pytest.fixture
def shards(tmp_path):
    """A prepared directory with a train and a valid split of synthetic tokens."""
    return write_synthetic_shards(tmp_path / "tokens", CODEC, "absent-codec.safetensors")


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "train.yaml"
    config = {
        "model": {
            "preset": "tiny",
            "num_levels": NUM_LEVELS,
            "codebook_size": CODEBOOK,
            "cond_vocab_size": COND_VOCAB,
            "dim": 32,
            "heads": 2,
            "ff_dim": 64,
            "depth": 1,
        },
        "data": {"max_frames": 32, "batch_size": 4, "num_workers": 0},
        "optim": {"warmup_steps": 2, "total_steps": 6},
        "run": {"checkpoint_every": 100},
        "log": {
            "every": 2,
            "val_every": 2,
            "val_batches": 1,
            "generate_examples": 1,
            "generate_steps": [2, 1],
            "prompt_frames": 3,
            "codec": "auto",
            "progress": False,
        },
    }
    path.write_text("# soundstorm train train.yaml\n" + yaml.safe_dump(config))
    return path


def test_train_then_resume_from_the_command_line(tmp_path, shards, config_file):
    out = tmp_path / "run"
    args = ["train", str(config_file), f"data.train_dir={shards}", "--output-dir", str(out)]
    assert main([*args, "--max-steps", "4"]) == 0
    assert [p.name for p in list_checkpoints(out)] == ["step_00000004"]
    assert list((out / "tensorboard").iterdir())  # TensorBoard events were written
    saved = yaml.safe_load((out / "train_config.yaml").read_text())
    assert saved["run"]["max_steps"] == 4 and saved["data"]["train_dir"] == str(shards)
    assert main(args) == 0  # resume=auto continues to optim.total_steps
    assert [p.name for p in list_checkpoints(out)][-1] == "step_00000006"


def test_print_config_applies_overrides(capsys, config_file):
    assert main(["train", str(config_file), "optim.lr=0.01", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["optim"]["lr"] == 0.01 and printed["model"]["dim"] == 32


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["optim.lrate=1"], "unknown config key 'optim.lrate'"),
        (["model.codebook_size=8"], "codebook_size 16 > model.codebook_size 8"),
        (["data.train_split=test"], "no shard for split 'test'"),
        (["--resume"], "no checkpoint to resume from"),
    ],
)
def test_user_errors_exit_with_status_2(tmp_path, capsys, shards, config_file, extra, message):
    args = ["train", str(config_file), f"data.train_dir={shards}", f"run.output_dir={tmp_path}/x"]
    assert main(args + extra) == 2
    assert message in capsys.readouterr().err


def test_max_minutes_option_sets_the_budget(capsys, config_file):
    assert main(["train", str(config_file), "--max-minutes", "2.5", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["run"]["max_minutes"] == 2.5


def test_damaged_checkpoint_is_a_one_line_error(tmp_path, capsys, shards, config_file):
    out = tmp_path / "run"
    args = ["train", str(config_file), f"data.train_dir={shards}", "--output-dir", str(out)]
    assert main([*args, "--max-steps", "2", "log.val_every=0"]) == 0
    trainer = list_checkpoints(out)[-1] / "trainer.json"
    trainer.write_text(trainer.read_text()[:100])
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "damaged JSON" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("fault", ["full disk at the checkpoint", "read-only run directory"])
def test_a_full_disk_or_a_read_only_run_directory_is_one_line(
    tmp_path, shards, config_file, capsys, monkeypatch, fault
):
    import errno

    import soundstorm.files as files

    from tests.fault_injection import deny_writes

    out = tmp_path / "run"
    out.mkdir()
    if fault == "full disk at the checkpoint":
        real = files.fsync_path

        def fsync_path(path):
            if "model.safetensors" in str(path):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(path)

        monkeypatch.setattr(files, "fsync_path", fsync_path)
        expected = "model.safetensors: no space left on the device"
    else:
        deny_writes(monkeypatch, out)
        expected = f"{out}: permission denied"
    args = ["train", str(config_file), f"data.train_dir={shards}", "--output-dir", str(out)]
    assert main([*args, "--max-steps", "2", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error and expected in error, error
    assert not list(out.glob("checkpoints/step_*")), "no checkpoint half-written"


def test_a_damaged_shard_stops_training_before_it_starts(tmp_path, shards, config_file, capsys):
    codes = shards / SHARDS_DIRNAME / "train-00000" / "codes.npy"
    data = bytearray(codes.read_bytes())
    data[-2] ^= 0x01  # a code still in range
    codes.write_bytes(bytes(data))
    args = ["train", str(config_file), f"data.train_dir={shards}", "--output-dir", str(tmp_path)]
    assert main([*args, "--max-steps", "2", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "train-00000/codes.npy is damaged" in error
    assert "soundstorm prepare again" in error


def test_sigterm_exits_143_with_a_checkpoint_to_resume(
    tmp_path, shards, config_file, monkeypatch, voice_model_dir
):
    out = tmp_path / "run"
    args = ["train", str(config_file), f"data.train_dir={shards}", "--output-dir", str(out)]
    with monkeypatch.context() as patch:
        terminate_after_step(patch, 3)
        export = [f"export.dir={tmp_path / 'voice'}"]
        export.append(f"export.codec={voice_model_dir / 'codec.safetensors'}")
        assert main([*args, *export]) == 143
    assert [p.name for p in list_checkpoints(out)] == ["step_00000003"]
    assert not (tmp_path / "voice").exists()
    assert main(args) == 0  # resume=auto finishes the schedule
    assert [p.name for p in list_checkpoints(out)][-1] == "step_00000006"
