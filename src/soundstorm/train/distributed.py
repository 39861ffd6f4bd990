"""Process groups and model wrapping: one process, DDP, or FSDP.

Launched by ``torchrun``, every process finds ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
the rendezvous address in its environment; ``init_distributed`` reads them through
``soundstorm.validation.distributed_env`` (NCCL on GPUs, Gloo on CPUs). Without them the run is a single process and nothing is initialised.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from soundstorm.errors import SoundStormError
from soundstorm.validation import distributed_env, resolve_device


@dataclass
class DistributedContext:
    """Where this process sits: ``rank`` of ``world_size``, on ``device``."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.is_distributed:
            dist.barrier()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks in place (no-op in a single process)."""
        if self.is_distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor


def init_distributed(device: str = "auto") -> DistributedContext:
    """Initialise the process group from torchrun's environment variables, if present.

    Args:
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.

    Returns:
        The context; ``device`` is ``cuda:LOCAL_RANK`` on GPUs.
    """
    try:
        use_cuda = resolve_device(device).type == "cuda"
    except SoundStormError as error:  # e.g. "CUDA is not available on this machine (...)"
        raise SoundStormError(f"run.device={device}: {error}") from None
    rank, world_size, local_rank = distributed_env()
    torch_device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(torch_device)
    initialized_here = False
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        try:  # device_id (torch >= 2.3) binds NCCL to this rank's GPU eagerly
            kwargs = {"device_id": torch_device} if use_cuda else {}
            dist.init_process_group(backend=backend, **kwargs)
        except TypeError:
            dist.init_process_group(backend=backend)
        initialized_here = True
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistributedContext(rank, local_rank, world_size, torch_device, initialized_here)


def destroy_distributed(context: DistributedContext) -> None:
    """Tear down the process group if ``init_distributed`` created it."""
    if context.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def _block_lists(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks of ``model``: the elements of its largest ``ModuleList``."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        return []
    largest = max(lists, key=lambda m: sum(p.numel() for p in m.parameters()))
    return list(largest)


def wrap_model(objective: nn.Module, strategy: str, context: DistributedContext) -> nn.Module:
    """Wrap the training module for data parallelism.

    Args:
        objective: the module whose ``forward`` computes the loss; ``objective.model`` is the
            SoundStorm model.
        strategy: ``ddp`` or ``fsdp`` (single process: returned unchanged).
        context: the process group.

    Returns:
        DDP: a ``DistributedDataParallel`` around ``objective``. FSDP: ``objective`` itself,
        whose model's blocks and the model are ``fully_shard``-ed in place (so that
        ``objective.model.generate`` also works, called on every rank).
    """
    if not context.is_distributed:
        return objective
    if strategy == "ddp":
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(objective, device_ids=device_ids)
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for block in _block_lists(objective.model):
            fully_shard(block)
        fully_shard(objective.model)
        return objective
    raise SoundStormError(f"unknown run.strategy {strategy!r}")


def no_gradient_sync(wrapped: nn.Module, strategy: str, context: DistributedContext):
    """Context manager that skips the gradient reduction (accumulation micro-batches)."""
    if not context.is_distributed:
        return contextlib.nullcontext()
    if strategy == "ddp":
        return wrapped.no_sync()

    @contextlib.contextmanager
    def fsdp_no_sync():
        wrapped.model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            wrapped.model.set_requires_gradient_sync(True)

    return fsdp_no_sync()
