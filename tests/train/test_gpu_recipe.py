"""``scripts/gpu_recipe`` end to end on the CPU: tiny token shards, a few-second budget, the
returned files (<= 8, split parts), unpacking with checksums, and a model that loads.

The recipe runs with soundfile, soxr, pocketsphinx and resemblyzer made unimportable, as on
the lent GPU machine, so an import of them on the training and export path fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from train_fixtures import (
    CODEBOOK,
    COND_VOCAB,
    EMBEDDED_CODEC,
    NUM_LEVELS,
    write_synthetic_shards,
)

from soundstorm.inference import load_pretrained

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "scripts" / "gpu_recipe"
SEMANTIC = {"name": "fake-sem", "frame_rate": 50.0, "vocab_size": COND_VOCAB}
BLOCKER = """
import importlib.abc, sys
BLOCKED = {"soundfile", "soxr", "pocketsphinx", "resemblyzer"}
class _NotOnTheGpuMachine(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed on the GPU machine")
        return None
sys.meta_path.insert(0, _NotOnTheGpuMachine())
"""
TINY = [
    "init.weights=null",  # configs/gpu.yaml warm-starts the shipped model: not this tiny one
    "model.preset=tiny",
    f"model.num_levels={NUM_LEVELS}",
    f"model.codebook_size={CODEBOOK}",
    f"model.cond_vocab_size={COND_VOCAB}",
    "model.dim=32",
    "model.heads=2",
    "model.ff_dim=64",
    "model.depth=1",
    "data.max_frames=32",
    "data.batch_size=4",
    "log.every=2",
    "log.val_every=4",
    "run.checkpoint_every=4",
]


def prepared_shards(root: Path, codec_file: Path) -> Path:
    """A ``soundstorm prepare``-like directory of synthetic tokens with its codec file."""
    root.mkdir(parents=True)
    shutil.copyfile(codec_file, root / "codec.safetensors")
    return write_synthetic_shards(
        root, EMBEDDED_CODEC, "codec.safetensors", counts=(16, 4), semantic=SEMANTIC
    )


def test_recipe_trains_exports_packs_and_unpacks(tmp_path, voice_model_dir):
    shards = prepared_shards(tmp_path / "tokens", voice_model_dir / "codec.safetensors")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(tmp_path / "site"), env.get("PYTHONPATH")])
    )
    out = tmp_path / "OUT"
    command = [sys.executable, str(RECIPE), "--shards", str(shards), "--out", str(out)]
    command += ["--work", str(tmp_path / "work"), "--device", "cpu", "--minutes", "0.05"]
    command += ["--deadline", "150", "--no-extras", "--steps", "4", "--part-mib", "0.06"]
    command += ["--wheels", str(tmp_path / "no_wheels")]
    command += [f"--set={item}" for item in TINY]
    command += ["--variant", "deeper=model.depth=2,optim.lr=1e-3"]  # side by side
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    summary = json.loads((out / "recipe.json").read_text())
    returned = sorted(p.name for p in out.iterdir())
    assert returned == sorted(summary["returned"]) and len(returned) <= 8
    parts = [p["name"] for p in summary["voice"]["parts"]]
    assert len(parts) >= 2 and all((out / n).stat().st_size <= 0.06 * 2**20 for n in parts)
    assert summary["steps"]["train"]["status"] == 0
    assert "time budget run.max_minutes" in summary["stopped"] or "schedule" in summary["stopped"]
    assert summary["smoke"]["codes_valid"] is True
    assert summary["environment"]["torch"] == torch.__version__
    curve = (out / "learning_curve.csv").read_text().splitlines()
    assert curve[0].startswith("step,seconds,frames") and len(curve) >= 2

    voice = tmp_path / "voice"
    unpack = [sys.executable, str(RECIPE), "--unpack", str(out), str(voice)]
    done = subprocess.run(unpack, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = {"codec.safetensors", "config.json", "model.safetensors", "pipeline.json"}
    assert {p.name for p in voice.iterdir()} >= expected
    assert json.loads((voice / "pipeline.json").read_text())["steps"] == 4
    assert (tmp_path / "voice.logs" / "logs" / "train.log").is_file()
    best = tmp_path / "work" / "run" / "best" / "model"  # configs/gpu.yaml: export.source=best
    assert best.is_dir() and "exporting the best validation" in summary["export"][0]
    trained = load_file(str(best / "model.safetensors"))
    shipped = load_file(str(voice / "model.safetensors"))
    assert all(torch.equal(shipped[k], v.half()) for k, v in trained.items())
    model = load_pretrained(voice)
    codes = model.generate(torch.zeros(1, 12, dtype=torch.long), steps=2)
    assert codes.shape == (1, NUM_LEVELS, 12)

    deeper = summary["variants"]["deeper"]
    assert deeper["overrides"] == ["model.depth=2", "optim.lr=1e-3"]
    assert summary["steps"]["train_deeper"]["status"] == 0 and deeper["smoke"]["codes_valid"]
    assert {p["name"] for p in deeper["voice"]["parts"]} <= set(returned)
    assert all(p["name"].startswith("deeper.tar.") for p in deeper["voice"]["parts"])
    assert deeper["learning_curve"]["rows"] >= 1
    done = subprocess.run(
        [*unpack[:-1], str(tmp_path / "deeper"), "--name", "deeper"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert load_pretrained(tmp_path / "deeper").config.depth == 2
    assert model.config.depth == 1
    done = subprocess.run([*unpack, "--name", "other"], capture_output=True, text=True)
    assert done.returncode == 1 and "no variant 'other'" in done.stdout

    damaged = out / parts[0]
    damaged.write_bytes(b"x" + damaged.read_bytes()[1:])
    done = subprocess.run([*unpack, "--force"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "sha256 mismatch" in done.stdout + done.stderr


def test_stage_builds_the_carried_shards_from_nothing(tmp_path):
    """``--stage``: a corpus, aligned phone tokens of the shipped codec kept to 4 levels, and
    only the train and valid shards staged; a carry over the device's limit stages nothing."""
    from soundstorm.data import TokenShardDataset

    stage = tmp_path / "staged"
    command = [
        sys.executable, str(RECIPE), "--stage", str(stage), "--data", str(tmp_path / "data"),
        "--sentences", "4", "--eval-sentences", "1", "--voices", "flite-awb,flite-slt,flite-rms",
        "--workers", "1", "--wheels", str(tmp_path / "no_wheels"),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--shards " + str(stage) in done.stdout
    assert sorted(p.name.split("-")[0] for p in (stage / "shards").iterdir()) == [
        "train",
        "valid",
    ]
    train = TokenShardDataset(stage, "train")
    assert train.meta["num_levels"] == 4 and train.meta["codec"]["codec_num_levels"] == 12
    assert (
        train.meta["semantic"]["name"] == "phones-words" and len(train) == 4
    )  # 2 sentences x 2 voices
    assert json.loads((stage / "prepare.json").read_text())["transcripts"] is True
    item = train[0]
    assert (
        item["codes"].shape[0] == 4 and item["semantic"].max() < train.meta["semantic_vocab_size"]
    )
    wheels = tmp_path / "big_wheels"
    wheels.mkdir()
    with open(wheels / "huge.whl", "wb") as handle:  # sparse: 70 MiB apparent, no disk
        handle.truncate(70 * 2**20)
    again = subprocess.run(
        [*command[:-2], "--wheels", str(wheels), "--stage", str(tmp_path / "too_big")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 2 and "over the device's 64 MiB" in again.stderr
    assert not (tmp_path / "too_big").exists() and not (tmp_path / ".too_big.tmp").exists()
