"""The benchmark scripts are importable here as modules (``import eval_voice``), as they import
each other when run from ``benchmarks/`` (its folder is then on ``sys.path``)."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
