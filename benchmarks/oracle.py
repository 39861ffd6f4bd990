"""Oracle decomposition of a voice model: which part of the chain loses intelligibility.

Run (needs the ``eval`` extra; a few minutes for the defaults on a 2-core CPU)::

    python benchmarks/oracle.py --model src/soundstorm/assets/default \\
        --corpus /work/data/corpus --out /tmp/oracle
    python benchmarks/oracle.py --model runs/default --corpus /work/data/corpus --out /tmp/o \\
        --sentences 2 --voices flite-slt flite-rms --threads 1 --no-dnsmos

Protocol (``benchmarks/eval_voice.py``'s items, short ones only; every choice is deterministic):

- Items: ``eval_voice.pair_items`` for the first ``--sentences`` test sentences (default 10)
  that every target voice of ``--voices`` (default ``eval_voice.DEFAULT_VOICES``) recorded;
  seen and held-out voices (``summary.json``'s ``held_out_voices``) are summarised apart.
- Content = reference: an item's *reference* recording (the target voice saying the
  sentence) gives both the semantic tokens and the ground-truth (GT) codec codes, so every
  condition below aims at the same frames. The prompt is eval_voice's: 3.0 s of the target
  voice from other test sentences (``prompts/<id>.wav``).
- Model input: as ``VoicePipeline.make_request(reference, prompt)`` builds it:
  ``cond = [semantic(prompt) | semantic(reference)]``, ``prompt = codec(prompt)``. GT =
  ``codec.encode(reference)`` (the first Q levels; its frame count is the content's, both
  ``ceil(seconds x frame rate)``, cut to the shorter should rounding differ).
- Generation: ``soundstorm.decoding.generate_tokens`` on the model of the pipeline, padded
  batches of ``--batch-size`` items, ``torch.Generator`` seeded with ``--seed`` plus the batch
  index (the same seeds for every condition), the decoding flags (``--temperature``, ...) as
  given. An *oracle* level is forced to GT without changing the library: the level forward
  passed to ``generate_tokens`` returns, at that level, logits of ``ORACLE_LOGIT`` at the GT
  code and 0 elsewhere (the model is not called), so sampling and the greedy fill both pick
  GT; at the other levels it calls the model, which sees the oracle levels' GT codes.
  With no oracle level the tokens are exactly ``SoundStorm.generate``'s (same seed).
- Conditions (each decoded by the pipeline's codec, ``VoicePipeline.decode``, on the frames
  after the prompt, as ``eval_voice`` decodes):

  * ``resynth``: GT codes, all Q levels of the model (the codec's ceiling);
  * ``resynth_l1``: GT level 1 only (``Codec.decode`` takes the coarse levels alone: the
    finer residuals count as zero);
  * ``gen_l1_gt_finer``: level 1 generated, levels 2..Q GT;
  * ``gt_l1_gen_finer``: level 1 GT, levels 2..Q generated (one greedy pass each);
  * ``gen_l1_only``: level 1 generated, decoded alone (finer residuals zero): whether
    generated finer levels help or hurt;
  * ``gen_all_s<n>``: every level generated, ``n`` first-level passes and one per finer
    level, for each ``n`` of ``--steps`` (default 8 16 32).

  ``--finer-steps m`` (default 1, the paper's greedy pass) gives every generated finer level
  ``m`` confidence-ranked passes instead, sampled with ``--temperature`` like the first level.

  Level 1 of the mixed conditions takes the model's recommended first-level passes
  (``pipeline.json`` ``steps``, else the paper's 16). A ``reference`` row judges the
  recording itself (the judge's own level).
- Judge (``soundstorm.evaluate.evaluate_item``, as ``eval_voice``): Whisper tiny.en WER
  against the sentence (text normalised by ``normalize_text``), corpus level per condition
  (all word errors over all words) for seen and held-out voices apart; Resemblyzer
  similarity to the prompt; DNSMOS overall (``--no-dnsmos``: skipped).

Writes into ``--out``: ``prompts/<id>.wav``, ``<condition>/<id>.wav``, ``report.json``
(header, conditions, every clip's metrics and transcript, the grouped summary) and
``summary.md`` (the table, also printed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import eval_voice  # the sibling script (the protocol's helpers): its folder is on sys.path
import torch

from soundstorm.audio import load_audio, save_audio
from soundstorm.commands.options import (
    add_decoding_arguments,
    decode_options_from_args,
    schedule_text,
)
from soundstorm.decoding import DecodeOptions, generate_tokens
from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_write_text

PairedItem = eval_voice.PairedItem
Recording = eval_voice.Recording

ORACLE_LOGIT = 1e4  # the GT code's logit at an oracle level (0 elsewhere): GT always wins
DEFAULT_STEPS = (8, 16, 32)
REFERENCE_ROW = "reference"


@dataclass(frozen=True)
class Condition:
    """One way of making an item's codes.

    Attributes:
        name: the row name (``resynth``, ``gen_all_s16``, ...).
        description: one line for the report.
        oracle_levels: levels forced to GT (0-based); None: nothing is generated, GT is decoded.
        decode_levels: how many coarse levels the codec decodes (None: all Q).
        steps: first-level passes of the generation (None: the model's recommended ones).
    """

    name: str
    description: str
    oracle_levels: tuple[int, ...] | None
    decode_levels: int | None = None
    steps: int | None = None


def conditions(num_levels: int, steps: list[int]) -> list[Condition]:
    """The conditions of the module docstring for a model of ``num_levels`` levels."""
    finer = tuple(range(1, num_levels))
    rows = [
        Condition("resynth", "GT codes, all levels (codec ceiling)", None),
        Condition("resynth_l1", "GT level 1 only (finer residuals zero)", None, decode_levels=1),
        Condition("gen_l1_gt_finer", "level 1 generated, levels 2..Q GT", finer),
        Condition("gt_l1_gen_finer", "level 1 GT, levels 2..Q generated", (0,)),
        Condition(
            "gen_l1_only", "level 1 generated, decoded alone (finer zero)", (), decode_levels=1
        ),
    ]
    rows += [
        Condition(f"gen_all_s{n}", f"all generated, {n} first-level passes", (), steps=n)
        for n in steps
    ]
    return rows


# ---------------------------------------------------------------------------- tokens
@dataclass
class OracleInput:
    """One item, tokenized: the pipeline's request (content = the reference) and GT codes.

    Attributes:
        item: the paired item.
        request: ``soundstorm.pipeline.Request``, ``cond [P + T]`` and ``prompt [Q, P]``.
        truth: ``LongTensor[Q, T]``, GT codes of the reference.
    """

    item: PairedItem
    request: object
    truth: torch.Tensor


def tokenize_items(
    pipeline, items: list[PairedItem], out: Path, transcripts: bool = False
) -> list[OracleInput]:
    """The request and GT codes of every item (prompts read from ``out/prompts``);
    ``transcripts``: the reference's semantic ids from its known words, force-aligned."""
    from soundstorm.pipeline import Request

    num_levels = pipeline.engine.config.num_levels
    inputs = []
    for item in items:
        reference, rate = load_audio(item.reference[0].path)
        prompt, prompt_rate = load_audio(eval_voice.input_path(item, out, "prompt"))
        transcript = item.text if transcripts else None
        request = pipeline.make_request(
            reference, rate, prompt, prompt_rate, content_transcript=transcript
        )
        truth = pipeline.codec.encode(reference[None], rate)[0, :num_levels].long()
        frames = min(request.content_frames, int(truth.shape[-1]))
        request = Request(request.cond[: request.prompt_frames + frames], request.prompt)
        inputs.append(OracleInput(item, request, truth[:, :frames]))
    return inputs


def batch_tensors(inputs: list[OracleInput], num_levels: int) -> dict[str, torch.Tensor]:
    """Padded ``cond [B, T]``, ``prompt [B, Q, P]``, ``lengths``, ``prompt_lengths`` (as
    ``VoicePipeline.generate`` pads) and ``truth [B, Q, T]``: the prompt's codes on the prompt
    frames, GT after them, 0 on padding."""
    requests = [i.request for i in inputs]
    lengths = torch.tensor([len(r.cond) for r in requests])
    prompt_lengths = torch.tensor([r.prompt_frames for r in requests])
    cond = torch.nn.utils.rnn.pad_sequence([r.cond for r in requests], batch_first=True)
    prompt = torch.zeros(len(requests), num_levels, int(prompt_lengths.max()), dtype=torch.long)
    truth = torch.zeros(len(requests), num_levels, cond.shape[-1], dtype=torch.long)
    for b, (one, r) in enumerate(zip(inputs, requests)):
        prompt[b, :, : r.prompt_frames] = r.prompt
        truth[b, :, : r.prompt_frames] = r.prompt
        truth[b, :, r.prompt_frames : len(r.cond)] = one.truth
    return {
        "cond": cond,
        "prompt": prompt,
        "lengths": lengths,
        "prompt_lengths": prompt_lengths,
        "truth": truth,
    }


# ---------------------------------------------------------------------------- generation
def oracle_forward(model, truth: torch.Tensor, oracle_levels, calls: list[int] | None = None):
    """A ``generate_tokens`` level forward that forces ``oracle_levels`` to ``truth``.

    Args:
        model: a ``SoundStorm``.
        truth: ``LongTensor[B, Q, T]`` codes the oracle levels take.
        oracle_levels: 0-based levels whose logits are ``ORACLE_LOGIT`` at the ``truth`` code
            and 0 elsewhere (the model is not called for them).
        calls: when given, one entry (the level) is appended per model call.

    Returns:
        ``forward(codes [B', Q, T], cond, lengths, level) -> logits [B', T, K]`` (``B'`` a
        multiple of B: classifier-free guidance doubles the batch, both halves take GT).
    """
    oracle_levels = frozenset(oracle_levels)
    size = model.config.codebook_size

    def forward(codes, cond, lengths, level):
        if level in oracle_levels:
            target = truth[:, level].to(codes.device)  # (B, T)
            target = target.repeat(codes.shape[0] // target.shape[0], 1)
            logits = torch.zeros(*target.shape, size, device=codes.device)
            return logits.scatter_(-1, target[..., None], ORACLE_LOGIT)
        if calls is not None:
            calls.append(level)
        return model(codes, cond, lengths, level=level, validate=False)

    return forward


def generate_with_oracle(
    model,
    batch: dict[str, torch.Tensor],
    oracle_levels,
    options: DecodeOptions,
    generator: torch.Generator | None = None,
    calls: list[int] | None = None,
    codebooks: torch.Tensor | None = None,
) -> torch.Tensor:
    """``generate_tokens`` on ``batch`` (``batch_tensors``) with ``oracle_levels`` forced to GT
    (``codebooks``: the codec's code vectors, for ``options.greedy_choice="mbr"``).

    Returns:
        ``LongTensor[B, Q, T]`` as ``SoundStorm.generate`` returns them; with no oracle level
        exactly its tokens for the same generator state.
    """
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    return generate_tokens(
        oracle_forward(model, batch["truth"], oracle_levels, calls),
        batch["cond"],
        num_levels=model.config.num_levels,
        mask_id=model.config.mask_id,
        prompt=batch["prompt"],
        lengths=batch["lengths"],
        prompt_lengths=batch["prompt_lengths"],
        options=options,
        generator=generator,
        codebooks=codebooks,
    )


def check_forced_levels(codes: torch.Tensor, batch: dict, oracle_levels) -> None:
    """Raise ``SoundStormError`` unless every oracle level equals GT on the generated frames."""
    for b in range(codes.shape[0]):
        start, end = int(batch["prompt_lengths"][b]), int(batch["lengths"][b])
        for level in oracle_levels:
            got, want = codes[b, level, start:end].cpu(), batch["truth"][b, level, start:end]
            if not torch.equal(got, want):
                raise SoundStormError(f"oracle level {level + 1} differs from GT in item {b}")


def make_condition(
    pipeline,
    condition: Condition,
    inputs: list[OracleInput],
    out: Path,
    batch_size: int,
    options: DecodeOptions,
    seed: int,
    finer_steps: int = 1,
) -> dict:
    """Write ``out/<condition>/<id>.wav`` for every input; return the condition's record
    (model calls per batch, seconds). ``finer_steps``: passes of each finer level."""
    model, num_levels = pipeline.engine.model, pipeline.engine.config.num_levels
    options = pipeline.recommended_options(options.replace(steps=condition.steps))
    if finer_steps > 1:
        first = options.level_steps(num_levels)[0]
        options = options.replace(steps=(first,) + (finer_steps,) * (num_levels - 1))
    folder = out / condition.name
    start, calls = time.perf_counter(), []
    for number in range(0, len(inputs), batch_size):
        chunk = inputs[number : number + batch_size]
        batch = batch_tensors(chunk, num_levels)
        if condition.oracle_levels is None:
            codes = batch["truth"]
        else:
            generator = torch.Generator(pipeline.engine.device).manual_seed(
                seed + number // batch_size
            )
            calls.clear()
            codes = generate_with_oracle(
                model,
                batch,
                condition.oracle_levels,
                options,
                generator,
                calls,
                codebooks=pipeline.engine.codebooks,
            )
            check_forced_levels(codes, batch, condition.oracle_levels)
        for b, one in enumerate(chunk):
            content = codes[b, : condition.decode_levels or num_levels]
            content = content[:, int(batch["prompt_lengths"][b]) : int(batch["lengths"][b])]
            wav = pipeline.decode(content.cpu())
            save_audio(folder / f"{one.item.id}.wav", wav, pipeline.codec.sample_rate)
    seconds = time.perf_counter() - start
    print(f"{condition.name}: {len(inputs)} items in {seconds:.1f} s", file=sys.stderr, flush=True)
    generated = condition.oracle_levels is not None
    return {
        "name": condition.name,
        "description": condition.description,
        "oracle_levels": None if not generated else [q + 1 for q in condition.oracle_levels],
        "decode_levels": condition.decode_levels or num_levels,
        "schedule": schedule_text(options.level_steps(num_levels)) if generated else None,
        "model_calls": len(calls),
        "seconds": seconds,
    }


# ---------------------------------------------------------------------------- judge
def judge_clip(item, options):
    """The evaluation suite on one clip (``soundstorm.evaluate.evaluate_item``; tests fake it)."""
    from soundstorm.evaluate import evaluate_item

    return evaluate_item(item, options)


def judge_rows(rows: list[str], items: list[PairedItem], out: Path, metrics) -> dict:
    """Judge every clip of every row: row -> item id -> ``ItemResult``."""
    from soundstorm.evaluate import EvaluationItem, SuiteOptions

    options = SuiteOptions(metrics=tuple(metrics), recognizers=("whisper",))
    results: dict[str, dict] = {}
    total, done = len(rows) * len(items), 0
    for row in rows:
        results[row] = {}
        for item in items:
            audio = item.reference[0].path if row == REFERENCE_ROW else out / row / f"{item.id}.wav"
            clip = EvaluationItem(
                id=f"{row}/{item.id}",
                generated=audio,
                prompt=eval_voice.input_path(item, out, "prompt"),
                text=item.text,
            )
            done += 1
            print(f"[{done}/{total}] judging {clip.id}", file=sys.stderr, flush=True)
            results[row][item.id] = judge_clip(clip, options)
    return results


def summarize_rows(results: dict, items: list[PairedItem]) -> dict[str, dict]:
    """Per row, per group (``all``, ``seen``, ``held_out``): items, corpus WER, similarity,
    DNSMOS (means over the clips that have them) and metric errors."""
    from soundstorm.evaluate.suite import summarize

    summary = {}
    for row, by_item in results.items():
        summary[row] = {}
        for group, keep in (
            ("all", lambda i: True),
            ("seen", lambda i: not i.held_out),
            ("held_out", lambda i: i.held_out),
        ):
            chosen = [by_item[i.id] for i in items if keep(i)]
            if not chosen:
                continue
            means = summarize(chosen)
            summary[row][group] = {
                "items": len(chosen),
                "wer": means.get("wer_generated_corpus"),
                "similarity": means.get("sim_generated_prompt"),
                "dnsmos": means.get("dnsmos_generated"),
                "metric_errors": sum(len(r.details.get("errors", {})) for r in chosen),
            }
    return summary


# ---------------------------------------------------------------------------- report
COLUMNS = (
    ("seen", "wer", "WER seen"),
    ("held_out", "wer", "WER held-out"),
    ("seen", "similarity", "sim seen"),
    ("held_out", "similarity", "sim held-out"),
    ("all", "dnsmos", "DNSMOS"),
)


def summary_markdown(header: dict, records: dict, summary: dict, dnsmos: bool) -> str:
    """The table (rows = conditions), headed by how it was made."""
    voices = header["voices"]
    lines = [
        f"# Oracle decomposition: {header['model']}",
        "",
        f"- command: `{header['command']}`",
        f"- date: {header['date']}; commit: {header['commit']}; machine: {header['machine']}",
        f"- torch threads: {header['threads']}; seed: {header['seed']}; "
        f"decoding: {header['decoding']}",
        f"- items: {header['sentences']} sentences x voices {', '.join(voices)} "
        f"(held out: {', '.join(header['held_out']) or 'none'})",
        "",
        "| condition | items | schedule | model calls | "
        + " | ".join(label for _, _, label in COLUMNS)
        + " |",
        "|---|---:|---|---:|" + "---:|" * len(COLUMNS),
    ]
    for row, groups in summary.items():
        record = records.get(row, {})
        cells = []
        for group, key, _ in COLUMNS:
            value = groups.get(group, {}).get(key)
            if value is None or (key == "dnsmos" and not dnsmos):
                cells.append("-")
            else:
                cells.append(f"{100 * value:.1f}%" if key == "wer" else f"{value:.3f}")
        schedule = record.get("schedule") or "-"
        calls = record.get("model_calls", 0) if row != REFERENCE_ROW else "-"
        items = groups["all"]["items"]
        lines.append(f"| {row} | {items} | {schedule} | {calls} | " + " | ".join(cells) + " |")
    errors = {
        row: g["all"]["metric_errors"] for row, g in summary.items() if g["all"]["metric_errors"]
    }
    if errors:
        lines += ["", f"Metrics the suite could not compute (left out of the means): {errors}."]
    lines += [
        "",
        "Conditions: "
        + "; ".join(f"{r['name']}: {r['description']}" for r in records.values())
        + f"; {REFERENCE_ROW}: the recording itself. Content = the reference recording, "
        "3 s prompt of the target voice (other sentences); audio after the prompt.",
        "WER: corpus-level Whisper tiny.en (all word errors / all words). sim: Resemblyzer "
        "cosine to the 3 s prompt. model calls: forward passes of the model per batch (an "
        "oracle level costs none). Oracle levels are forced to GT and checked equal to it.",
    ]
    return "\n".join(lines) + "\n"


def item_rows(results: dict, items: list[PairedItem]) -> list[dict]:
    """Per item: its voice, group, text, and each row's metrics and transcript."""
    rows = []
    for item in items:
        clips = {}
        for row, by_item in results.items():
            result = by_item[item.id]
            clips[row] = {
                "metrics": result.metrics,
                "transcript": result.details.get("asr_generated", {}).get("transcript"),
                "errors": result.details.get("errors", {}),
            }
        rows.append(
            {
                "id": item.id,
                "voice": item.target_voice,
                "held_out": item.held_out,
                "text": item.text,
                "reference": str(item.reference[0].path),
                "clips": clips,
            }
        )
    return rows


# ---------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], conflict_handler="resolve"
    )
    parser.add_argument("--model", type=Path, required=True, help="exported model dir")
    parser.add_argument("--corpus", type=Path, required=True, help="soundstorm corpus dir")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--sentences", type=int, default=10, help="test sentences (default 10)")
    parser.add_argument("--voices", nargs="+", default=list(eval_voice.DEFAULT_VOICES))
    add_decoding_arguments(parser)  # --temperature, ... (DecodeOptions' fields)
    parser.add_argument(  # replaces the decoding group's single --steps
        "--steps",
        type=int,
        nargs="+",
        default=list(DEFAULT_STEPS),
        help="first-level passes of the gen_all_s<N> rows (default: 8 16 32)",
    )
    parser.add_argument(
        "--finer-steps",
        type=int,
        default=1,
        help="passes of each generated finer level (default 1: the paper's greedy pass)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS")
    parser.add_argument(
        "--conditions",
        nargs="+",
        default=None,
        help="only these rows (names as in the table, e.g. gt_l1_gen_finer gen_all_s8; "
        "default: all)",
    )
    parser.add_argument("--machine", default="2-core CPU container, no GPU")
    parser.add_argument(
        "--content-transcripts",
        action="store_true",
        help="semantic ids from the known words, force-aligned (as eval_voice.py's option)",
    )
    args = parser.parse_args(argv)
    if min(args.sentences, args.batch_size, args.threads, args.finer_steps) < 1:
        parser.error("--sentences, --batch-size, --threads and --finer-steps must be >= 1")
    if any(n < 1 for n in args.steps):
        parser.error("--steps must be integers >= 1")
    args.steps = list(dict.fromkeys(args.steps))
    steps, args.steps = args.steps, None  # the list is ours; the decoding options take none
    try:
        args.decoding = decode_options_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    args.steps = steps
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from soundstorm.evaluate.suite import check_dependencies
    from soundstorm.pipeline import VoicePipeline

    metrics = ["wer", "speaker"] + ([] if args.no_dnsmos else ["dnsmos"])
    check_dependencies(metrics)
    started = time.perf_counter()
    split = eval_voice.read_test_split(args.corpus)
    items = eval_voice.pair_items(split, args.voices, args.sentences)
    pipeline = VoicePipeline.from_directory(args.model)
    eval_voice.write_inputs(items, args.out, split.sample_rate)
    inputs = tokenize_items(pipeline, items, args.out, args.content_transcripts)
    print(f"{len(items)} items, torch threads {torch.get_num_threads()}", file=sys.stderr)

    num_levels = pipeline.engine.config.num_levels
    records = {}
    chosen = conditions(num_levels, args.steps)
    if args.conditions:
        unknown = sorted(set(args.conditions) - {c.name for c in chosen})
        if unknown:
            raise SoundStormError(
                f"unknown condition(s) {unknown}; known: {[c.name for c in chosen]}"
            )
        chosen = [c for c in chosen if c.name in args.conditions]
    for condition in chosen:
        records[condition.name] = make_condition(
            pipeline,
            condition,
            inputs,
            args.out,
            args.batch_size,
            args.decoding,
            args.seed,
            args.finer_steps,
        )
    generated_at = time.perf_counter()
    results = judge_rows([REFERENCE_ROW, *records], items, args.out, metrics)
    summary = summarize_rows(results, items)

    header = eval_voice.run_header(args)
    header.update(
        steps=args.steps,
        finer_steps=args.finer_steps,
        num_levels=num_levels,
        voices=list(args.voices),
        held_out=[v for v in args.voices if v in split.held_out_voices],
        sentences=args.sentences,
        oracle_logit=ORACLE_LOGIT,
        seconds={
            "generation": generated_at - started,
            "judge": time.perf_counter() - generated_at,
        },
    )
    report = {
        "header": header,
        "conditions": list(records.values()),
        "summary": summary,
        "items": item_rows(results, items),
    }
    markdown = summary_markdown(header, records, summary, not args.no_dnsmos)
    report_text = json.dumps(eval_voice.finite_or_none(report), indent=2) + "\n"
    atomic_write_text(args.out / "report.json", report_text)
    atomic_write_text(args.out / "summary.md", markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (SoundStormError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
