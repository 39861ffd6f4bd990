"""Files shipped inside the package: the default voice model and sample recordings.

- ``default/``: the default SoundStorm (``model.safetensors`` in 16-bit, ``config.json``), the
  embedded codec it was trained with (``codec.safetensors``) and ``pipeline.json`` naming the
  codec and the semantic tokenizer. Reproduced by ``configs/voice_mini.yaml`` (its header holds
  the commands; ``soundstorm prepare --codec shipped`` encodes with this codec file).
- ``samples/``: ``content.wav`` (what to say, with its transcript ``content.txt``),
  ``prompt.wav`` (a 3 s prompt of a voice seen in training) and ``prompt_unseen.wav`` (a voice
  held out of training), all from the test split of the offline corpus.
"""

from __future__ import annotations

from pathlib import Path

from soundstorm.errors import SoundStormError

ASSETS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_DIR = ASSETS_DIR / "default"
SAMPLES_DIR = ASSETS_DIR / "samples"

_MODEL_FILES = ("model.safetensors", "config.json", "pipeline.json")


def default_model_dir() -> Path:
    """The shipped model directory.

    Raises:
        SoundStormError: the package was installed without its model files.
    """
    missing = [name for name in _MODEL_FILES if not (DEFAULT_MODEL_DIR / name).is_file()]
    if missing:
        raise SoundStormError(
            f"the shipped default model is incomplete ({', '.join(missing)} missing in "
            f"{DEFAULT_MODEL_DIR}): reinstall soundstorm or pass --model DIR"
        )
    return DEFAULT_MODEL_DIR


def sample_path(name: str) -> Path:
    """A shipped sample file (``content.wav``, ``content.txt``, ``prompt.wav``, ...).

    Raises:
        SoundStormError: no such sample.
    """
    path = SAMPLES_DIR / name
    if not path.is_file():
        known = sorted(p.name for p in SAMPLES_DIR.glob("*") if p.is_file())
        raise SoundStormError(f"no shipped sample {name!r} (shipped: {', '.join(known)})")
    return path
