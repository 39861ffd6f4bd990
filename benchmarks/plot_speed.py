"""Plot generation time against audio length from ``generate_speed.py`` JSON outputs.

    python benchmarks/generate_speed.py --frames 250 500 1500 --out a.json
    python benchmarks/generate_speed.py --frames 3000 6000 --no-peer --out b.json
    python benchmarks/plot_speed.py a.json b.json --out docs/speed_vs_length.png

One line per implementation (ours, the peer when measured), batch 1: median wall seconds of
one ``generate`` against seconds of audio (50 frames/s), with the real-time line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def collect(files: list[str]) -> tuple[dict[str, list[tuple[float, float]]], str]:
    """Points ``{implementation: [(audio seconds, median seconds), ...]}`` and a caption."""
    series: dict[str, list[tuple[float, float]]] = {}
    captions = []
    for name in files:
        data = json.loads(Path(name).read_text())
        captions.append(data.get("command", name))
        for point in data["points"]:
            if point["batch"] != 1:
                continue
            for key, label in (("ours", "soundstorm (ours)"), ("peer", "soundstorm-pytorch 0.6.1")):
                if point.get(key):
                    series.setdefault(label, []).append((point["audio_s"], point[key]["median_s"]))
    return {k: sorted(v) for k, v in series.items()}, "; ".join(captions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", help="JSON files written by generate_speed.py --out")
    parser.add_argument("--out", default="docs/speed_vs_length.png")
    parser.add_argument("--title", default="SoundStorm generate, 2-core CPU, small config, batch 1")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series, _ = collect(args.inputs)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    longest = max(s for points in series.values() for s, _ in points)
    ax.plot([0, longest], [0, longest], color="0.6", linestyle="--", label="real time")
    for label, points in series.items():
        ax.plot([s for s, _ in points], [t for _, t in points], marker="o", label=label)
    ax.set_xlabel("audio generated (s)")
    ax.set_ylabel("generate time (s), median")
    ax.set_title(args.title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
