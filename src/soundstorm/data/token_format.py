"""The versioned token format: codec codes + aligned semantic ids + metadata.

One format serves a single utterance, a file of many (``soundstorm encode``) and every
shard of a prepared dataset (``soundstorm prepare``). Its content is three flat arrays and
one JSON header:

- ``codes``: ``uint16[Q, N_total]``, the RVQ codes of all utterances concatenated in time;
- ``semantic``: ``int32[N_total]``, semantic ids already aligned to the codec frames (one id
  per acoustic frame; the semantic tokenizer's own rate is kept in the header); a shard
  stores them in the narrowest dtype of their vocabulary (``narrowest_semantic_dtype``:
  ``uint8`` for phone ids), and every reader returns ``int64``;
- ``offsets``: ``int64[U + 1]``, utterance ``u`` owns frames ``offsets[u]:offsets[u + 1]``;
- the header (``dict``, stored as JSON)::

    {"magic": "soundstorm-tokens", "version": 1,
     "codec": {"name", "sample_rate", "frame_rate", "num_levels", "codebook_size", ...},
     "semantic": {"name", "frame_rate", "vocab_size", ...},
     "utterances": [{"id", "source", "duration"}, ...], ...}

A token file (``.tokens``) is a safetensors file holding the three arrays, the header being
its ``soundstorm`` metadata entry. A shard is a directory with ``codes.npy``,
``semantic.npy``, ``offsets.npy`` (memory-mappable) and ``index.json`` (the header); see
``soundstorm.data.shards``. Everything read is checked: magic, version, shapes, offsets and
id ranges, each failure being a one-line ``SoundStormError``.

Versions follow ``soundstorm.formats`` (kind ``token-file``): a reader takes its own version
and older ones (header entries added since get their defaults: an utterance record without
``source`` or ``duration`` reads as ``""`` / 0 s) and refuses newer ones in one line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from soundstorm.checksums import check_safetensors, checksum_metadata, sealed_safetensors
from soundstorm.errors import DamagedFileError, SoundStormError
from soundstorm.formats import check_format_version, current_version
from soundstorm.tokens import check_token_range

MAGIC = "soundstorm-tokens"
FORMAT_VERSION = current_version("token-file")
CODES_DTYPE = np.uint16
SEMANTIC_DTYPE = np.int32
OFFSETS_DTYPE = np.int64
_HEADER_KEY = "soundstorm"
_CODEC_KEYS = ("name", "sample_rate", "frame_rate", "num_levels", "codebook_size")
_SEMANTIC_KEYS = ("name", "frame_rate", "vocab_size")


@dataclass
class TokenUtterance:
    """The tokens of one utterance.

    Attributes:
        id: Unique utterance id (e.g. the audio path relative to the corpus root, no suffix).
        codes: ``uint16[Q, T]`` codec codes.
        semantic: ``int[T]`` semantic ids aligned to the codec frames.
        duration: Duration of the source audio in seconds.
        source: Path of the source audio ("" when unknown).
    """

    id: str
    codes: np.ndarray
    semantic: np.ndarray
    duration: float
    source: str = ""

    @property
    def num_frames(self) -> int:
        """Number of codec frames ``T``."""
        return int(self.codes.shape[-1])


@dataclass
class TokenFile:
    """The content of a token file: a header and its utterances.

    Attributes:
        header: The checked JSON header (codec and semantic configs, format version, ...).
        utterances: The utterances, in file order.
    """

    header: dict
    utterances: list[TokenUtterance] = field(default_factory=list)

    @property
    def codec_config(self) -> dict:
        """The codec's ``config_dict()`` recorded at encoding time."""
        return self.header["codec"]

    @property
    def semantic_config(self) -> dict:
        """The semantic tokenizer's ``config_dict()`` recorded at encoding time."""
        return self.header["semantic"]


def make_header(codec_config: dict, semantic_config: dict, utterances: list[dict], **extra) -> dict:
    """Build a header; ``extra`` keys (JSON-serialisable) are stored as they are.

    Args:
        codec_config: ``Codec.config_dict()``.
        semantic_config: ``SemanticTokenizer.config_dict()``.
        utterances: One ``{"id", "source", "duration"}`` dict per utterance, in array order.
        **extra: Additional header entries (e.g. the codec's path, a shard's fingerprint).

    Returns:
        The header dict, checked with ``check_header``.
    """
    header = {
        "magic": MAGIC,
        "version": FORMAT_VERSION,
        "codec": dict(codec_config),
        "semantic": dict(semantic_config),
        "utterances": utterances,
        **extra,
    }
    check_header(header, "header")
    return header


def check_header(header: object, where: str) -> dict:
    """Check magic, version and the codec / semantic configs of a header.

    Args:
        header: A decoded JSON header.
        where: Name of the file, for error messages.

    Returns:
        The header.

    Raises:
        SoundStormError: wrong magic, missing or invalid fields.
        FormatVersionError: a newer format version (upgrade soundstorm), or none.
    """
    if not isinstance(header, dict) or header.get("magic") != MAGIC:
        raise SoundStormError(f"{where}: not a soundstorm token file (wrong magic)")
    check_format_version(where, "token-file", header.get("version"))
    for key, required in (("codec", _CODEC_KEYS), ("semantic", _SEMANTIC_KEYS)):
        config = header.get(key)
        missing = [k for k in required if not isinstance(config, dict) or k not in config]
        if missing:
            raise SoundStormError(f"{where}: {key} config lacks {', '.join(missing)}")
    codebook_size = header["codec"]["codebook_size"]
    if not isinstance(codebook_size, int) or not 0 < codebook_size <= 1 << 16:
        raise SoundStormError(f"{where}: codebook_size {codebook_size!r} does not fit uint16")
    vocab_size = header["semantic"]["vocab_size"]
    if not isinstance(vocab_size, int) or not 0 < vocab_size <= 1 << 31:
        raise SoundStormError(f"{where}: invalid semantic vocab_size {vocab_size!r}")
    utterances = header.get("utterances")
    if not isinstance(utterances, list) or not all(
        isinstance(u, dict) and isinstance(u.get("id"), str) for u in utterances
    ):
        raise SoundStormError(f"{where}: header has no valid utterance list")
    return header


def check_arrays(
    header: dict,
    codes: np.ndarray,
    semantic: np.ndarray,
    offsets: np.ndarray,
    where: str,
    check_values: bool = True,
) -> None:
    """Check that arrays agree with their header.

    Args:
        header: A header accepted by ``check_header``.
        codes: ``uint16[Q, N_total]``.
        semantic: ``int[N_total]``.
        offsets: ``int64[U + 1]``, from 0 to ``N_total``, non-decreasing.
        where: Name of the file, for error messages.
        check_values: Also check every id against ``codebook_size`` / ``vocab_size``
            (reads the whole arrays; skip it for lazily checked memory maps).

    Raises:
        SoundStormError: on any inconsistency.
    """
    num_levels = header["codec"]["num_levels"]
    num_utterances = len(header["utterances"])
    if codes.dtype != CODES_DTYPE or semantic.dtype.kind not in "iu" or offsets.dtype.kind != "i":
        raise SoundStormError(
            f"{where}: arrays have dtypes {codes.dtype}/{semantic.dtype}/{offsets.dtype}, "
            "expected uint16 codes, integer semantic ids and int64 offsets"
        )
    if codes.ndim != 2 or codes.shape[0] != num_levels:
        raise SoundStormError(
            f"{where}: codes have shape {tuple(codes.shape)}, expected [{num_levels}, T]"
        )
    if semantic.ndim != 1 or semantic.shape[0] != codes.shape[1]:
        raise SoundStormError(
            f"{where}: semantic ids have shape {tuple(semantic.shape)}, "
            f"expected [{codes.shape[1]}] (one per codec frame)"
        )
    if offsets.ndim != 1 or offsets.shape[0] != num_utterances + 1:
        raise SoundStormError(
            f"{where}: {offsets.shape[0] if offsets.ndim == 1 else '?'} offsets for "
            f"{num_utterances} utterances (expected {num_utterances + 1})"
        )
    if offsets[0] != 0 or offsets[-1] != codes.shape[1] or np.any(np.diff(offsets) < 0):
        raise SoundStormError(f"{where}: utterance offsets are inconsistent with the arrays")
    if check_values:
        check_value_ranges(header, codes, semantic, where)


def check_utterance_frames(header: dict, offsets: np.ndarray, where: str, durations: bool) -> None:
    """Cross-check the offsets against each utterance's recorded frame count (exact) or,
    in shards that record none, with ``durations``, against its duration (within 2 frames
    and 2 %): a shifted utterance boundary is found even without checksums.

    Raises:
        DamagedFileError: an utterance's frames disagree with its record.
    """
    frame_rate = float(header["codec"].get("frame_rate") or 0.0)
    lengths = np.diff(offsets)
    for record, length in zip(header["utterances"], lengths.tolist()):
        expected = record.get("num_frames")
        if expected is not None:
            ok = length == expected
        elif durations and frame_rate > 0 and float(record.get("duration") or 0.0) > 0:
            expected = float(record["duration"]) * frame_rate
            ok = abs(length - expected) <= max(2.0, 0.02 * expected)
        else:
            continue
        if not ok:
            raise DamagedFileError(
                where,
                f"utterance {record['id']!r} spans {length} frames, its record says "
                f"{expected:g}: the offsets are inconsistent",
                "write it again (soundstorm prepare or soundstorm encode)",
            )


def check_value_ranges(header: dict, codes: np.ndarray, semantic: np.ndarray, where: str) -> None:
    """Raise ``SoundStormError`` if a code or a semantic id is out of range.

    Args:
        header: The file's header (gives ``codebook_size`` and ``vocab_size``).
        codes: ``uint16[Q, T]``.
        semantic: ``int[T]``.
        where: Name of the file / utterance, for error messages.
    """
    codebook_size = header["codec"]["codebook_size"]
    vocab_size = header["semantic"]["vocab_size"]
    check_token_range(codes, codebook_size, "code", source="codebook_size", where=where)
    check_token_range(semantic, vocab_size, "semantic id", source="vocab_size", where=where)


def narrowest_semantic_dtype(vocab_size: int) -> np.dtype:
    """The dtype a shard stores semantic ids of a ``vocab_size`` vocabulary in: ``uint8`` up
    to 256 ids, ``uint16`` up to 65,536, else ``int32`` (``SEMANTIC_DTYPE``). Readers take
    any integer dtype and return ``int64``; token files keep ``int32``."""
    if vocab_size <= 1 << 8:
        return np.dtype(np.uint8)
    if vocab_size <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(SEMANTIC_DTYPE)


def pack_utterances(
    utterances: list[TokenUtterance], num_levels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate utterances into flat arrays.

    Args:
        utterances: Utterances with ``codes[Q, T_u]`` and ``semantic[T_u]``.
        num_levels: ``Q`` (used for the shape of an empty file).

    Returns:
        ``codes uint16[Q, sum T_u]``, ``semantic int32[sum T_u]``, ``offsets int64[U + 1]``.

    Raises:
        SoundStormError: if an utterance's codes and semantic ids disagree in length.
    """
    for u in utterances:
        if u.codes.ndim != 2 or u.codes.shape[0] != num_levels:
            raise SoundStormError(
                f"utterance {u.id}: codes of shape {tuple(u.codes.shape)}, "
                f"expected [{num_levels}, T]"
            )
        if u.semantic.shape != (u.codes.shape[1],):
            raise SoundStormError(
                f"utterance {u.id}: {u.semantic.shape} semantic ids for {u.codes.shape[1]} frames"
            )
    lengths = [u.num_frames for u in utterances]
    offsets = np.zeros(len(utterances) + 1, dtype=OFFSETS_DTYPE)
    np.cumsum(lengths, out=offsets[1:])
    if utterances:
        # C order: np.concatenate keeps the Fortran order of transposed inputs, which
        # safetensors would then write scrambled.
        codes = np.concatenate([u.codes.astype(CODES_DTYPE) for u in utterances], axis=1)
        codes = np.ascontiguousarray(codes)
        semantic = np.concatenate([u.semantic.astype(SEMANTIC_DTYPE) for u in utterances])
        semantic = np.ascontiguousarray(semantic)
    else:
        codes = np.zeros((num_levels, 0), dtype=CODES_DTYPE)
        semantic = np.zeros(0, dtype=SEMANTIC_DTYPE)
    return codes, semantic, offsets


def utterance_records(utterances: list[TokenUtterance]) -> list[dict]:
    """Header records ``{"id", "source", "duration", "num_frames"}`` of utterances (readers
    check the offsets against ``num_frames``; records written before it have none)."""
    return [
        {"id": u.id, "source": u.source, "duration": float(u.duration), "num_frames": u.num_frames}
        for u in utterances
    ]


def save_tokens(
    path: str | os.PathLike,
    utterances: list[TokenUtterance],
    codec_config: dict,
    semantic_config: dict,
    **extra,
) -> Path:
    """Write utterances to a token file (safetensors), atomically.

    Args:
        path: Output path (conventionally ``*.tokens``).
        utterances: The utterances to store.
        codec_config: ``Codec.config_dict()`` of the codec that produced the codes.
        semantic_config: ``SemanticTokenizer.config_dict()``.
        **extra: Extra header entries (e.g. ``codec_path``).

    Returns:
        The path written.
    """
    from safetensors.numpy import save_file

    header = make_header(codec_config, semantic_config, utterance_records(utterances), **extra)
    codes, semantic, offsets = pack_utterances(utterances, codec_config["num_levels"])
    check_arrays(header, codes, semantic, offsets, str(path))
    path = Path(path)
    with sealed_safetensors(path) as temp:  # atomic, with the file's sha256
        save_file(
            {"codes": codes, "semantic": semantic, "offsets": offsets},
            str(temp),
            metadata={_HEADER_KEY: json.dumps(header), **checksum_metadata()},
        )
    return path


def load_tokens(path: str | os.PathLike) -> TokenFile:
    """Read and check a token file written by ``save_tokens``.

    Args:
        path: The token file.

    Returns:
        The ``TokenFile``; every utterance's ``codes`` is ``uint16[Q, T]`` and ``semantic``
        ``int32[T]``.

    Raises:
        FileNotFoundError: if the file does not exist.
        SoundStormError: if it is not a token file, has a newer version or is inconsistent.
        DamagedFileError: the file differs from what was written (its recorded sha256).
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"token file not found: {path}")
    raw = path.read_bytes()
    try:
        header_len = int.from_bytes(raw[:8], "little")
        raw_header = json.loads(raw[8 : 8 + header_len]) if header_len < len(raw) else None
        arrays = load(raw)
    except (SafetensorError, ValueError, UnicodeDecodeError):
        raise SoundStormError(f"{path}: not a soundstorm token file (wrong magic)") from None
    metadata = (raw_header or {}).get("__metadata__") or {}
    try:
        header = json.loads(metadata.get(_HEADER_KEY, "null"))
    except json.JSONDecodeError:
        header = None
    check_header(header, str(path))
    check_safetensors(path)  # a flipped code stays in range: the sha256 finds it
    missing = [k for k in ("codes", "semantic", "offsets") if k not in arrays]
    if missing:
        raise SoundStormError(f"{path}: token file lacks arrays {', '.join(missing)}")
    codes, semantic, offsets = arrays["codes"], arrays["semantic"], arrays["offsets"]
    check_arrays(header, codes, semantic, offsets, str(path))
    check_utterance_frames(header, offsets, str(path), durations=True)
    utterances = [
        TokenUtterance(
            id=record["id"],
            codes=codes[:, offsets[i] : offsets[i + 1]],
            semantic=semantic[offsets[i] : offsets[i + 1]],
            duration=float(record.get("duration", 0.0)),
            source=str(record.get("source", "")),
        )
        for i, record in enumerate(header["utterances"])
    ]
    return TokenFile(header=header, utterances=utterances)
