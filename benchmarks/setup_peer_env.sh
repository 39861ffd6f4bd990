#!/usr/bin/env bash
# Create benchmarks/.peer-venv with the peer implementation (lucidrains' soundstorm-pytorch)
# for side-by-side speed comparisons.
#
#   bash benchmarks/setup_peer_env.sh            # idempotent; PYTHON=python3.11 by default
#
# The peer is installed with its own dependencies in an isolated virtual environment so that
# its pins never touch ours. torch is the same CPU build we use (2.13.0). On Python 3.11 the
# peer's unused `fairseq` import fails to build; benchmarks/peer_soundstorm_pytorch.py stubs it
# (and the other audio-only imports) before importing the peer, so none of them is installed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${PEER_VENV:-$HERE/.peer-venv}"
PYTHON="${PYTHON:-python3.11}"
PEER_VERSION="${PEER_VERSION:-0.6.1}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install --quiet "torch==$TORCH_VERSION"
# The peer without its declared dependencies (audiolm-pytorch, spear-tts-pytorch, accelerate,
# classifier-free-guidance-pytorch pull fairseq and a large audio/text stack that token
# generation never uses); then just what its model and generate() import.
$PIP install --quiet --no-deps "soundstorm-pytorch==$PEER_VERSION"
$PIP install --quiet einops beartype hyper-connections packaging tqdm numpy
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
print("peer:", md.version("soundstorm-pytorch"), "torch:", md.version("torch"))
PY
