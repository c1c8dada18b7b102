"""Starting reasonloop's own helper processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["start_module"]

_ROOT = str(Path(__file__).resolve().parents[2])


def start_module(module: str, **popen: Any) -> subprocess.Popen:
    """Start ``python -m module`` with this interpreter, able to import reasonloop.

    The package root goes first on ``PYTHONPATH``, so a checkout that is not
    installed (tests, a worktree) runs its own code in the child too.
    ``popen`` is passed to :class:`subprocess.Popen` (pipes, text mode...).
    """
    env = dict(popen.pop("env", None) or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
    return subprocess.Popen([sys.executable, "-m", module], env=env, **popen)
