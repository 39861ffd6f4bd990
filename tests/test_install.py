"""The core install is complete, and every missing optional package names its install command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from soundstorm.dependencies import (
    DISTRIBUTION_OF_MODULE,
    install_command,
    missing_modules,
    require,
)
from soundstorm.errors import SoundStormError

ROOT = Path(__file__).resolve().parents[1]


def test_core_install_without_extras():
    """Every module imports, every command's --help and generate (shipped model) run."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "install_check.py"), "--block-extras"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "install check: ok" in result.stdout


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _pyproject_extras() -> dict[str, list[str]]:
    return _pyproject()["project"]["optional-dependencies"]


def _names(requirements: list[str]) -> set[str]:
    import re

    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_evaluation_modules_are_declared_in_the_eval_extra():
    """What `soundstorm evaluate` / `demo` import (undeclared deps of deps too) is in [eval]."""
    from soundstorm.evaluate.suite import _NEEDED_MODULES

    declared = _names(_pyproject_extras()["eval"])
    core = _names(_pyproject()["project"]["dependencies"])
    for family, modules in _NEEDED_MODULES.items():
        for module in modules:
            distribution = _names([DISTRIBUTION_OF_MODULE.get(module, module)]).pop()
            assert distribution in declared | core, f"{family}: {distribution} not in [eval]"


def test_install_command_names_the_extra():
    command = install_command(["speechmos", "onnxruntime"])
    assert "pip install 'soundstorm[eval]'" in command
    assert "pip install -e '.[eval]'" in command
    assert "soundstorm[hf]" in install_command(["transformers"])
    assert "soundstorm[train]" in install_command(["tensorboard"])
    assert "soundstorm[eval]" in install_command(["pkg_resources"])  # setuptools<81
    assert install_command(["not_a_package_xyz"]) == "pip install not_a_package_xyz"


def test_require_reports_every_missing_module_on_one_line():
    assert missing_modules(["json", "not_a_package_xyz", "not_a_package_xyz"]) == [
        "not_a_package_xyz"
    ]
    require(["json", "torch"], "nothing")  # present: no error
    with pytest.raises(SoundStormError) as error:
        require(["json", "not_a_package_xyz", "also_missing_xyz"], "the test")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("the test needs not_a_package_xyz, also_missing_xyz: pip install")


def test_evaluate_dependency_error_gives_the_extra(monkeypatch):
    import soundstorm.dependencies as dependencies
    from soundstorm.evaluate.suite import check_dependencies

    real = dependencies.missing_modules
    monkeypatch.setattr(
        dependencies,
        "missing_modules",
        lambda modules: [m for m in real(modules)] + ["speechmos"],
    )
    with pytest.raises(SoundStormError, match=r"needs speechmos: pip install 'soundstorm\[eval\]'"):
        check_dependencies(["dnsmos"])


def test_package_data_patterns_cover_every_shipped_asset():
    """Every file under src/soundstorm/assets reaches a wheel (``pip install`` from PyPI):
    setuptools copies package data by the patterns of pyproject.toml."""
    import fnmatch

    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["*"]
    assets = ROOT / "src" / "soundstorm" / "assets"
    shipped = [p for p in assets.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    missed = [
        str(p.relative_to(assets))
        for p in shipped
        if p.suffix != ".py" and not any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
    ]
    assert not missed, f"not in any package-data pattern of pyproject.toml: {missed}"
