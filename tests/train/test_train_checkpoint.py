"""Checkpoint discovery, RNG state round trips, and checkpoints without pickle: legacy files
read with weights_only, pickle payloads never executed, damaged files refused clearly."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from train_fixtures import synthetic_tokens, tiny_train_config

from soundstorm.checksums import seal_json, sha256_file
from soundstorm.errors import SoundStormError
from soundstorm.train import state_files
from soundstorm.train.checkpoint import (
    find_resume_checkpoint,
    list_checkpoints,
    rng_state,
    set_rng_state,
)
from soundstorm.train.recipe import TrainRecipe
from soundstorm.train.state_files import read_rng_state, write_rng_state


def make_checkpoint(root, step: int, complete: bool = True):
    path = root / "checkpoints" / (f"step_{step:08d}" if complete else f".tmp_step_{step:08d}")
    path.mkdir(parents=True)
    (path / "trainer.pt").write_bytes(b"")
    return path


def test_resume_modes(tmp_path, monkeypatch):
    from soundstorm.train import checkpoint

    monkeypatch.setattr(checkpoint, "verify_checkpoint", lambda path: None)  # empty files here
    assert find_resume_checkpoint(tmp_path, "auto") is None
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        find_resume_checkpoint(tmp_path, "latest")
    make_checkpoint(tmp_path, 20)
    newest = make_checkpoint(tmp_path, 100)
    make_checkpoint(tmp_path, 300, complete=False)  # an interrupted write is ignored
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000020", "step_00000100"]
    assert find_resume_checkpoint(tmp_path, "auto") == newest
    assert find_resume_checkpoint(tmp_path, "latest") == newest
    assert find_resume_checkpoint(tmp_path, "never") is None
    older = tmp_path / "checkpoints" / "step_00000020"
    assert find_resume_checkpoint(tmp_path, str(older)) == older
    with pytest.raises(FileNotFoundError, match="not a training checkpoint"):
        find_resume_checkpoint(tmp_path, str(tmp_path))


def test_rng_state_round_trip():
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    state = rng_state()
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0])
    assert np.array_equal(first[1], again[1]) and first[2] == again[2]


# ---------------------------------------------------------------- pickle-free state files
def test_rng_state_file_round_trip_is_exact(tmp_path):
    np.random.seed(7)
    np.random.standard_normal()  # leaves a cached gaussian (has_gauss=1)
    random.seed(8)
    random.gauss(0.0, 1.0)  # leaves gauss_next set
    state = rng_state()
    write_rng_state(tmp_path / "rank.json", state)
    loaded = read_rng_state(tmp_path / "rank.json")
    assert torch.equal(loaded["torch"], state["torch"])
    assert loaded["python"] == state["python"]
    kind, key, *rest = state["numpy"]
    assert loaded["numpy"][0] == kind and np.array_equal(loaded["numpy"][1], key)
    assert list(loaded["numpy"][2:]) == rest
    first = (np.random.standard_normal(4), random.gauss(0.0, 1.0), torch.rand(2))
    set_rng_state(loaded)
    again = (np.random.standard_normal(4), random.gauss(0.0, 1.0), torch.rand(2))
    assert np.array_equal(first[0], again[0]) and first[1] == again[1]
    assert torch.equal(first[2], again[2])


def tiny_run(output_dir, items, *overrides: str) -> TrainRecipe:
    recipe = TrainRecipe(tiny_train_config(output_dir, *overrides), items)
    recipe.setup()
    try:
        recipe.train()
    finally:
        recipe.cleanup()
    return recipe


def resume_setup(output_dir, items, checkpoint) -> TrainRecipe:
    """Set up a run that resumes from ``checkpoint`` (the caller cleans up)."""
    recipe = TrainRecipe(tiny_train_config(output_dir, f"run.resume={checkpoint}"), items)
    try:
        recipe.setup()
    finally:
        recipe.cleanup()
    return recipe


@pytest.fixture
def saved_checkpoint(tmp_path):
    """A tiny run stopped at step 2: ``(items, checkpoint dir)``."""
    items = synthetic_tokens(12, seed=4)
    tiny_run(tmp_path / "run", items, "run.max_steps=2")
    return items, list_checkpoints(tmp_path / "run")[-1]


def test_checkpoint_files_hold_no_pickle(saved_checkpoint):
    _, path = saved_checkpoint
    names = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
    assert "trainer.json" in names and "optimizer.safetensors" in names
    assert "rng/rank_00000.json" in names
    assert not [n for n in names if n.endswith((".pt", ".pkl", ".bin"))]
    trainer = json.loads((path / "trainer.json").read_text())
    assert trainer["progress"]["step"] == 2
    assert trainer["optimizer"]["param_groups"][0]["params"][0].startswith("model.")


def test_legacy_checkpoint_resumes_exactly_with_weights_only(tmp_path):
    """A checkpoint of the torch.save format (trainer.pt, rng/rank_*.pt) still resumes, read
    with torch.load(weights_only=True), and ends bit-identical to a straight run."""
    items = synthetic_tokens(16, seed=6)
    common = ["optim.total_steps=6", "model.dropout=0.1", "data.batch_size=3"]
    straight = tiny_run(tmp_path / "straight", items, *common)
    tiny_run(tmp_path / "split", items, *common, "run.max_steps=3")
    path = list_checkpoints(tmp_path / "split")[-1]
    torch.save(state_files.read_trainer_state(path), path / "trainer.pt")
    torch.save(read_rng_state(path / "rng" / "rank_00000.json"), path / "rng" / "rank_00000.pt")
    for name in ("trainer.json", "optimizer.safetensors", "rng/rank_00000.json"):
        (path / name).unlink()
    resumed = tiny_run(tmp_path / "split", items, *common)
    assert resumed.progress.step == 6
    for name, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name


class _Payload:
    """Unpickling this creates the file ``marker`` (what an attacker's code could do)."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("target", ["trainer", "rng"])
def test_pickle_payload_in_a_checkpoint_is_never_executed(tmp_path, saved_checkpoint, target):
    items, path = saved_checkpoint
    marker = tmp_path / "pwned"
    if target == "trainer":  # an old-format checkpoint whose trainer.pt carries the payload
        trainer = state_files.read_trainer_state(path)
        trainer["progress"] = _Payload(marker)
        (path / "trainer.json").unlink()
        torch.save(trainer, path / "trainer.pt")
        bad = path / "trainer.pt"
    else:
        (path / "rng" / "rank_00000.json").unlink()
        bad = path / "rng" / "rank_00000.pt"
        torch.save({"torch": torch.get_rng_state(), "numpy": _Payload(marker)}, bad)
    with pytest.raises(SoundStormError, match=r"refused or unreadable legacy checkpoint") as info:
        resume_setup(tmp_path / "victim", items, path)
    assert "\n" not in str(info.value) and str(bad) in str(info.value)
    assert not marker.exists()
    torch.load(bad, weights_only=False)  # the payload is real: unpickling runs it
    assert marker.exists()


def test_damaged_checkpoint_files_give_one_line_errors(tmp_path, saved_checkpoint):
    items, path = saved_checkpoint
    pristine = tmp_path / "pristine"
    shutil.copytree(path, pristine)

    def damage(name: str, edit) -> str:
        shutil.rmtree(path)
        shutil.copytree(pristine, path)
        target = path / name
        edit(target)
        with pytest.raises(SoundStormError) as info:
            resume_setup(tmp_path / "victim", items, path)
        message = str(info.value)
        assert "\n" not in message and name.split("/")[-1] in message
        return message

    def truncate(target):
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])

    def flip(target):
        data = bytearray(target.read_bytes())
        data[-5] ^= 0xFF
        target.write_bytes(bytes(data))

    assert "damaged JSON" in damage("trainer.json", truncate)
    assert "checksum does not match" in damage("optimizer.safetensors", flip)
    assert "checksum does not match" in damage("optimizer.safetensors", truncate)
    assert "damaged JSON" in damage("rng/rank_00000.json", truncate)
    assert "is damaged" in damage("model/model.safetensors", truncate)
    assert "is damaged" in damage("model/model.safetensors", flip)  # a value, still in range

    def edited(target):  # a valid number changed: only the checksum can tell
        data = json.loads(target.read_text())
        data["progress"]["step"] += 1
        target.write_text(json.dumps(data))

    assert "is damaged" in damage("trainer.json", edited)

    def wrong_rng(target):  # consistent (re-sealed) but malformed
        data = json.loads(target.read_text())
        data["numpy"]["key"] = data["numpy"]["key"][:10]
        target.write_text(json.dumps(seal_json(data)))

    assert "not a valid RNG state" in damage("rng/rank_00000.json", wrong_rng)

    def newer(target):
        data = json.loads(target.read_text())
        data["format"] = 99
        target.write_text(json.dumps(data))

    assert "newer than this soundstorm reads" in damage("trainer.json", newer)

    def consistent_but_wrong(target):  # valid safetensors + checksum, wrong tensor names
        save_file({"weird": torch.zeros(2)}, str(target))
        trainer = json.loads((path / "trainer.json").read_text())
        trainer["optimizer"]["sha256"] = sha256_file(target)
        (path / "trainer.json").write_text(json.dumps(seal_json(trainer)))

    assert "unexpected tensor name" in damage("optimizer.safetensors", consistent_but_wrong)


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_intact_one(tmp_path, caplog):
    items = synthetic_tokens(12, seed=4)
    run = tmp_path / "run"
    tiny_run(run, items, "run.max_steps=4", "run.checkpoint_every=2", "run.keep_last=3")
    names = [p.name for p in (run / "checkpoints").iterdir()]
    assert sorted(names) == ["step_00000002", "step_00000004"]
    latest = run / "checkpoints" / "step_00000004"
    weights = latest / "model" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # a low mantissa bit: a valid float, a different weight
    weights.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="soundstorm.train"):
        recipe = TrainRecipe(tiny_train_config(run, "run.max_steps=4"), items)
        try:
            recipe.setup()
            assert recipe.progress.step == 2, "resumed from the intact checkpoint before it"
        finally:
            recipe.cleanup()
    warning = next(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert str(latest) in warning and "damaged" in warning
    assert (run / "checkpoints" / "step_00000004.damaged").is_dir(), "set aside, not exported"
    for path in (run / "checkpoints" / "step_00000002").rglob("*"):  # all damaged: refused
        if path.name == "model.safetensors":
            path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(SoundStormError, match="every checkpoint .* is damaged.*--no-resume"):
        resume_setup(run, items, "latest")


def test_a_run_directory_is_locked_and_swept_of_a_killed_run_s_temporaries(tmp_path):
    from soundstorm.errors import FolderInUseError
    from soundstorm.files import folder_lock

    items = synthetic_tokens(12, seed=4)
    run = tmp_path / "run"
    leftovers = [run / "checkpoints" / ".tmp_step_00000002", run / ".tmpAbC123"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a checkpoint")
    with folder_lock(run, "soundstorm train"):
        with pytest.raises(FolderInUseError, match="soundstorm train"):
            tiny_run(run, items, "run.max_steps=1")
    assert all(path.exists() for path in leftovers), "a refused run touches nothing"
    tiny_run(run, items, "run.max_steps=1")
    assert not any(path.exists() for path in leftovers)
    assert not (run / ".soundstorm.lock").exists()


def test_a_run_killed_before_its_checkpoint_rename_resumes_exactly(tmp_path):
    import os
    import subprocess
    import sys
    import textwrap

    from safetensors.torch import load_file

    from soundstorm.files import KILL_POINT_ENV

    items = synthetic_tokens(12, seed=4)
    steps = ("run.max_steps=4", "run.checkpoint_every=2")
    tiny_run(tmp_path / "straight", items, *steps)
    run = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from train_fixtures import synthetic_tokens, tiny_train_config
        from soundstorm.train.recipe import TrainRecipe
        recipe = TrainRecipe(tiny_train_config({str(run)!r}, *{steps!r}), synthetic_tokens(12, seed=4))
        recipe.setup()
        recipe.train()
    """)
    env = {**os.environ, KILL_POINT_ENV: "step_00000004", "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, "-c", script], env=env, timeout=300)
    assert killed.returncode == -9, "killed by SIGKILL just before the rename"
    assert (run / "checkpoints" / ".tmp_step_00000004").is_dir()
    assert (run / ".soundstorm.lock").is_file(), "the dead run's lock file is left"
    resumed = TrainRecipe(tiny_train_config(run, *steps), items)
    try:
        resumed.setup()
        assert resumed.progress.step == 2
        resumed.train()
    finally:
        resumed.cleanup()
    assert not (run / "checkpoints" / ".tmp_step_00000004").exists(), "swept"
    final = "checkpoints/step_00000004/model/model.safetensors"
    expected, got = load_file(tmp_path / "straight" / final), load_file(run / final)
    assert all(torch.equal(expected[name], got[name]) for name in expected)
