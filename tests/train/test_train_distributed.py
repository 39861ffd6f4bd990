"""Two ranks on the CPU (Gloo): replicas stay identical and match one process on the same
global batch, with DDP and with FSDP (``fully_shard``, stopped and resumed half-way)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from train_fixtures import free_port, synthetic_tokens, tiny_train_config

from soundstorm import SoundStorm
from soundstorm.train.recipe import TrainRecipe

STRATEGIES = ("ddp", "fsdp")
COMMON = [
    "run.precision=fp64",  # float64: only the reduction order differs from one process
    "optim.total_steps=5",
    "optim.grad_accum=2",  # exercises no_sync / set_requires_gradient_sync
    "data.max_frames=24",
    "run.device=cpu",
]


def train_rank(rank: int, world_size: int, port: int, output_dir: str) -> None:
    """One rank: a DDP run, then an FSDP run; saves this rank's full weights of each."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
    )
    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # shared by both runs (the recipe leaves it alone)
    try:
        for strategy in STRATEGIES:
            overrides = [*COMMON, f"run.strategy={strategy}", "data.batch_size=2"]
            if strategy == "fsdp":  # stop at step 3 and resume: sharded checkpoint loading
                config = tiny_train_config(
                    f"{output_dir}/{strategy}", *overrides, "run.max_steps=3"
                )
                recipe = TrainRecipe(config, synthetic_tokens(24, seed=5))
                recipe.setup()
                recipe.train()
                recipe.cleanup()
            config = tiny_train_config(f"{output_dir}/{strategy}", *overrides)
            recipe = TrainRecipe(config, synthetic_tokens(24, seed=5))
            recipe.setup()
            assert recipe.progress.step == (3 if strategy == "fsdp" else 0)
            recipe.train()
            state = {
                k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone()
                for k, v in recipe.model.state_dict().items()
            }
            torch.save(state, f"{output_dir}/{strategy}_rank{rank}.pt")
            recipe.cleanup()
    finally:
        dist.destroy_process_group()


def test_two_ranks_match_one_process(tmp_path):
    mp.spawn(train_rank, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)

    single = TrainRecipe(
        tiny_train_config(tmp_path / "single", *COMMON, "data.batch_size=4"),
        synthetic_tokens(24, seed=5),
    )
    single.setup()
    single.train()
    single.cleanup()
    reference = single.model.state_dict()
    torch.manual_seed(0)
    initial = SoundStorm(single.config.model).double().state_dict()
    assert max(float((initial[k] - v).abs().max()) for k, v in reference.items()) > 1e-3

    for strategy in STRATEGIES:
        ranks = [torch.load(tmp_path / f"{strategy}_rank{r}.pt") for r in range(2)]
        assert ranks[0].keys() == reference.keys()
        for name, value in reference.items():
            assert torch.equal(ranks[0][name], ranks[1][name]), f"{strategy}: {name} differs"
            # float64; Adam's normalised first steps amplify reduction-order rounding to ~1e-9
            torch.testing.assert_close(
                ranks[0][name], value, rtol=1e-6, atol=1e-7, msg=f"{strategy}: {name}"
            )
        saved = tmp_path / strategy / "checkpoints" / "step_00000005" / "model"
        loaded = SoundStorm.from_pretrained(saved).double().state_dict()
        for name, value in ranks[0].items():
            assert torch.equal(loaded[name], value), f"{strategy}: saved {name} differs"
