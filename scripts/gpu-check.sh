#!/usr/bin/env bash
# Check reasonloop on one CUDA GPU, offline: transformers backend in bf16,
# trl-sft LoRA and full, the perplexity scorer and, where vLLM is installed,
# the vllm backend with a LoRA swap. Prints tokens/s and peak GPU memory.
#
#   bash scripts/gpu-check.sh                          # random-weight 1B model, no download
#   bash scripts/gpu-check.sh --model Qwen/Qwen2.5-1.5B-Instruct   # real weights (cache or hub)
#   bash scripts/gpu-check.sh --size 8b --steps 3      # 8B shapes, still random
#
# PYTHON picks the environment (default: .venv-vllm if it has vLLM, else
# .venv; on a GPU machine, one with a CUDA torch and `reasonloop[vllm]`).
# Every other argument goes to scripts/gpu_check.py (--help lists them).
# The hub is left alone unless --model names a hub id and ONLINE=1 is set.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  PYTHON=.venv/bin/python
  if [ -x .venv-vllm/bin/python ] && .venv-vllm/bin/python -c "import vllm" 2>/dev/null; then
    PYTHON=.venv-vllm/bin/python
  fi
fi
if [ -z "${ONLINE:-}" ]; then
  export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
fi
export TOKENIZERS_PARALLELISM=false
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
exec "$PYTHON" scripts/gpu_check.py --device "${DEVICE:-cuda}" "$@"
