"""``soundstorm edit``: replace a span of a recording with new words, in the recording's voice.

::

    soundstorm edit --audio rec.wav --start 0.52 --end 0.84 --content words.wav --out edited.wav
    soundstorm edit --audio rec.wav --start 0.52 --end 0.84 --text "window" --out edited.wav

The span ``[--start, --end)`` (seconds) takes the new content's duration (a recording of the
new words, cut to them, or ``--text`` timed by a flite / festival voice: the model must use
phone ids); the codec tokens before and after it are kept, the span's are generated with them
known on both sides (``soundstorm.editing``), and the whole recording is decoded. A bad span
(start >= end, outside the audio, shorter than one codec frame) is a one-line error, exit
status 2, and nothing is written. Uses the shipped default model unless ``--model`` is given.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from soundstorm.commands.options import (
    add_decoding_arguments,
    add_device_argument,
    add_out_argument,
    add_quiet_argument,
    add_seed_argument,
    decode_options_from_args,
)
from soundstorm.errors import SoundStormError
from soundstorm.files import check_writable
from soundstorm.semantic.text import DEFAULT_TEXT_VOICE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``soundstorm edit`` (decoding flags: ``add_decoding_arguments``)."""
    parser.add_argument("--audio", required=True, type=Path, help="the recording to edit")
    parser.add_argument("--start", required=True, type=float, help="span start (seconds)")
    parser.add_argument("--end", required=True, type=float, help="span end (seconds)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--content", type=Path, help="audio of the new words (cut to them)")
    what.add_argument("--text", help="the new words as text (phones timed by --text-voice)")
    parser.add_argument(
        "--text-voice", default=DEFAULT_TEXT_VOICE, help="flite / festival voice timing --text"
    )
    add_out_argument(parser, "the edited recording (audio file)", required=True, aliases=("-o",))
    parser.add_argument(
        "--model",
        help="voice model directory (soundstorm export) or save_pretrained directory "
        "(default: the shipped default model)",
    )
    parser.add_argument("--codec", help="codec name or fitted codec file (default: pipeline.json)")
    parser.add_argument(
        "--semantic", help="semantic tokenizer (default: pipeline.json or 'default')"
    )
    parser.add_argument(
        "--context-seconds",
        type=float,
        default=None,
        help="known audio the model sees on each side of the span (default: the whole "
        "recording; the rest is kept all the same)",
    )
    parser.add_argument(
        "--keep-silence",
        action="store_true",
        help="keep the new content's leading and trailing silence (default: trimmed)",
    )
    add_decoding_arguments(parser)
    add_device_argument(parser)
    add_seed_argument(parser)
    add_quiet_argument(parser)


def main(args: argparse.Namespace) -> int:
    """Edit the recording, write ``--out``; return 0."""
    from soundstorm.audio import load_audio, save_audio
    from soundstorm.editing import edit_speech, make_edit_request, span_frames
    from soundstorm.pipeline import VoicePipeline
    from soundstorm.semantic.text import text_voice
    from soundstorm.validation import resolve_device

    options = decode_options_from_args(args)  # a bad value fails before anything loads
    if args.text is not None:
        if not args.text.strip():
            raise SoundStormError("--text is empty")
        text_voice(args.text_voice)  # an unknown voice fails before the model loads
    if args.context_seconds is not None and args.context_seconds < 0:
        raise SoundStormError("--context-seconds must be >= 0")
    recording, rate = load_audio(args.audio)
    span_frames(args.start, args.end, recording.shape[-1] / rate)  # before the model loads
    content = content_rate = None
    if args.content is not None:
        content, content_rate = load_audio(args.content)
    if args.model is None:
        from soundstorm.assets import default_model_dir

        args.model = str(default_model_dir())
    elif not Path(args.model).is_dir():
        raise SoundStormError(f"model directory not found: {args.model}")
    device = resolve_device(args.device)
    check_writable(Path(args.out).parent)  # read-only or full: said before the model loads

    started = time.perf_counter()
    pipeline = VoicePipeline.from_directory(args.model, args.codec, args.semantic, device)
    request = make_edit_request(
        pipeline,
        recording,
        rate,
        args.start,
        args.end,
        content=content,
        content_rate=content_rate,
        text=args.text,
        text_voice=args.text_voice,
        context_seconds=args.context_seconds,
        trim_silence=not args.keep_silence,
        recording_source=args.audio,
        content_source=args.content,
    )
    generator = torch.Generator(device=device).manual_seed(args.seed)
    codes = edit_speech(pipeline, [request], options=options, generator=generator)[0]
    wav = pipeline.decode(codes)
    save_audio(args.out, wav, pipeline.codec.sample_rate)
    if not args.quiet:
        frame_rate = pipeline.codec.frame_rate
        first, last = request.span
        print(
            f"edited {args.audio}: {args.start:g}-{args.end:g} s replaced by "
            f"{(last - first) / frame_rate:.2f} s of new content (frames {first}-{last}) -> "
            f"{args.out} ({wav.shape[-1] / pipeline.codec.sample_rate:.2f} s) in "
            f"{time.perf_counter() - started:.1f} s"
        )
    return 0
