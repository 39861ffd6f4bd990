"""``soundstorm train``: train a SoundStorm model from a YAML config and overrides.

Examples::

    soundstorm train configs/tiny.yaml data.train_dir=shards/train optim.lr=1e-3
    torchrun --standalone --nproc_per_node 8 -m soundstorm train configs/paper.yaml \\
        data.train_dir=shards/train run.output_dir=runs/paper
    soundstorm train configs/paper.yaml data.train_dir=shards/train --max-steps 50  # benchmark
    soundstorm train configs/gpu.yaml data.train_dir=shards --max-minutes 6 export.dir=out/voice

Every option sets a config field (``--out-dir`` is ``run.output_dir``, ``--device`` is
``run.device``, ``--seed`` is ``run.seed``); the recipe is ``soundstorm.train.TrainRecipe``.
"""

from __future__ import annotations

import argparse
import logging
import signal

from soundstorm.commands.options import add_out_dir_argument
from soundstorm.train.config import load_train_config
from soundstorm.validation import distributed_env


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="CHECKPOINT",
        help="continue from the newest checkpoint of run.output_dir (or from CHECKPOINT); "
        "same as run.resume=latest|PATH (the default, run.resume=auto, also continues)",
    )
    parser.add_argument(
        "--no-resume", action="store_true", help="start from scratch (run.resume=never)"
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop at this global step (run.max_steps); the LR schedule is unchanged",
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="wall-clock budget of this run (run.max_minutes): stop after the step that ends "
        "past it, checkpoint (and export with export.dir=DIR)",
    )
    add_out_dir_argument(parser, "run directory (run.output_dir)", aliases=("--output-dir",))
    parser.add_argument(
        "--device",
        default=None,
        help="auto, cpu or cuda (run.device; under torchrun cuda means cuda:$LOCAL_RANK)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the data order, crops, masks and initialisation (run.seed)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (log.progress=false) and warnings only in the log",
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``soundstorm train``: options may come before or after the overrides."""
    parser.add_argument("config", nargs="?", help="YAML config file (see configs/)")
    parser.add_argument(
        "overrides",
        nargs=argparse.REMAINDER,
        metavar="KEY=VALUE",
        help="config overrides with dotted keys, e.g. optim.lr=3e-4 data.batch_size=16",
    )
    _add_options(parser)


def _split_options(args: argparse.Namespace) -> list[str]:
    """Parse the options mixed into the overrides; returns the overrides left."""
    late = argparse.ArgumentParser(prog="soundstorm train", add_help=False)
    _add_options(late)
    options, overrides = late.parse_known_args(list(args.overrides))
    for name, value in vars(options).items():
        if value is not None and value is not False:  # 0 (--seed 0) is a value
            setattr(args, name, value)
    if args.resume is not None and "=" in args.resume:  # "--resume key=value": not a path
        overrides.append(args.resume)
        args.resume = "latest"
    return overrides


def main(args: argparse.Namespace) -> int:
    """Run the recipe; returns the exit status."""
    import yaml

    overrides = _split_options(args)
    if args.config and "=" in args.config:  # only overrides, no file
        overrides.insert(0, args.config)
        args.config = None
    if args.resume is not None:
        overrides.append(f"run.resume={args.resume}")
    if args.no_resume:
        overrides.append("run.resume=never")
    if args.max_steps is not None:
        overrides.append(f"run.max_steps={args.max_steps}")
    if args.max_minutes is not None:
        overrides.append(f"run.max_minutes={args.max_minutes}")
    if args.out_dir is not None:
        overrides.append(f"run.output_dir={args.out_dir}")
    if args.device is not None:
        overrides.append(f"run.device={args.device}")
    if args.seed is not None:
        overrides.append(f"run.seed={args.seed}")
    if args.quiet:
        overrides.append("log.progress=false")
    config = load_train_config(args.config, overrides)
    if args.print_config:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0

    rank, _, _ = distributed_env()
    logging.basicConfig(
        level=logging.INFO if rank == 0 and not args.quiet else logging.WARNING,
        format=f"%(asctime)s [rank {rank}] %(message)s",
        datefmt="%H:%M:%S",
    )
    from soundstorm.train.recipe import TrainRecipe

    recipe = TrainRecipe(config)
    try:
        recipe.setup()
        recipe.train()
    finally:
        recipe.cleanup()
    if recipe.stop_reason == "sigterm":  # checkpointed, but not finished: say so to the caller
        return 128 + signal.SIGTERM
    return 0
