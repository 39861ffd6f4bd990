#!/usr/bin/env bash
# Create benchmarks/.peer-venv with the peer implementation (lucidrains' soundstorm-pytorch)
# for side-by-side speed comparisons.
#
#   bash benchmarks/setup_peer_env.sh            # idempotent; PYTHON=python3.11 by default
#
# The peer is installed with its own dependencies in an isolated virtual environment so that
# its pins never touch ours. torch is the same CPU build we use (2.13.0). On Python 3.11 the
# peer's unused `fairseq` import fails to build; benchmarks/peer_soundstorm_pytorch.py stubs it
# (and the other audio-only imports) before importing the peer, so fairseq is not installed.
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
$PIP install --quiet --upgrade pip
$PIP install --quiet "torch==$TORCH_VERSION"
# --no-deps first pass lists what the peer pins; then install its light deps explicitly,
# leaving out fairseq / torchaudio / audiolm-pytorch's heavy audio stack.
$PIP install --quiet --no-deps "soundstorm-pytorch==$PEER_VERSION"
$PIP install --quiet einops beartype "classifier-free-guidance-pytorch" \
    "gateloop-transformer" "spear-tts-pytorch" "audiolm-pytorch" || true
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
print("peer:", md.version("soundstorm-pytorch"), "torch:", md.version("torch"))
PY
