"""``soundstorm semantic``: fit a features + k-means tokenizer, or tokenize audio.

Usage::

    # k-means (500 ids) on layer 6 of HuBERT base, fitted on up to an hour of your audio
    soundstorm semantic fit AUDIO_DIR_OR_MANIFEST runs/hubert_l6_k500 \\
        --kind hubert --model facebook/hubert-base-ls960 --layer 6 --clusters 500

    # Moonshine encoder features (the default of soundstorm prepare, which fits it itself)
    soundstorm semantic fit AUDIO_DIR_OR_MANIFEST runs/moonshine_k128 --kind moonshine \
        --clusters 128

    # --kind is any registered feature extractor (soundstorm.semantic.registry)
    # the saved directory is then a tokenizer name everywhere (prepare, generate ...)
    soundstorm semantic tokenize speech.wav --tokenizer runs/hubert_l6_k500
    soundstorm semantic tokenize speech.wav --tokenizer data/tokens/semantic_tokenizer
    soundstorm semantic tokenize speech.wav              # PocketSphinx phone ids
"""

from __future__ import annotations

import argparse

from soundstorm.commands.options import add_device_argument, add_quiet_argument, add_seed_argument
from soundstorm.errors import SoundStormError
from soundstorm.files import output_folder
from soundstorm.validation import resolve_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``fit`` and ``tokenize`` actions to ``parser``."""
    from soundstorm.semantic.registry import feature_extractor_kinds

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    fit = actions.add_parser("fit", help="fit k-means on a hidden layer of a speech model")
    fit.add_argument("source", help="folder of audio files (recursive) or a manifest")
    fit.add_argument("out_dir", help="directory to save the tokenizer into")
    fit.add_argument(
        "--kind", choices=feature_extractor_kinds(), default="hubert", help="feature extractor"
    )
    fit.add_argument(
        "--model", help="local directory or hub id of the model (hubert, w2v-bert: required)"
    )
    fit.add_argument(
        "--layer", type=int, help="hidden layer to quantise (hubert, w2v-bert: required)"
    )
    fit.add_argument("--clusters", type=int, default=500, help="number of k-means ids")
    fit.add_argument(
        "--max-seconds", type=float, default=3600.0, help="use at most this much audio"
    )
    add_device_argument(fit, default="cpu", what="the speech model")
    fit.add_argument("--iters", type=int, default=50, help="maximum k-means iterations")
    add_seed_argument(fit, "the k-means initialisation")
    add_quiet_argument(fit)

    tokenize = actions.add_parser("tokenize", help="print the semantic tokens of audio files")
    tokenize.add_argument("audio", nargs="+", help="audio files")
    tokenize.add_argument(
        "--tokenizer",
        default="phones-words",
        help="a saved directory (e.g. OUT_DIR/semantic_tokenizer of soundstorm prepare) or a "
        "name: phones-words, phones (default: %(default)s)",
    )
    tokenize.add_argument("--max-tokens", type=int, default=200, help="print at most this many")


def _fit(args: argparse.Namespace) -> int:
    from soundstorm.audio import load_audio
    from soundstorm.data.inputs import list_inputs
    from soundstorm.semantic.features_kmeans import fit_tokenizer

    if args.clusters < 1:
        raise SoundStormError(f"--clusters must be >= 1, got {args.clusters}")
    if args.kind in ("hubert", "w2v-bert") and (args.model is None or args.layer is None):
        raise SoundStormError(f"--kind {args.kind} needs --model and --layer")
    device = resolve_device(args.device)  # before the audio is read and the model loaded
    clips, seconds = [], 0.0
    for item in list_inputs(args.source):
        if seconds >= args.max_seconds:
            break
        wav, _ = load_audio(item.path, sample_rate=16000)  # (1, S)
        wav = wav[:, : int((args.max_seconds - seconds) * 16000)]
        clips.append(wav)
        seconds += wav.shape[-1] / 16000
    settings = {}  # the moonshine extractor takes none
    if args.model is not None or args.layer is not None:
        settings = {"model_name_or_path": args.model, "layer": args.layer}
    tokenizer = fit_tokenizer(
        args.kind,
        settings,
        clips,
        16000,
        num_clusters=args.clusters,
        device=device,
        num_iters=args.iters,
        seed=args.seed,
    )
    out = tokenizer.save(args.out_dir)
    if args.quiet:
        return 0
    source = f"layer {args.layer} of {args.model}" if args.model else f"{args.kind} features"
    print(
        f"fitted {args.clusters} clusters on {source} "
        f"({len(clips)} files, {seconds:.0f} s of audio) -> {out}"
    )
    return 0


def _tokenize(args: argparse.Namespace) -> int:
    from soundstorm.audio import load_audio, naming_audio_errors
    from soundstorm.semantic.phones import PhoneTokenizer
    from soundstorm.semantic.registry import get_semantic_tokenizer

    tokenizer = get_semantic_tokenizer(args.tokenizer)
    for path in args.audio:
        wav, sample_rate = load_audio(path)  # (1, S)
        with naming_audio_errors(path):  # e.g. shorter than one semantic frame
            tokens = tokenizer.tokenize(wav[None], sample_rate)[0]  # (T_sem,)
        shown = tokens[: args.max_tokens]
        if isinstance(tokenizer, PhoneTokenizer):
            text = " ".join(tokenizer.phone_names(shown))
        else:
            text = " ".join(str(int(t)) for t in shown)
        more = " ..." if tokens.numel() > args.max_tokens else ""
        print(f"{path}: {tokens.numel()} tokens at {tokenizer.frame_rate:g} Hz: {text}{more}")
    return 0


def main(args: argparse.Namespace) -> int:
    """Run ``soundstorm semantic fit|tokenize``."""
    if args.action != "fit":
        return _tokenize(args)
    with output_folder(args.out_dir, "soundstorm semantic fit"):  # before minutes of fitting
        return _fit(args)
