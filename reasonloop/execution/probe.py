"""Try an isolation feature in a throwaway child process."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["probe"]


def probe(check: Callable[[], Any]) -> bool:
    """Run ``check`` in a throwaway child; True when it did not raise."""
    pid = os.fork()
    if pid == 0:
        try:
            check()
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
