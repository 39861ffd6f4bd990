"""Checkpoints that resume exactly, written atomically.

Layout of ``OUTPUT_DIR/checkpoints/step_00001000/``::

    model/               SoundStorm.save_pretrained: config.json + model.safetensors
    trainer.pt           optimizer, scheduler, progress (step, epoch, batch in epoch), config
    rng/rank_00000.pt    each rank's torch / CUDA / numpy / python RNG states

A checkpoint is first written to ``.tmp_step_00001000`` and renamed when complete, so a
crash never leaves a half-written ``step_*`` directory; older ones beyond ``keep_last`` are
then deleted. The optimizer state is stored with parameter names as keys (full, unsharded),
so a checkpoint of a DDP run can resume an FSDP run and the other way round.
"""

from __future__ import annotations

import random
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from soundstorm.errors import SoundStormError
from soundstorm.train.distributed import DistributedContext

CHECKPOINT_PATTERN = re.compile(r"^step_(\d{8})$")
TRAINER_STATE = "trainer.pt"


@dataclass
class TrainProgress:
    """Where training stands.

    Attributes:
        step: optimizer steps taken (including skipped non-finite ones).
        epoch: current data epoch.
        batch_in_epoch: global batches of ``epoch`` already consumed.
        nonfinite_streak: consecutive non-finite steps just before this point.
        examples_seen: utterances consumed since the start of training.
        frames_seen: real frames consumed since the start of training.
    """

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    nonfinite_streak: int = 0
    examples_seen: int = 0
    frames_seen: int = 0


def checkpoint_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = checkpoint_dir(output_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and CHECKPOINT_PATTERN.match(p.name)]
    return sorted(found, key=lambda p: p.name)


def find_resume_checkpoint(output_dir: str | Path, resume: str) -> Path | None:
    """The checkpoint to resume from according to ``run.resume``.

    Args:
        output_dir: the run directory.
        resume: ``auto`` (newest if any), ``never``, ``latest`` (newest; must exist) or a path.

    Raises:
        FileNotFoundError: ``latest`` without checkpoints, or a path that is not a checkpoint.
    """
    if resume == "never":
        return None
    if resume in ("auto", "latest"):
        found = list_checkpoints(output_dir)
        if not found and resume == "latest":
            raise FileNotFoundError(f"no checkpoint to resume from in {checkpoint_dir(output_dir)}")
        return found[-1] if found else None
    path = Path(resume)
    if not (path / TRAINER_STATE).is_file():
        raise FileNotFoundError(f"not a training checkpoint (no {TRAINER_STATE}): {path}")
    return path


def rng_state() -> dict[str, Any]:
    """This process's RNG states (torch CPU and CUDA, numpy global, python)."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _full_optimizer_state(objective: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_optimizer_state_dict(objective, optimizer, options=options)


def save_checkpoint(
    output_dir: str | Path,
    objective: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    progress: TrainProgress,
    extra: dict[str, Any],
    context: DistributedContext,
    sharded: bool,
    keep_last: int,
) -> Path:
    """Write a checkpoint of ``progress.step`` (collective: every rank must call it).

    Args:
        output_dir: run directory.
        objective: the training module; ``objective.model`` is the SoundStorm model.
        optimizer, scheduler: their states are saved.
        progress: the training position.
        extra: stored as is (the resolved config, the global batch size...).
        context: process group.
        sharded: parameters are FSDP-sharded (gathered to rank 0 first).
        keep_last: checkpoints kept after this one is written.

    Returns:
        The checkpoint directory.
    """
    root = checkpoint_dir(output_dir)
    final = root / f"step_{progress.step:08d}"
    tmp = root / f".tmp_{final.name}"
    if context.is_main:
        if tmp.exists():
            shutil.rmtree(tmp)
        (tmp / "rng").mkdir(parents=True)
    context.barrier()
    torch.save(rng_state(), tmp / "rng" / f"rank_{context.rank:05d}.pt")
    optimizer_state = _full_optimizer_state(objective, optimizer)
    if sharded:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        model_state = get_model_state_dict(objective.model, options=options)
    if context.is_main:
        model = objective.model
        if sharded:  # an unsharded copy on the CPU, in the training dtype
            model = type(model)(model.config)
            model.load_state_dict(model_state, assign=True)
        model.save_pretrained(tmp / "model")
        trainer = {
            "progress": asdict(progress),
            "optimizer": optimizer_state,
            "scheduler": scheduler.state_dict(),
            "world_size": context.world_size,
            **extra,
        }
        torch.save(trainer, tmp / TRAINER_STATE)
    context.barrier()
    if context.is_main:
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in list_checkpoints(output_dir)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    context.barrier()
    return final


def load_model_weights(path: str | Path, objective: nn.Module, sharded: bool) -> None:
    """Load ``path/model`` weights into ``objective.model`` (call after FSDP wrapping if
    ``sharded``, before DDP wrapping otherwise)."""
    from safetensors.torch import load_file

    from soundstorm.model import WEIGHTS_NAME

    weights = Path(path) / "model" / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"checkpoint has no model weights: {weights}")
    state = load_file(str(weights))
    if sharded:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(objective.model, state, options=StateDictOptions(full_state_dict=True))
        return
    missing, unexpected = objective.model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SoundStormError(
            f"checkpoint {path} does not match the model: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]} (was it trained with another model config?)"
        )


def load_trainer_state(
    path: str | Path,
    objective: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    context: DistributedContext,
) -> tuple[TrainProgress, dict[str, Any]]:
    """Restore optimizer, scheduler and this rank's RNG states.

    Returns:
        ``(progress, info)``: ``info`` holds ``world_size`` and the ``extra`` items saved.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    path = Path(path)
    trainer = torch.load(path / TRAINER_STATE, map_location="cpu", weights_only=False)
    set_optimizer_state_dict(
        objective, optimizer, trainer["optimizer"], options=StateDictOptions(full_state_dict=True)
    )
    scheduler.load_state_dict(trainer["scheduler"])
    rng_file = path / "rng" / f"rank_{context.rank:05d}.pt"
    if rng_file.is_file():
        set_rng_state(torch.load(rng_file, map_location="cpu", weights_only=False))
    info = {k: v for k, v in trainer.items() if k not in ("progress", "optimizer", "scheduler")}
    return TrainProgress(**trainer["progress"]), info
