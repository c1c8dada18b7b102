#!/usr/bin/env bash
# Set up .venv if needed, then lint and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# vLLM's CPU build in .venv-vllm, so the vllm backend's tests run for real
# (about 3.5 GB and a few minutes the first time, seconds afterwards).
# REASONLOOP_SKIP_VLLM=1 leaves it out; those tests then skip.
if [ -z "${REASONLOOP_SKIP_VLLM:-}" ]; then
  bash scripts/setup-vllm.sh
fi
# The pinned versions must satisfy pyproject.toml (python scripts/lock.py rewrites them).
.venv/bin/python scripts/lock.py --check
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
