"""Checkpoints that resume exactly, written atomically.

Layout of ``OUTPUT_DIR/checkpoints/step_00001000/``::

    model/                 SoundStorm.save_pretrained: config.json + model.safetensors
    trainer.json           progress (step, epoch, batch in epoch...), scheduler, optimizer
                           hyper-parameters, config, and the checksum of:
    optimizer.safetensors  the optimizer's tensors, keyed by parameter name
    rng/rank_00000.json    each rank's torch / CUDA / numpy / python RNG states

A checkpoint is first written to ``.tmp_step_00001000`` and renamed when complete, so a
crash never leaves a half-written ``step_*`` directory; older ones beyond ``keep_last`` are
then deleted. The optimizer state is stored with parameter names as keys (full, unsharded),
so a checkpoint of a DDP run can resume an FSDP run and the other way round. Nothing is
pickled: see ``soundstorm.train.state_files`` (older ``trainer.pt`` checkpoints are read with
``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from soundstorm.checksums import check_safetensors
from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_directory, replace_directory
from soundstorm.train import state_files
from soundstorm.train.distributed import DistributedContext

CHECKPOINT_PATTERN = re.compile(r"^step_(\d{8})$")
TRAINER_STATE = state_files.TRAINER_JSON
TRAINER_FILES = (state_files.TRAINER_JSON, state_files.LEGACY_TRAINER)  # new, legacy
BEST_DIR, BEST_FILE = "best", "best.json"
logger = logging.getLogger("soundstorm.train")


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
        train_seconds: wall-clock seconds spent in ``TrainRecipe.train`` since the start of
            training, over all resumed runs (setup excluded).
    """

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    nonfinite_streak: int = 0
    examples_seen: int = 0
    frames_seen: int = 0
    train_seconds: float = 0.0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainProgress:
        """From a saved dict (fields unknown to this version are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def is_checkpoint(path: str | Path) -> bool:
    """A directory with a trainer state (this format or the legacy ``trainer.pt``)."""
    return any((Path(path) / name).is_file() for name in TRAINER_FILES)


def checkpoint_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = checkpoint_dir(output_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and CHECKPOINT_PATTERN.match(p.name)]
    found = [p for p in found if is_checkpoint(p)]
    return sorted(found, key=lambda p: p.name)


def verify_checkpoint(path: str | Path) -> None:
    """Check that every file of a checkpoint reads back as written, loading nothing big.

    Reads the model's ``config.json`` and its weights' SHA-256 (``soundstorm.checksums``),
    ``trainer.json`` (checksum, fields) and the SHA-256 of ``optimizer.safetensors``, and
    every rank's RNG state. Files written before checksums existed are read as they are.

    Raises:
        SoundStormError: a missing, damaged or malformed file (``DamagedFileError`` for a
            checksum mismatch), one line naming it.
    """
    from soundstorm.inference import read_model_config
    from soundstorm.model import WEIGHTS_NAME

    path = Path(path)
    weights = path / "model" / WEIGHTS_NAME
    if not weights.is_file():
        raise SoundStormError(f"{weights}: missing")
    read_model_config(path / "model" / "config.json")
    try:
        check_safetensors(weights)
    except OSError as error:
        raise SoundStormError(f"{weights}: unreadable ({error})") from None
    state_files.check_trainer_state(path)
    for rng_file in sorted((path / "rng").glob("rank_*.json")):
        state_files.read_rng_state(rng_file)


def _set_aside(path: Path) -> None:
    """Rename a damaged checkpoint ``step_N`` to ``step_N.damaged`` (kept for inspection,
    no longer listed: neither resumed from nor exported)."""
    target = path.with_name(f"{path.name}.damaged")
    for number in range(1, 100):
        if not target.exists():
            break
        target = path.with_name(f"{path.name}.damaged-{number}")
    try:
        path.rename(target)
    except OSError as error:
        logger.warning("could not set %s aside: %s", path, error)


def find_resume_checkpoint(
    output_dir: str | Path, resume: str, set_aside: bool = False
) -> Path | None:
    """The checkpoint to resume from according to ``run.resume``.

    With ``auto`` and ``latest`` the newest checkpoint that reads back intact is chosen
    (``verify_checkpoint``): a damaged newer one is passed over with a warning naming it
    (and, with ``set_aside``, renamed ``step_N.damaged`` so that it is neither resumed from
    nor exported again).

    Args:
        output_dir: the run directory.
        resume: ``auto`` (newest if any), ``never``, ``latest`` (newest; must exist) or a path.
        set_aside: rename damaged checkpoints (rank 0 only).

    Raises:
        FileNotFoundError: ``latest`` without checkpoints, or a path that is not a checkpoint.
        SoundStormError: every checkpoint is damaged (the newest's error, and what to do).
    """
    if resume == "never":
        return None
    if resume in ("auto", "latest"):
        found = list_checkpoints(output_dir)
        if not found and resume == "latest":
            raise FileNotFoundError(f"no checkpoint to resume from in {checkpoint_dir(output_dir)}")
        first_error = None
        for candidate in reversed(found):
            try:
                verify_checkpoint(candidate)
            except SoundStormError as error:
                first_error = first_error or error
                logger.warning(
                    "checkpoint %s is damaged (%s): resuming from the one before it",
                    candidate,
                    error,
                )
                if set_aside:
                    _set_aside(candidate)
                continue
            return candidate
        if first_error is not None:
            raise SoundStormError(
                f"every checkpoint in {checkpoint_dir(output_dir)} is damaged (newest: "
                f"{first_error}): pass --no-resume to start again"
            )
        return None
    path = Path(resume)
    if not is_checkpoint(path):
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
    state_files.write_rng_state(tmp / "rng" / f"rank_{context.rank:05d}.json", rng_state())
    optimizer_state = _full_optimizer_state(objective, optimizer)
    model = full_model(objective, sharded, context)
    if context.is_main:
        model.save_pretrained(tmp / "model")
        trainer = {
            "progress": asdict(progress),
            "optimizer": optimizer_state,
            "scheduler": scheduler.state_dict(),
            "world_size": context.world_size,
            **extra,
        }
        state_files.write_trainer_state(tmp, trainer)
    context.barrier()
    if context.is_main:
        replace_directory(tmp, final)  # flushed to disk, then renamed
        for old in list_checkpoints(output_dir)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    context.barrier()
    return final


def full_model(objective: nn.Module, sharded: bool, context: DistributedContext):
    """The whole model on rank 0 (None elsewhere): ``objective.model`` itself, or with FSDP
    an unsharded copy on the CPU in the training dtype (collective: every rank calls it)."""
    if sharded:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        state = get_model_state_dict(objective.model, options=options)
    if not context.is_main:
        return None
    model = objective.model
    if sharded:
        model = type(model)(model.config)
        model.load_state_dict(state, assign=True)
    return model


def save_best_model(
    output_dir: str | Path,
    objective: nn.Module,
    context: DistributedContext,
    sharded: bool,
    step: int,
    val_loss: float,
    record: dict[str, Any] | None = None,
) -> Path:
    """Keep the weights of the best validation so far: ``OUTPUT_DIR/best/model`` (a
    ``save_pretrained`` directory), ``best.json`` (``step``, ``val_loss``) and, given a
    ``record`` (``progress``, ``config``, ``global_batch`` at this step),
    ``trainer_record.json`` (``state_files.write_trainer_record``: the model card reads it);
    replaced atomically (collective: every rank calls it).

    Returns:
        ``OUTPUT_DIR/best``.
    """
    final = Path(output_dir) / BEST_DIR
    model = full_model(objective, sharded, context)
    if context.is_main:
        with atomic_directory(final) as temp:
            model.save_pretrained(temp / "model")
            (temp / BEST_FILE).write_text(json.dumps({"step": step, "val_loss": val_loss}) + "\n")
            if record is not None:
                state_files.write_trainer_record(temp, record)
    context.barrier()
    return final


def read_best(output_dir: str | Path) -> dict[str, Any] | None:
    """``{"step", "val_loss"}`` of ``OUTPUT_DIR/best`` (None if there is none or it is
    unreadable)."""
    path = Path(output_dir) / BEST_DIR / BEST_FILE
    try:
        best = json.loads(path.read_text())
        return {"step": int(best["step"]), "val_loss": float(best["val_loss"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_model_weights(path: str | Path, objective: nn.Module, sharded: bool) -> None:
    """Load ``path/model`` weights into ``objective.model`` (call after FSDP wrapping if
    ``sharded``, before DDP wrapping otherwise)."""
    from safetensors.torch import load_file

    from soundstorm.model import WEIGHTS_NAME

    weights = Path(path) / "model" / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"checkpoint has no model weights: {weights}")
    check_safetensors(weights)  # a flipped bit of a weight loads fine: its sha256 tells
    try:
        state = load_file(str(weights))
    except Exception as error:  # SafetensorError (header, truncation), OSError
        raise SoundStormError(f"{weights}: damaged safetensors file ({error})") from None
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
    """Restore optimizer, scheduler and this rank's RNG states (nothing is unpickled).

    Returns:
        ``(progress, info)``: ``info`` holds ``world_size`` and the ``extra`` items saved.

    Raises:
        SoundStormError: damaged, altered or malformed state files, or a state that does not
            fit the optimizer (another model config).
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    path = Path(path)
    trainer = state_files.read_trainer_state(path)
    rng_file = None
    for suffix in (".json", ".pt"):  # this format, then the legacy one
        candidate = path / "rng" / f"rank_{context.rank:05d}{suffix}"
        if candidate.is_file():
            rng_file = candidate
            break
    rng = state_files.read_rng_state(rng_file) if rng_file is not None else None
    try:
        progress = TrainProgress.from_dict(trainer["progress"])
        set_optimizer_state_dict(
            objective,
            optimizer,
            trainer["optimizer"],
            options=StateDictOptions(full_state_dict=True),
        )
        scheduler.load_state_dict(trainer["scheduler"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise SoundStormError(
            f"{path}: the trainer state does not fit this run's model and optimizer "
            f"({type(error).__name__}: {first})"
        ) from None
    if rng is not None:
        set_rng_state(rng)
    info = {k: v for k, v in trainer.items() if k not in ("progress", "optimizer", "scheduler")}
    return progress, info
