"""The inputs of ``soundstorm prepare``: audio discovery, manifests, splits and the shard plan.

Input is a folder (searched recursively for audio files) or a manifest file:

- text manifest (any suffix but ``.jsonl`` / ``.json``): one audio path per line, or
  ``ID<TAB>PATH``; blank lines and lines starting with ``#`` are ignored;
- JSON-lines manifest (``.jsonl`` / ``.json``): one object per line with ``"path"``
  (aliases: ``"audio_filepath"``, ``"audio"``), an optional ``"id"`` and an optional
  ``"split"`` (e.g. ``"train"``, ``"valid"``, ``"test"``) and an optional ``"text"`` (the
  words said; alias ``"transcript"``), used by ``prepare --transcripts``; other keys are
  ignored. The manifests of ``soundstorm corpus`` are of this kind.

Relative paths are relative to the manifest's folder. An utterance's default id is its path
relative to the input folder (or to the manifest's folder), without the suffix, with ``/``
separators: ``speaker1/book2/utt_0003``. Ids must be unique.

The plan is a pure function of the input list and the options: every rank of a torchrun
job and every re-run of a killed job computes the same shards with the same inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from soundstorm.audio import AUDIO_SUFFIXES, is_audio_file
from soundstorm.errors import SoundStormError

_PATH_KEYS = ("path", "audio_filepath", "audio")
_SPLIT_NAME = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class AudioInput:
    """One audio file to encode.

    Attributes:
        id: Unique utterance id.
        path: Absolute path of the audio file.
        split: The split given by a manifest, or ``None`` (chosen by ``assign_splits``).
        text: The words said, from a JSON-lines manifest's ``"text"``, or ``None``.
    """

    id: str
    path: str
    split: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class ShardPlan:
    """The inputs of one shard, fixed before any encoding.

    Attributes:
        name: Shard directory name, e.g. ``train-00003``.
        split: ``"train"``, ``"valid"`` or a split named by the manifest.
        inputs: The shard's audio files, in id order.
    """

    name: str
    split: str
    inputs: tuple[AudioInput, ...]

    def fingerprint(self, settings: dict) -> str:
        """Hash of the shard's inputs and the encoding settings (detects stale shards)."""
        inputs = [(i.id, i.path) if i.text is None else (i.id, i.path, i.text) for i in self.inputs]
        payload = json.dumps({"inputs": inputs, "settings": settings}, sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()


def _default_id(path: Path, base: Path) -> str:
    try:
        relative = path.relative_to(base)
    except ValueError:
        relative = Path(*path.parts[1:]) if path.is_absolute() else path
    return relative.with_suffix("").as_posix()


def _discover(folder: Path) -> list[AudioInput]:
    inputs = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if is_audio_file(path) and not filename.startswith("."):
                inputs.append(AudioInput(_default_id(path, folder), str(path.resolve())))
    return inputs


def _read_manifest_lines(
    manifest: Path,
) -> list[tuple[str | None, str, str | None, str | None]]:
    """``(id or None, path, split or None, text or None)`` for every entry of a manifest."""
    is_jsonl = manifest.suffix.lower() in (".jsonl", ".json")
    try:
        lines = manifest.read_text().splitlines()
    except UnicodeDecodeError:
        raise SoundStormError(f"{manifest}: manifest is not a text file") from None
    entries = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if is_jsonl:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise SoundStormError(f"{manifest}:{number}: not a JSON object") from None
            path = next(
                (record[k] for k in _PATH_KEYS if isinstance(record, dict) and k in record), None
            )
            if not isinstance(path, str):
                raise SoundStormError(f'{manifest}:{number}: no "path" string in {line[:80]}')
            uid, split = record.get("id"), record.get("split")
            if split is not None and not _SPLIT_NAME.fullmatch(str(split)):
                raise SoundStormError(f"{manifest}:{number}: bad split name {split!r}")
            text = record.get("text", record.get("transcript"))
            if text is not None and not isinstance(text, str):
                raise SoundStormError(f'{manifest}:{number}: "text" must be a string')
            uid = None if uid is None else str(uid)
            entries.append((uid, path, None if split is None else str(split), text))
        elif "\t" in line:
            uid, path = line.split("\t", 1)
            entries.append((uid.strip(), path.strip(), None, None))
        else:
            entries.append((None, line, None, None))
    return entries


def list_inputs(source: str | os.PathLike) -> list[AudioInput]:
    """List the audio files of a folder or a manifest, sorted by id.

    Args:
        source: A folder (searched recursively) or a manifest file (text or JSON lines).

    Returns:
        The inputs, sorted by id. Paths listed by a manifest are not opened here: a missing
        file is reported later as a bad file, like any other unreadable one.

    Raises:
        FileNotFoundError: if ``source`` does not exist.
        SoundStormError: on a malformed manifest, duplicate ids, or no input at all.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"input not found: {source}")
    if source.is_dir():
        inputs = _discover(source.resolve())
        if not inputs:
            suffixes = ", ".join(sorted(AUDIO_SUFFIXES))
            raise SoundStormError(f"no audio files ({suffixes}) found in {source}")
    else:
        base = source.resolve().parent
        inputs = []
        for uid, path_text, split, text in _read_manifest_lines(source):
            path = Path(path_text).expanduser()
            path = path if path.is_absolute() else base / path
            inputs.append(AudioInput(uid or _default_id(path, base), str(path), split, text))
        if not inputs:
            raise SoundStormError(f"manifest {source} lists no audio file")
    seen: dict[str, str] = {}
    for item in inputs:
        if item.id in seen:
            raise SoundStormError(
                f"duplicate utterance id {item.id!r}: {seen[item.id]} and {item.path}"
            )
        seen[item.id] = item.path
    return sorted(inputs, key=lambda item: item.id)


def split_fraction(uid: str) -> float:
    """A stable pseudo-random number in ``[0, 1)`` derived from an utterance id."""
    digest = hashlib.sha1(uid.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(inputs: list[AudioInput], valid_fraction: float) -> dict[str, list[AudioInput]]:
    """Split inputs into ``train`` and ``valid`` by a hash of their ids.

    Inputs whose manifest names a split keep it, and then ``valid_fraction`` is not used:
    a manifest that gives splits gives them all. Otherwise the split of a file never
    depends on the other files (adding data does not move utterances between splits), and
    with ``valid_fraction > 0`` and at least two inputs, ``valid`` gets at least one.

    Args:
        inputs: The inputs, sorted by id.
        valid_fraction: Expected fraction of utterances in ``valid``, in ``[0, 1)``.

    Returns:
        ``{split: [...]}``: ``train`` and ``valid`` (possibly empty) first, then any other
        split named by the manifest, alphabetically; each list in id order.
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise SoundStormError(f"--valid-fraction must be in [0, 1), got {valid_fraction}")
    named = [i for i in inputs if i.split is not None]
    if named:
        unnamed = [i.id for i in inputs if i.split is None]
        if unnamed:
            raise SoundStormError(
                f"the manifest gives a split to some utterances but not to {unnamed[0]!r}"
            )
        splits: dict[str, list[AudioInput]] = {"train": [], "valid": []}
        for name in sorted({i.split for i in named}):
            splits.setdefault(name, [])
        for item in inputs:
            splits[item.split].append(item)
        return splits
    valid = [i for i in inputs if split_fraction(i.id) < valid_fraction]
    if valid_fraction > 0 and not valid and len(inputs) >= 2:
        valid = [min(inputs, key=lambda i: split_fraction(i.id))]
    valid_ids = {i.id for i in valid}
    return {"train": [i for i in inputs if i.id not in valid_ids], "valid": valid}


def plan_shards(
    inputs: list[AudioInput], shard_size: int, valid_fraction: float
) -> list[ShardPlan]:
    """Group inputs into shards of ``shard_size`` files, per split.

    Args:
        inputs: The inputs, sorted by id.
        shard_size: Audio files per shard (a shard holds fewer utterances if some are bad).
        valid_fraction: See ``assign_splits``.

    Returns:
        The shards: ``train-00000, train-00001, ..., valid-00000, ...``.
    """
    if shard_size < 1:
        raise SoundStormError(f"--shard-size must be >= 1, got {shard_size}")
    plans = []
    for split, items in assign_splits(inputs, valid_fraction).items():
        for number, start in enumerate(range(0, len(items), shard_size)):
            chunk = tuple(items[start : start + shard_size])
            plans.append(ShardPlan(f"{split}-{number:05d}", split, chunk))
    return plans


def inputs_digest(inputs: list[AudioInput]) -> str:
    """Hash of the whole input list (ids and paths), recorded in ``prepare.json``."""
    payload = "\n".join(f"{i.id}\t{i.path}\t{i.split}" for i in inputs)
    return hashlib.sha1(payload.encode()).hexdigest()
