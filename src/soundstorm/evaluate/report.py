"""Writing evaluation results: JSON, a markdown table, and matplotlib figures.

Files are written to a temporary name and renamed, so a reader never sees half a file.
Figures use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import torch

from soundstorm.audio import spectrogram_db
from soundstorm.evaluate.audio import EVAL_SAMPLE_RATE, load_eval_audio
from soundstorm.evaluate.suite import METRIC_DESCRIPTIONS, EvaluationReport, ItemResult
from soundstorm.files import atomic_path, atomic_write_text

_PERCENT_METRICS = ("wer_",)
"""Metrics shown as percentages in the markdown table."""


def _json_safe(value):
    """Replace NaN/inf (not valid JSON) by ``None``, recursively; numpy scalars to Python."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(report: EvaluationReport, path: str | Path) -> Path:
    """Write the whole report (options, summary, metric meanings, items) as JSON."""
    path = Path(path)
    text = json.dumps(_json_safe(report.to_dict()), indent=2, allow_nan=False)
    atomic_write_text(path, text + "\n")
    return path


def format_value(name: str, value: float | None) -> str:
    """Format one metric for the table.

    WER as a percentage, slopes signed with 4 decimals, others with 3 decimals; missing or
    non-finite values as ``-``.
    """
    if value is None or not math.isfinite(value):
        return "-"
    if name.startswith(_PERCENT_METRICS):
        return f"{100.0 * value:.1f}%"
    if name == "duration_s":
        return f"{value:.2f}"
    if "slope" in name:
        return f"{value:+.4f}"
    return f"{value:.3f}"


def markdown_table(report: EvaluationReport) -> str:
    """Markdown: one row per item, a mean row, corpus WERs and a legend of the columns."""
    columns = [name for name in METRIC_DESCRIPTIONS if name in report.summary]
    lines = [
        "| item | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for result in report.results:
        cells = [format_value(c, result.metrics.get(c)) for c in columns]
        lines.append(f"| {_escape(result.item.id)} | " + " | ".join(cells) + " |")
    mean = [format_value(c, report.summary.get(c)) for c in columns]
    lines.append("| **mean** | " + " | ".join(mean) + " |")
    extra = [k for k in report.summary if k not in METRIC_DESCRIPTIONS]
    if extra:
        lines += ["", "| summary | value |", "|---|---:|"]
        lines += [f"| {k} | {format_value(k, report.summary[k])} |" for k in extra]
    lines += ["", "Columns:", ""]
    lines += [f"- `{c}`: {METRIC_DESCRIPTIONS[c]}" for c in columns]
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def write_markdown(report: EvaluationReport, path: str | Path, title: str | None = None) -> Path:
    """Write ``results.md``: a title, the options, then :func:`markdown_table`."""
    path = Path(path)
    options = ", ".join(
        f"{k}: {','.join(v) if isinstance(v, list) else v}" for k, v in report.options.items()
    )
    text = f"# {title or 'Evaluation results'}\n\n{len(report.results)} items; {options}.\n\n"
    text += markdown_table(report)
    atomic_write_text(path, text)
    return path


def log_spectrogram(wav: np.ndarray, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Magnitude spectrogram in dB of ``float32[S]``: ``[n_fft // 2 + 1, frames]``, max 0 dB
    (:func:`soundstorm.audio.spectrogram_db`)."""
    return spectrogram_db(torch.from_numpy(np.asarray(wav, dtype=np.float32)), n_fft, hop).numpy()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "item"


def plot_spectrograms(result: ItemResult, path: str | Path) -> Path:
    """Save the spectrograms of the item's prompt, reference and generated audio, one per row."""
    plt = _pyplot()
    item = result.item
    rows = [(n, p) for n, p in (("prompt", item.prompt), ("reference", item.reference)) if p]
    rows.append(("generated", item.generated))
    figure, axes = plt.subplots(
        len(rows),
        1,
        figsize=(10, 2.4 * len(rows)),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    for axis, (name, audio_path) in zip(axes[:, 0], rows):
        audio = load_eval_audio(audio_path)
        seconds = audio.size / EVAL_SAMPLE_RATE
        image = axis.imshow(
            log_spectrogram(audio),
            origin="lower",
            aspect="auto",
            extent=(0.0, seconds, 0.0, EVAL_SAMPLE_RATE / 2000.0),
            cmap="magma",
            vmin=-80,
            vmax=0,
        )
        axis.set_title(f"{item.id}: {name} ({audio_path.name})", fontsize=9)
        axis.set_ylabel("kHz")
    axes[-1, 0].set_xlabel("time (s)")
    figure.colorbar(image, ax=axes[:, 0].tolist(), label="dB", shrink=0.8, pad=0.01)
    return _save_figure(plt, figure, Path(path))


def plot_consistency(report: EvaluationReport, path: str | Path) -> Path | None:
    """Save the consistency curves (similarity to the prompt over time) of every item.

    Solid lines: generated audio; dashed: reference audio. Returns ``None`` (writes nothing)
    when no item has a curve.
    """
    curves = [
        (r.item.id, name, r.details[f"consistency_{name}"])
        for r in report.results
        for name in ("generated", "reference")
        if f"consistency_{name}" in r.details
    ]
    if not curves:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 4), layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ids = list(dict.fromkeys(item_id for item_id, _, _ in curves))
    for item_id, name, curve in curves:
        values = [np.nan if v is None else v for v in curve["similarities"]]
        axis.plot(
            curve["times"],
            values,
            linestyle="-" if name == "generated" else "--",
            marker="o",
            markersize=3,
            color=colors[ids.index(item_id) % len(colors)],
            label=f"{item_id} ({name})" if len(ids) <= 8 else None,
        )
    segment = curves[0][2]["segment_seconds"]
    axis.set_xlabel("time (s)")
    axis.set_ylabel("speaker similarity to prompt")
    axis.set_title(f"Acoustic consistency ({segment:g} s windows)")
    axis.grid(alpha=0.3)
    if len(ids) <= 8:
        axis.legend(fontsize=7)
    return _save_figure(plt, figure, Path(path))


def _save_figure(plt, figure, path: Path) -> Path:
    try:
        with atomic_path(path) as temp:
            figure.savefig(temp, dpi=100, format="png")
    finally:
        plt.close(figure)
    return path


def write_report(report: EvaluationReport, out_dir: str | Path, max_plots: int = 8) -> list[Path]:
    """Write ``results.json``, ``results.md``, ``consistency.png`` and spectrogram PNGs.

    Args:
        report: the evaluation report.
        out_dir: output folder (created if needed).
        max_plots: spectrogram figures for at most this many items (the first ones); 0: no
            figures at all.

    Returns:
        The files written.
    """
    out_dir = Path(out_dir)
    written = [write_json(report, out_dir / "results.json")]
    written.append(write_markdown(report, out_dir / "results.md"))
    if max_plots > 0:
        consistency = plot_consistency(report, out_dir / "consistency.png")
        if consistency is not None:
            written.append(consistency)
        for result in report.results[:max_plots]:
            name = f"spectrograms_{_safe_name(result.item.id)}.png"
            written.append(plot_spectrograms(result, out_dir / name))
    return written
