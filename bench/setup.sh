#!/usr/bin/env bash
# Installs the PyTorch reference's Python packages into bench/.venv (git-ignored): torch, numpy and
# onnxruntime from PyPI. Idempotent; prints the venv's python on stdout.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv >&2
fi
if ! .venv/bin/python -c "import torch, numpy, onnxruntime" 2>/dev/null; then
  .venv/bin/pip install --quiet --upgrade pip >&2
  .venv/bin/pip install --quiet torch numpy onnxruntime >&2
fi
echo "$PWD/.venv/bin/python"
