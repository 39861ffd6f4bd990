"""``soundstorm demo``: say this in that voice, with the shipped default model.

The main job on a fresh machine, with no download: the words of a *content* recording (or of
``--text``, through the flite front end) are said in the voice of a *prompt* recording. The
shipped default model, codec and sample files are used unless others are given::

    soundstorm demo                                   # shipped content + prompt
    soundstorm demo --prompt my_voice.wav             # the shipped sentence in my voice
    soundstorm demo --content words.wav --prompt voice.wav --model runs/x/checkpoints/step_N/model
    soundstorm demo --text "Say this sentence."      # flite phones and durations as content

Writes to ``--out-dir`` (default ``out/demo``): ``generated.wav``, the inputs used
(``content.wav``, ``prompt.wav``), ``results.md`` / ``results.json`` (the evaluation table:
Whisper tiny.en WER, with PocketSphinx beside it, of generated audio and of codec
resynthesis, Resemblyzer similarity to the prompt, DNSMOS, consistency over time, real-time
factor) and spectrogram PNGs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from soundstorm.commands.options import (
    add_decoding_arguments,
    add_device_argument,
    add_out_dir_argument,
    add_quiet_argument,
    add_seed_argument,
    decode_options_from_args,
    schedule_text,
)
from soundstorm.errors import SoundStormError
from soundstorm.files import check_writable
from soundstorm.semantic.text import DEFAULT_TEXT_VOICE
from soundstorm.validation import require_int, resolve_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``soundstorm demo`` (decoding flags: ``add_decoding_arguments``)."""
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--content", type=Path, help="audio whose words are said (default: sample)")
    what.add_argument("--text", help="text to say, through the flite front end (needs flite)")
    parser.add_argument(
        "--content-text",
        help="the words said in --content (default: the sample's; else none): force-aligned "
        "into its phones instead of recognised, and the WER's reference",
    )
    parser.add_argument(
        "--recognise",
        action="store_true",
        help="recognise the content's words even when --content-text is known",
    )
    parser.add_argument("--prompt", type=Path, help="audio of the voice (default: sample)")
    parser.add_argument(
        "--unseen",
        action="store_true",
        help="use the shipped prompt of a voice held out of training",
    )
    parser.add_argument("--prompt-seconds", type=float, default=3.0, help="prompt length kept")
    parser.add_argument(
        "--text-voice", default=DEFAULT_TEXT_VOICE, help="front-end voice for --text"
    )
    parser.add_argument("--model", type=Path, help="model directory (default: the shipped one)")
    add_out_dir_argument(parser, "output folder (default: %(default)s)", default="out/demo")
    add_decoding_arguments(parser)
    add_device_argument(parser, default="cpu")
    add_seed_argument(parser)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-eval", action="store_true", help="generate only, no evaluation")
    add_quiet_argument(parser)


def _inputs(args: argparse.Namespace) -> tuple[Path | None, str | None, Path]:
    """(content audio or None, transcript or None, prompt audio), checked before any work."""
    from soundstorm.assets import sample_path

    if args.prompt is not None and args.unseen:
        raise SoundStormError("give --prompt or --unseen, not both")
    prompt = args.prompt or sample_path("prompt_unseen.wav" if args.unseen else "prompt.wav")
    if not Path(prompt).is_file():
        raise FileNotFoundError(f"prompt audio not found: {prompt}")
    if args.text is not None:
        if not args.text.strip():
            raise SoundStormError("--text is empty")
        if args.content_text is not None:
            raise SoundStormError("--content-text goes with --content, not --text")
        return None, args.text.strip(), Path(prompt)
    if args.content is None:
        content = sample_path("content.wav")
        text = args.content_text or sample_path("content.txt").read_text().strip()
        return content, text, Path(prompt)
    if not args.content.is_file():
        raise FileNotFoundError(f"content audio not found: {args.content}")
    return args.content, args.content_text, Path(prompt)


def main(args: argparse.Namespace) -> int:
    from soundstorm.audio import load_audio, save_audio
    from soundstorm.pipeline import VoicePipeline

    if args.prompt_seconds <= 0:
        raise SoundStormError("--prompt-seconds must be > 0")
    options = decode_options_from_args(args)  # a bad value fails before anything loads
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise SoundStormError(f"--out-dir {out} exists and is not a folder")
    content_path, text, prompt_path = _inputs(args)
    check_writable(out)  # read-only or full: said before the model loads
    if not args.no_eval:
        from soundstorm.evaluate.suite import check_dependencies

        check_dependencies([*_metrics(text), "codec", "plots"])
    if args.threads is not None:
        torch.set_num_threads(require_int("--threads", args.threads, minimum=1))
    if args.model is None:
        from soundstorm.assets import default_model_dir

        model_dir = default_model_dir()
    else:
        model_dir = args.model
    device = resolve_device(args.device)  # "cuda" without CUDA: one line, before any work
    pipeline = VoicePipeline.from_directory(model_dir, device=device)
    rate = pipeline.codec.sample_rate

    prompt_wav, _ = load_audio(prompt_path, rate)
    prompt_wav = prompt_wav[..., : int(args.prompt_seconds * rate)]
    start = time.perf_counter()
    how = "timed by the text front end"
    if content_path is None:
        request = pipeline.make_text_request(
            text,
            prompt_wav,
            rate,
            prompt_seconds=None,
            voice=args.text_voice,
            prompt_source=prompt_path,
        )
        content_wav = None
    else:
        content_wav, _ = load_audio(content_path, rate)
        aligned = text is not None and not args.recognise and pipeline.tokenizer.accepts_transcripts
        how = "its transcript aligned" if aligned else "its words recognised"
        request = pipeline.make_request(
            content_wav,
            rate,
            prompt_wav,
            rate,
            prompt_seconds=None,
            content_source=content_path,
            prompt_source=prompt_path,
            content_transcript=text if aligned else None,
        )
    tokenize_seconds = time.perf_counter() - start

    options = pipeline.recommended_options(options)  # the model's steps unless --steps
    steps = options.level_steps(pipeline.engine.config.num_levels)
    generator = torch.Generator(pipeline.engine.device).manual_seed(args.seed)
    start = time.perf_counter()
    codes = pipeline.generate([request], generator=generator, options=options)[0]
    token_seconds = time.perf_counter() - start
    wav = pipeline.decode(codes)
    generation_seconds = time.perf_counter() - start
    seconds = wav.shape[-1] / rate

    out.mkdir(parents=True, exist_ok=True)
    save_audio(out / "generated.wav", wav, rate)
    save_audio(out / "prompt.wav", prompt_wav, rate)
    if content_wav is not None:
        save_audio(out / "content.wav", content_wav, rate)
    say = _say_unless(args.quiet)
    say(
        f"soundstorm demo: {seconds:.2f} s of audio in the voice of {prompt_path.name} "
        f"({pipeline.engine.model.num_parameters() / 1e6:.1f}M-parameter model, steps "
        f"{schedule_text(steps)}, {torch.get_num_threads()} CPU threads)\n"
        f"  semantic tokens {tokenize_seconds:.2f} s ({how}); tokens {token_seconds:.2f} s + codec decode "
        f"{generation_seconds - token_seconds:.2f} s = {generation_seconds:.2f} s "
        f"({seconds / generation_seconds:.1f}x real time)\n"
        f"  wrote {out / 'generated.wav'}"
    )
    if args.no_eval:
        return 0
    return _evaluate(out, text, content_wav is not None, generation_seconds, pipeline.codec, say)


def _say_unless(quiet: bool):
    """A ``print`` to stderr, or (``--quiet``) a function that prints nothing."""

    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    return say


def _metrics(text: str | None) -> tuple[str, ...]:
    """The suite's metric families for the demo: all of them, less the WER without a text."""
    from soundstorm.evaluate.suite import ALL_METRICS

    return ALL_METRICS if text else tuple(m for m in ALL_METRICS if m != "wer")


def _evaluate(out: Path, text: str | None, has_content: bool, seconds: float, codec, say) -> int:
    from soundstorm.evaluate.manifest import EvaluationItem
    from soundstorm.evaluate.report import markdown_table, write_report
    from soundstorm.evaluate.suite import SuiteOptions, evaluate_items

    item = EvaluationItem(
        id="demo",
        generated=out / "generated.wav",
        reference=out / "content.wav" if has_content else None,
        prompt=out / "prompt.wav",
        text=text,
        generation_seconds=seconds,
    )
    say("soundstorm demo: evaluating (Whisper, PocketSphinx, Resemblyzer, DNSMOS)...")
    report = evaluate_items([item], SuiteOptions(metrics=_metrics(text), codec=codec))
    written = write_report(report, out)
    print(markdown_table(report), end="")
    names = ", ".join(p.name for p in written)
    say(f"soundstorm demo: wrote {names} to {out}")
    return 0
