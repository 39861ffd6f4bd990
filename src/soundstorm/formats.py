"""The version policy of every file soundstorm writes, and the one function that applies it.

Every file kind records a format version. A reader:

- accepts its own version and every older one (fields added since are filled with their
  defaults by the reader of that file);
- refuses a NEWER version with one line naming the file::

    codec.safetensors was written by format version 3, newer than this soundstorm reads
    (up to 2): upgrade soundstorm

- handles a missing version as the table says: some kinds were first written without one
  (that is version 1), the others always had one (a file without it is refused as not
  written by soundstorm, or damaged).

Current versions (bump the number here, and teach the reader the older layouts, whenever the
meaning of a saved field changes)::

    kind                now  file                                   version entry     if missing
    embedded-codec      2    fitted codec *.safetensors (metadata)  format_version    refused
                             (2: HiFi-GAN features and decoder; a
                             codec of the version-1 layout is still
                             written as 1)
    semantic-tokenizer  1    semantic_tokenizer.json of a saved     format_version    1
                             tokenizer directory
    token-file          1    *.tokens header, shard index.json      version           refused
    shard-manifest      1    manifest.json of a prepared directory  version           refused
    pipeline            2    pipeline.json of a voice model         format_version    1
                             (2: "semantic": "default" no longer
                             names a tokenizer; in version 1 it
                             meant "phones-words")
    trainer-state       1    trainer.json, rng/rank_*.json of a     format            refused
                             training checkpoint (and the
                             trainer_record.json of a run's best/)
    training-history    1    training.json of a voice model: the    format_version    refused
                             runs behind its weights

The same table, as data: ``FILE_KINDS``.

Checksums (``soundstorm.checksums``: ``soundstorm_sha256`` in safetensors metadata,
``checksum`` / ``array_sha256`` in JSON files, ``num_frames`` in token records) are entries
added to these formats, not new versions: older readers ignore them, and files written
before them (the shipped default model among them) read as before, without verification.

Example::

    version = check_format_version(path, "token-file", header.get("version"))
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from soundstorm.errors import SoundStormError


@dataclass(frozen=True)
class FileKind:
    """One kind of file soundstorm writes.

    Attributes:
        name: Short name used by readers (``"token-file"``).
        description: What the file is, for messages.
        version: The version this soundstorm writes (and the newest it reads).
        field: Name of the entry holding the version in the file.
        missing: Version assumed when the entry is absent; None: such a file is refused.
    """

    name: str
    description: str
    version: int
    field: str
    missing: int | None


#: Every file kind soundstorm writes, by name (see the module docstring's table).
FILE_KINDS: dict[str, FileKind] = {
    kind.name: kind
    for kind in (
        FileKind("embedded-codec", "embedded codec file", 2, "format_version", None),
        FileKind("semantic-tokenizer", "saved semantic tokenizer", 1, "format_version", 1),
        FileKind("token-file", "token file", 1, "version", None),
        FileKind("shard-manifest", "shard manifest", 1, "version", None),
        FileKind("pipeline", "voice model pipeline.json", 2, "format_version", 1),
        FileKind("trainer-state", "trainer state", 1, "format", None),
        FileKind("training-history", "voice model training history", 1, "format_version", None),
    )
}


class FormatVersionError(SoundStormError):
    """A file whose format version this soundstorm cannot read (newer, missing or invalid)."""


def current_version(kind: str) -> int:
    """The format version this soundstorm writes for ``kind`` (a key of ``FILE_KINDS``).

    Raises:
        KeyError: unknown kind (a programming error, not a user one).
    """
    return FILE_KINDS[kind].version


def check_format_version(
    path: str | os.PathLike, kind: str, found: object, supported: int | None = None
) -> int:
    """Apply the version policy to a file being read.

    Args:
        path: The file (named in messages).
        kind: Its kind, a key of ``FILE_KINDS``.
        found: The recorded version: an int, a string of digits (safetensors metadata), or
            None when the file has no version entry.
        supported: Newest version the caller reads (default: ``current_version(kind)``).

    Returns:
        The file's version, ``1 <= version <= supported`` (the table's default when missing).

    Raises:
        FormatVersionError: the version is newer than ``supported`` (one line: "<file> was
            written by format version N, newer than this soundstorm reads (up to M): upgrade
            soundstorm"), missing where the table refuses that, or not a positive integer.
    """
    spec = FILE_KINDS[kind]
    supported = spec.version if supported is None else supported
    if found is None:
        if spec.missing is None:
            raise FormatVersionError(
                f"{path} has no format version ({spec.field!r}): not a {spec.description} "
                "written by soundstorm, or damaged"
            )
        return spec.missing
    version = found
    if isinstance(found, str) and found.strip().isdigit():
        version = int(found)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FormatVersionError(
            f"{path}: invalid {spec.description} format version {found!r} "
            "(expected a positive integer)"
        )
    if version > supported:
        raise FormatVersionError(
            f"{path} was written by format version {version}, newer than this soundstorm "
            f"reads (up to {supported}): upgrade soundstorm"
        )
    return version
