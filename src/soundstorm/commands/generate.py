"""``soundstorm generate``: say this in that voice, for one request or a manifest of many.

One request, with the shipped default model (``--model DIR`` for another)::

    soundstorm generate --content words.wav --prompt voice.wav --out out.wav

Text instead of a content recording (phones and durations from a flite / festival voice,
``--text-voice``; the model must use phone ids, the ``default`` semantic tokenizer)::

    soundstorm generate --model runs/small/final --text "Say this." --prompt voice.wav \\
        --out out.wav

The words of the content recording, when known, make its phones exact: they are
force-aligned to the recording instead of recognised (phone-token models, such as the
shipped one)::

    soundstorm generate --content words.wav --content-text "The words said." \
        --prompt voice.wav --out out.wav

Many requests (JSONL, one object per line: ``content`` or ``text``, and optional
``content_text``, ``prompt``, ``id``, ``out``; relative paths are resolved against the
manifest's folder),
batched and written to ``--out-dir``, resumable (existing outputs are skipped unless
``--overwrite``)::

    soundstorm generate --model DIR --manifest requests.jsonl --out-dir outputs/

On several GPUs each rank takes its own share of the manifest::

    torchrun --nproc_per_node 8 -m soundstorm generate --model DIR --manifest m.jsonl --out-dir o/

The model directory names its codec and semantic tokenizer in ``pipeline.json``, or pass
``--codec`` and ``--semantic``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from soundstorm.commands.options import (
    add_decoding_arguments,
    add_device_argument,
    add_out_argument,
    add_out_dir_argument,
    add_quiet_argument,
    add_seed_argument,
    decode_options_from_args,
    progress_disabled,
)
from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_write_text, check_writable, folder_lock, sweep_temp_files
from soundstorm.semantic.text import DEFAULT_TEXT_VOICE
from soundstorm.validation import distributed_env, distributed_group, resolve_rank_device


@dataclass
class Row:
    """One request: ``content`` audio or ``text`` (exactly one), optional ``prompt`` audio,
    optional ``content_text`` (the words of ``content``)."""

    id: str
    content: Path | None
    prompt: Path | None
    out: Path
    text: str | None = None
    content_text: str | None = None

    @property
    def size(self) -> int:
        """Rough length in bytes of audio, to batch similar lengths together.

        A text counts as speech at ~15 characters per second in 16-bit 16 kHz audio.
        """
        return self.content.stat().st_size if self.content else 2000 * len(self.text or "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``soundstorm generate`` (decoding flags: ``add_decoding_arguments``)."""
    parser.add_argument(
        "--model",
        help="voice model directory (soundstorm export) or save_pretrained directory of a "
        "SoundStorm (default: the shipped default model)",
    )
    parser.add_argument("--codec", help="codec name or fitted codec file (default: pipeline.json)")
    parser.add_argument(
        "--semantic",
        help="semantic tokenizer: a saved directory (e.g. OUT_DIR/semantic_tokenizer of "
        "soundstorm prepare) or a name (phones-words, phones) (default: the model's "
        "pipeline.json)",
    )
    parser.add_argument("--content", help="audio whose words are said")
    parser.add_argument("--text", help="text to say (instead of --content)")
    parser.add_argument(
        "--content-text",
        help="the words said in --content: force-aligned into its phones instead of "
        "recognised (phone-token models)",
    )
    parser.add_argument(
        "--text-voice",
        default=DEFAULT_TEXT_VOICE,
        help="flite / festival voice timing the phones of --text and manifest texts",
    )
    parser.add_argument("--prompt", help="audio of the voice to use (a few seconds)")
    add_out_argument(parser, "output audio file (with --content or --text)", aliases=("-o",))
    parser.add_argument("--manifest", help="JSONL of requests: content or text, prompt, id, out")
    add_out_dir_argument(parser, "output folder (with --manifest)")
    parser.add_argument("--prompt-seconds", type=float, default=3.0, help="prompt length to keep")
    add_decoding_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--window",
        type=int,
        default=1500,
        help="longest single pass in frames; longer requests are generated in chunks",
    )
    parser.add_argument("--context", type=int, default=250, help="frames each chunk is prompted by")
    add_device_argument(parser)
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    add_seed_argument(parser, "sampling (rank r of torchrun uses SEED + r)")
    parser.add_argument("--overwrite", action="store_true", help="redo existing outputs")
    add_quiet_argument(parser)


def read_manifest(path: Path, out_dir: Path) -> list[Row]:
    """Parse a JSONL request manifest; raises ``SoundStormError`` naming the bad line."""
    if not path.is_file():
        raise SoundStormError(f"manifest not found: {path}")
    rows, seen = [], set()
    base = path.parent
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise SoundStormError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(item, dict) or ("content" in item) == ("text" in item):
            raise SoundStormError(
                f"{path}:{number}: each line needs a 'content' audio path or a 'text' (one)"
            )
        text, content_text = item.get("text"), item.get("content_text")
        for key, value in (("text", text), ("content_text", content_text)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise SoundStormError(f"{path}:{number}: '{key}' must be a non-empty string")
        if content_text is not None and text is not None:
            raise SoundStormError(f"{path}:{number}: 'content_text' goes with 'content'")
        content = base / item["content"] if text is None else None
        row_id = str(item.get("id", content.stem if content else f"line{number}"))
        if row_id in seen:
            raise SoundStormError(f"{path}:{number}: duplicate id {row_id!r}")
        seen.add(row_id)
        prompt = base / item["prompt"] if item.get("prompt") else None
        out = out_dir / item.get("out", f"{row_id}.wav")
        for audio in (content, prompt):
            if audio is not None and not audio.is_file():
                raise SoundStormError(f"{path}:{number}: audio file not found: {audio}")
        rows.append(Row(row_id, content, prompt, out, text, content_text))
    if not rows:
        raise SoundStormError(f"manifest {path} holds no request")
    return rows


def rows_from_args(args: argparse.Namespace) -> tuple[list[Row], Path]:
    """The requests of the command line (one, or a manifest's) and the output folder."""
    given = [flag for flag in ("content", "text", "manifest") if getattr(args, flag) is not None]
    if len(given) != 1:
        raise SoundStormError(
            "give either --content or --text (one request) or --manifest (many)"
            + (f", not --{' and --'.join(given)}" if given else "")
        )
    if args.manifest:
        if args.content_text is not None:
            raise SoundStormError(
                "--content-text goes with --content; a manifest has 'content_text'"
            )
        if not args.out_dir:
            raise SoundStormError("--manifest needs --out-dir")
        out_dir = Path(args.out_dir)
        return read_manifest(Path(args.manifest), out_dir), out_dir
    if not args.out:
        raise SoundStormError(f"--{given[0]} needs --out")
    for audio in (args.content, args.prompt):
        if audio and not Path(audio).is_file():
            raise SoundStormError(f"audio file not found: {audio}")
    if args.text is not None and not args.text.strip():
        raise SoundStormError("--text is empty")
    content_text = args.content_text
    if content_text is not None and (args.content is None or not content_text.strip()):
        raise SoundStormError("--content-text must be the non-empty words of --content")
    out = Path(args.out)
    content = Path(args.content) if args.content else None
    prompt = Path(args.prompt) if args.prompt else None
    row = Row(content.stem if content else out.stem, content, prompt, out, args.text, content_text)
    return [row], out.parent


class ResultIndex:
    """``generated.jsonl``: one JSON line per finished request of the output folder.

    It is merged with what is already there, never replaced by one run's rows: a resumed
    run, or a re-run of a finished job (every output skipped), keeps the rows of earlier
    runs; an output on disk without a row (its run was killed before writing the index)
    gets one from its audio file's header; a row whose output is gone is dropped. Lines of
    other requests (another manifest into the same folder) are kept as they are. Written
    atomically with a unique temporary name (``soundstorm.files.atomic_write_text``).

    Args:
        path: the index file.
        rows: this run's requests (their order is the file's order).
    """

    def __init__(self, path: Path, rows: list[Row]) -> None:
        self.path, self.rows = path, rows
        self.records: dict[str, dict] = {}
        self.others: list[dict] = []  # rows of requests not in this manifest
        ids = {row.id for row in rows}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a damaged line: its output gets a fresh row below
                if not isinstance(record, dict) or "id" not in record:
                    continue
                if record["id"] in ids:
                    self.records[str(record["id"])] = record
                else:
                    self.others.append(record)

    def write(self, frame_rate: float | None = None) -> None:
        """Write the merged index; with ``frame_rate``, rows for outputs that have none."""
        lines = []
        for row in self.rows:
            record = self.records.get(row.id)
            if record is None and frame_rate is not None and row.out.is_file():
                record = self.records[row.id] = _recovered_record(row, frame_rate)
            if record is not None and row.out.is_file():
                lines.append(json.dumps(record) + "\n")
        lines += [json.dumps(record) + "\n" for record in self.others]
        atomic_write_text(self.path, "".join(lines))


def _recovered_record(row: Row, frame_rate: float) -> dict:
    """The index row of an output written by an earlier run that left no row for it."""
    import soundfile

    try:
        info = soundfile.info(str(row.out))
        seconds = info.frames / info.samplerate
    except (RuntimeError, OSError):  # unreadable: listed, without a duration
        seconds = 0.0
    return {
        "id": row.id,
        "out": str(row.out),
        "seconds": round(seconds, 3),
        "frames": round(seconds * frame_rate),
    }


def main(args: argparse.Namespace) -> int:
    """Generate every request not done yet; write audio (and generated*.jsonl); return 0."""
    from soundstorm.semantic.text import text_voice

    decode_options_from_args(args)  # a bad value fails before anything loads
    if not 0 < args.context < args.window:
        raise SoundStormError("need 0 < --context < --window")
    if args.batch_size < 1 or args.prompt_seconds <= 0:
        raise SoundStormError("--batch-size must be >= 1, --prompt-seconds > 0")
    if args.model is None:
        from soundstorm.assets import default_model_dir

        args.model = str(default_model_dir())
    elif not Path(args.model).is_dir():
        raise SoundStormError(f"model directory not found: {args.model}")
    rows, out_dir = rows_from_args(args)
    if any(row.text is not None for row in rows):
        text_voice(args.text_voice)  # an unknown voice fails before the model loads
    rank, world, _ = distributed_env()
    device = resolve_rank_device(args.device)  # "cuda" without CUDA: a one-line error, exit 2
    with contextlib.ExitStack() as held:
        if args.manifest:  # a folder of many outputs: one run at a time (ranks share it)
            held.enter_context(folder_lock(out_dir, "soundstorm generate", distributed_group()))
            if rank == 0:
                sweep_temp_files(out_dir, depth=1)
        check_writable(out_dir)  # read-only, no permission, full: before the model loads
        return _generate(args, rows, out_dir, rank, world, device)


def _generate(args, rows: list[Row], out_dir: Path, rank: int, world: int, device) -> int:
    """Generate this rank's requests not done yet; keep the result index up to date."""
    from tqdm import tqdm

    from soundstorm.audio import load_audio, save_audio
    from soundstorm.pipeline import VoicePipeline

    options = decode_options_from_args(args)
    rows = rows[rank::world]
    todo = [r for r in rows if args.overwrite or not r.out.exists()]
    todo.sort(key=lambda r: r.size)  # similar lengths share a batch
    index = None
    if len(rows) > 1 or world > 1:
        name = "generated.jsonl" if world == 1 else f"generated.rank{rank}.jsonl"
        index = ResultIndex(out_dir / name, rows)

    pipeline = VoicePipeline.from_directory(
        args.model, args.codec, args.semantic, device, args.compile
    )
    generator = torch.Generator(device=device).manual_seed(args.seed + rank)
    audio_seconds, started = 0.0, time.perf_counter()
    batches = [todo[i : i + args.batch_size] for i in range(0, len(todo), args.batch_size)]
    disable = True if len(batches) < 2 else progress_disabled(args)
    for batch in tqdm(batches, desc=f"generate (rank {rank})", disable=disable):
        requests = []
        for row in batch:
            prompt, prompt_rate = load_audio(row.prompt) if row.prompt else (None, None)
            if row.text is not None:
                request = pipeline.make_text_request(
                    row.text,
                    prompt,
                    prompt_rate,
                    args.prompt_seconds,
                    args.text_voice,
                    prompt_source=row.prompt,
                )
            else:
                content, content_rate = load_audio(row.content)
                request = pipeline.make_request(
                    content,
                    content_rate,
                    prompt,
                    prompt_rate,
                    args.prompt_seconds,
                    content_source=row.content,
                    prompt_source=row.prompt,
                    content_transcript=row.content_text,
                )
            requests.append(request)
        start = time.perf_counter()
        codes = pipeline.generate(
            requests, generator=generator, window=args.window, context=args.context, options=options
        )
        tokens_seconds = time.perf_counter() - start
        for row, c in zip(batch, codes):
            wav = pipeline.decode(c)
            save_audio(row.out, wav, pipeline.codec.sample_rate)
            seconds = wav.shape[-1] / pipeline.codec.sample_rate
            audio_seconds += seconds
            if index is not None:
                index.records[row.id] = {
                    "id": row.id,
                    "out": str(row.out),
                    "seconds": round(seconds, 3),
                    "frames": int(c.shape[-1]),
                    "token_time_s": round(tokens_seconds / len(batch), 4),
                }
        if index is not None:
            index.write()  # after every batch: a killed run keeps the rows it finished
    elapsed = time.perf_counter() - started
    if index is not None:
        index.write(frame_rate=pipeline.codec.frame_rate)  # + rows done by a killed run
    if args.quiet:
        return 0
    skipped = len(rows) - len(todo)
    speed = f", {audio_seconds / elapsed:.1f}x real time" if audio_seconds else ""
    print(
        f"generated {len(todo)} file(s) ({audio_seconds:.1f} s of audio) in {elapsed:.1f} s{speed}"
        + (f"; skipped {skipped} existing" if skipped else "")
        + f" -> {out_dir}"
    )
    return 0
