"""Flags shared by several commands, added by one helper each so they read the same everywhere.

- ``add_decoding_arguments`` / ``decode_options_from_args``: one flag per field of
  ``soundstorm.decoding.DecodeOptions`` (``--steps``, ``--temperature``,
  ``--choice-temperature``, and any field added later), for every command that generates
  (``generate``, ``demo``, ``bench``). The flags are derived from ``dataclasses.fields``, so a
  new decoding option reaches every command without an edit here.
- ``add_device_argument``: ``--device auto|cpu|cuda[:N]``, checked by
  ``soundstorm.validation.resolve_device`` (``resolve_rank_device`` under torchrun).
- ``add_quiet_argument``: ``--quiet``, no progress bars or summaries (``progress_disabled``).
- ``add_seed_argument``: ``--seed`` of commands that draw random numbers.
- ``add_out_argument`` / ``add_out_dir_argument``: ``--out FILE`` for one output file,
  ``--out-dir DIR`` for a folder, each keeping older spellings (``-o``, ``--output``) as aliases.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

from soundstorm.decoding import DecodeOptions


def flag_name(field_name: str) -> str:
    """The command-line flag of a ``DecodeOptions`` field: ``choice_temperature`` ->
    ``--choice-temperature``."""
    return "--" + field_name.replace("_", "-")


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per ``DecodeOptions`` field to ``parser`` (group "decoding").

    Each flag defaults to None ("not given"): ``decode_options_from_args`` then keeps the
    field's default (or, through ``VoicePipeline.recommended_options``, the model's).
    """
    group = parser.add_argument_group("decoding (SoundStorm §3.4)")
    for field in dataclasses.fields(DecodeOptions):
        group.add_argument(
            flag_name(field.name),
            dest=field.name,
            type=field.metadata.get("type", str),
            default=None,
            metavar=field.name.upper(),
            help=field.metadata.get("help"),
        )


def decode_options_from_args(
    args: argparse.Namespace, base: DecodeOptions | None = None
) -> DecodeOptions:
    """The ``DecodeOptions`` of the decoding flags given (the others keep ``base``'s values).

    Args:
        args: parsed arguments of a parser that went through ``add_decoding_arguments``.
        base: the options the flags modify (default ``DecodeOptions()``).

    Returns:
        The options, validated.

    Raises:
        ValueError: a bad value, named by its flag (``"--steps must be an integer >= 1, got
            0"``): the command line prints it as one line with exit status 2.
    """
    given = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(DecodeOptions)
        if getattr(args, field.name, None) is not None
    }
    try:
        return (base or DecodeOptions()).replace(**given)
    except ValueError as error:
        raise ValueError(_with_flag_names(str(error))) from None


def schedule_text(steps: tuple[int, ...]) -> str:
    """``(16, 1, ..., 1)`` -> ``"16+11x1"``; any other schedule -> ``"6+2+1+1"``."""
    if all(s == 1 for s in steps[1:]):
        return f"{steps[0]}+{len(steps) - 1}x1"
    return "+".join(map(str, steps))


def _with_flag_names(message: str) -> str:
    """``"steps must be ..."`` -> ``"--steps must be ..."`` (the longest field name first)."""
    names = sorted((f.name for f in dataclasses.fields(DecodeOptions)), key=len, reverse=True)
    for name in names:
        if message.startswith(name) and not message[len(name) : len(name) + 1].isalnum():
            return flag_name(name) + message[len(name) :]
    return message


def add_device_argument(
    parser: argparse.ArgumentParser, default: str = "auto", what: str = "the model"
) -> None:
    """``--device``: where ``what`` runs (``auto``: CUDA when available, else the CPU)."""
    parser.add_argument(
        "--device",
        default=default,
        help=f"device of {what}: auto, cpu, cuda or cuda:N (under torchrun cuda means "
        f"cuda:$LOCAL_RANK; default: %(default)s)",
    )


def add_quiet_argument(parser: argparse.ArgumentParser, *aliases: str) -> None:
    """``--quiet`` (and ``aliases``, e.g. ``--no-progress``): no progress bars or summaries."""
    parser.add_argument(
        "--quiet", *aliases, dest="quiet", action="store_true", help="no progress bars or summary"
    )


def progress_disabled(args: argparse.Namespace) -> bool | None:
    """The ``disable`` argument of a tqdm bar: True with ``--quiet``, else None (tqdm then
    shows the bar on a terminal only)."""
    return True if getattr(args, "quiet", False) else None


def add_seed_argument(parser: argparse.ArgumentParser, what: str = "sampling") -> None:
    """``--seed``: the random seed of ``what`` (default 0: runs are reproducible)."""
    parser.add_argument(
        "--seed", type=int, default=0, help=f"random seed of {what} (default: %(default)s)"
    )


def add_out_argument(
    parser: argparse.ArgumentParser,
    help_text: str,
    *,
    required: bool = False,
    aliases: Sequence[str] = (),
    metavar: str = "FILE",
) -> None:
    """``--out FILE``: the one file a command writes (``aliases``: older spellings)."""
    parser.add_argument(
        "--out", *aliases, dest="out", required=required, metavar=metavar, help=help_text
    )


def add_out_dir_argument(
    parser: argparse.ArgumentParser,
    help_text: str,
    *,
    required: bool = False,
    default: str | None = None,
    aliases: Sequence[str] = (),
) -> None:
    """``--out-dir DIR``: the folder a command writes into (``aliases``: older spellings)."""
    parser.add_argument(
        "--out-dir",
        *aliases,
        dest="out_dir",
        required=required,
        default=default,
        metavar="DIR",
        help=help_text,
    )
