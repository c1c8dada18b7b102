"""The symbolic check's worker process: one JSON request per line in, one reply out.

Started as ``python -m reasonloop.verifiers.math.worker`` by
:mod:`~reasonloop.verifiers.math.pool`, which kills it when a check overruns.
The package ``__init__`` never imports this module, so running it as
``__main__`` does not load it twice.
"""

from __future__ import annotations

import json
import sys

from reasonloop.verifiers.math.tree import LimitExceeded

__all__ = ["MEMORY_LIMIT", "handle_request", "main"]

#: A worker may not grow beyond this much memory (bytes of address space).
MEMORY_LIMIT = 2 * 1024**3


def handle_request(request: dict) -> dict:
    """Answer one request ``{"gold", "pred"}``: what the worker does with each line."""
    from reasonloop.verifiers.math.equivalence import values_equal
    from reasonloop.verifiers.math.parse import parse_answer
    from reasonloop.verifiers.math.symbolic import SymbolicCheck

    try:
        gold, pred = parse_answer(request["gold"]), parse_answer(request["pred"])
        return {"equal": values_equal(gold, pred, SymbolicCheck()) is True}
    except LimitExceeded as exc:
        return {"limit": str(exc)}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    """Serve symbolic checks on stdin/stdout until stdin closes."""
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: the timeout still bounds the time
    import sympy

    sympy.simplify(sympy.Symbol("x") ** 2 - 1)  # import and warm up before saying ready
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        print(json.dumps(handle_request(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
