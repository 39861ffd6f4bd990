"""Fakes for the corpus tests: a WordNet-like data file written inside the test."""

from pathlib import Path


def write_fake_wordnet(directory: Path, examples: list[str]) -> Path:
    """A WordNet-like data.noun: licence header lines, then glosses with quoted examples."""
    lines = ["  1 This software and database is being provided", "  2 WordNet 3.0 Copyright"]
    for i, example in enumerate(examples):
        lines.append(f'{i:08d} 05 n 01 thing 0 000 | a gloss; "{example}"; "ok"')
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data.noun").write_text("\n".join(lines) + "\n", encoding="latin-1")
    return directory
