"""The ``soundstorm`` command line.

Usage::

    soundstorm prepare AUDIO_DIR OUT_DIR      # audio -> token shards
    soundstorm train configs/tiny.yaml        # train a model on token shards
    soundstorm generate ...                   # tokens / audio from a trained model
    soundstorm evaluate ...                   # WER, speaker similarity, quality
    soundstorm bench ...                      # speed figures
    soundstorm edit --audio rec.wav --start S --end E --text "new words" --out edited.wav

Each subcommand lives in its own module of ``soundstorm.commands``, which exposes two
functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def main(args: argparse.Namespace) -> int: ...

Modules are imported lazily, only for the subcommand that runs, so ``soundstorm --help``
is fast and a missing optional dependency of one subcommand never breaks the others.
User errors (``SoundStormError``, ``ValueError``) and the OS errors a user can act on
(``OSError``: a missing file, no space left, permission denied, a read-only file system;
``soundstorm.errors.os_error_message`` names the file and the cause) are printed as one line
on stderr with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from soundstorm.errors import SoundStormError, os_error_message

# name -> (module path, one-line help); each module lives in soundstorm/commands/
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": (
        "soundstorm.commands.prepare",
        "encode a folder or manifest of audio into token shards",
    ),
    "encode": ("soundstorm.commands.encode", "encode audio files into a token file"),
    "decode": ("soundstorm.commands.decode", "decode a token file back into audio"),
    "train": ("soundstorm.commands.train", "train a SoundStorm model (single process or torchrun)"),
    "generate": (
        "soundstorm.commands.generate",
        "generate acoustic tokens / audio from a trained model",
    ),
    "evaluate": (
        "soundstorm.commands.evaluate",
        "evaluate generated audio (WER, speaker similarity, DNSMOS)",
    ),
    "bench": ("soundstorm.commands.bench", "measure generation speed"),
    "semantic": (
        "soundstorm.commands.semantic",
        "fit a HuBERT / w2v-BERT k-means tokenizer, or print semantic tokens",
    ),
    "corpus": (
        "soundstorm.commands.corpus",
        "synthesise an offline multi-voice English speech corpus",
    ),
    "export": (
        "soundstorm.commands.export",
        "write a trained checkpoint as a self-contained voice model",
    ),
    "demo": ("soundstorm.commands.demo", "say this in that voice with the shipped default model"),
    "edit": (
        "soundstorm.commands.edit",
        "replace a span of a recording with new words, in the recording's voice",
    ),
}


def _load(name: str):
    module_path, _ = COMMANDS[name]
    try:
        return importlib.import_module(module_path)
    except ModuleNotFoundError as error:
        if error.name and module_path.startswith(error.name):
            raise SoundStormError(
                f"the '{name}' command is not available in this version"
            ) from None
        from soundstorm.dependencies import missing_dependency_error

        raise missing_dependency_error(
            [error.name.split(".")[0]], f"the '{name}' command"
        ) from None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser; with ``only``, import just that subcommand's module."""
    parser = argparse.ArgumentParser(prog="soundstorm", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            _load(name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser = build_parser(command if command in COMMANDS else None)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return int(_load(args.command).main(args) or 0)
    except (SoundStormError, ValueError) as error:
        print(f"soundstorm {command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # no space left, permission denied, read-only, missing file...
        print(f"soundstorm {command}: error: {os_error_message(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"soundstorm {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
