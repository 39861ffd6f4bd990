"""What to evaluate: items of generated audio with their reference, prompt and transcript.

A manifest is a JSON Lines file, one item per line::

    {"id": "utt1", "generated": "gen/utt1.wav", "reference": "ref/utt1.wav",
     "prompt": "prompt/utt1.wav", "text": "the words spoken", "generation_seconds": 0.42}

Only ``generated`` is required; relative paths are relative to the manifest's folder. Each
metric runs on the items that have what it needs (WER: ``text``; speaker similarity and
consistency: ``prompt``; real-time factor: ``generation_seconds``). Items can also be built
from lists of files or folders (:func:`items_from_paths`), as the command line does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from soundstorm.errors import SoundStormError
from soundstorm.evaluate.audio import list_audio_files

MANIFEST_FIELDS = ("id", "generated", "reference", "prompt", "text", "generation_seconds")


@dataclass(frozen=True)
class EvaluationItem:
    """One generated utterance and what it is compared with.

    Attributes:
        id: a name unique within the run (used in tables and plot file names).
        generated: the generated audio file.
        reference: audio of the same content (e.g. the original recording), or ``None``.
        prompt: audio of the voice to keep (the acoustic prompt), or ``None``.
        text: transcript of the content, or ``None``.
        generation_seconds: wall-clock time spent generating it, or ``None``.
    """

    id: str
    generated: Path
    reference: Path | None = None
    prompt: Path | None = None
    text: str | None = None
    generation_seconds: float | None = None

    def audio_paths(self) -> list[Path]:
        """Every audio file this item names."""
        return [p for p in (self.generated, self.reference, self.prompt) if p is not None]

    def to_dict(self) -> dict:
        """Plain dict for JSON (paths as strings)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def check_items(items: list[EvaluationItem]) -> None:
    """Fail early, before any model loads, on missing files, duplicate ids or no items.

    Raises:
        SoundStormError: no items, or two items share an id.
        FileNotFoundError: an audio file does not exist (the first one found is named).
    """
    if not items:
        raise SoundStormError("nothing to evaluate: no items")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise SoundStormError(f"duplicate item id '{item.id}'")
        seen.add(item.id)
        for path in item.audio_paths():
            if not path.is_file():
                raise FileNotFoundError(f"item '{item.id}': audio file not found: {path}")
        if item.text is not None and not item.text.strip():
            raise SoundStormError(f"item '{item.id}': empty text")
        if item.generation_seconds is not None and item.generation_seconds < 0:
            raise SoundStormError(f"item '{item.id}': negative generation_seconds")


def read_manifest(path: str | Path) -> list[EvaluationItem]:
    """Read a JSON Lines manifest (see the module docstring); blank lines are skipped.

    Raises:
        FileNotFoundError: the manifest does not exist.
        SoundStormError: a line is not a JSON object, lacks ``generated``, has an unknown field
            or a value of the wrong type (the message names the line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise SoundStormError(f"{where}: not valid JSON ({error.msg})") from None
        items.append(_item_from_row(row, path.parent, where, default_id=f"item{len(items):04d}"))
    check_items(items)
    return items


def _item_from_row(row: object, root: Path, where: str, default_id: str) -> EvaluationItem:
    if not isinstance(row, dict):
        raise SoundStormError(f"{where}: expected a JSON object")
    unknown = sorted(set(row) - set(MANIFEST_FIELDS))
    if unknown:
        raise SoundStormError(
            f"{where}: unknown field '{unknown[0]}' (known: {', '.join(MANIFEST_FIELDS)})"
        )
    if not isinstance(row.get("generated"), str):
        raise SoundStormError(f"{where}: missing 'generated' audio path")
    for key in ("id", "reference", "prompt", "text"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise SoundStormError(f"{where}: '{key}' must be a string")
    seconds = row.get("generation_seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)):
        raise SoundStormError(f"{where}: 'generation_seconds' must be a number")

    def resolve(value: str | None) -> Path | None:
        return None if value is None else root / Path(value).expanduser()

    generated = resolve(row["generated"])
    return EvaluationItem(
        id=row.get("id") or generated.stem or default_id,
        generated=generated,
        reference=resolve(row.get("reference")),
        prompt=resolve(row.get("prompt")),
        text=row.get("text"),
        generation_seconds=None if seconds is None else float(seconds),
    )


def _expand(paths: list[Path], what: str) -> list[Path]:
    if len(paths) == 1 and paths[0].is_dir():
        return list_audio_files(paths[0])
    for path in paths:
        if path.is_dir():
            raise SoundStormError(f"--{what}: give one folder or a list of files, not both")
    return paths


def _match(
    generated: list[Path], given: list[Path] | None, what: str, broadcast: bool
) -> list[Path | None]:
    """Pair each generated file with a --reference/--prompt path (by name for a folder)."""
    if not given:
        return [None] * len(generated)
    if len(given) == 1 and given[0].is_dir():
        folder = given[0]
        matched = []
        for gen in generated:
            candidates = [p for p in list_audio_files(folder) if p.stem == gen.stem]
            if not candidates:
                raise FileNotFoundError(f"--{what} folder {folder} has no file named {gen.stem}.*")
            matched.append(candidates[0])
        return matched
    if broadcast and len(given) == 1:
        return [given[0]] * len(generated)
    if len(given) != len(generated):
        raise SoundStormError(f"got {len(generated)} generated files but {len(given)} --{what}")
    return list(given)


def items_from_paths(
    generated: list[str | Path],
    reference: list[str | Path] | None = None,
    prompt: list[str | Path] | None = None,
    texts: list[str] | None = None,
    generation_seconds: list[float] | None = None,
) -> list[EvaluationItem]:
    """Build items from file lists or folders, as ``soundstorm evaluate`` does without a manifest.

    Args:
        generated: generated audio files, or one folder (its audio files, sorted by name).
        reference: one reference per generated file, or one folder matched by file name.
        prompt: one prompt per generated file, one prompt for all, or a folder matched by name.
        texts: one transcript per generated file.
        generation_seconds: one generation time per generated file.

    Returns:
        The items, ids taken from the generated files' names (numbered if names repeat).

    Raises:
        SoundStormError: counts do not match.
        FileNotFoundError: a file is missing.
    """
    gen_paths = _expand([Path(p) for p in generated], "generated")
    refs = _match(gen_paths, [Path(p) for p in reference or []], "reference", broadcast=False)
    prompts = _match(gen_paths, [Path(p) for p in prompt or []], "prompt", broadcast=True)
    for values, what in ((texts, "text"), (generation_seconds, "generation-seconds")):
        if values is not None and len(values) != len(gen_paths):
            raise SoundStormError(
                f"got {len(gen_paths)} generated files but {len(values)} --{what}"
            )
    ids = [path.stem for path in gen_paths]
    if len(set(ids)) < len(ids):  # same name in different folders: number them
        ids = [f"{i:04d}_{name}" for i, name in enumerate(ids)]
    items = [
        EvaluationItem(
            id=ids[i],
            generated=path,
            reference=refs[i],
            prompt=prompts[i],
            text=None if texts is None else texts[i],
            generation_seconds=None if generation_seconds is None else generation_seconds[i],
        )
        for i, path in enumerate(gen_paths)
    ]
    check_items(items)
    return items
