"""What runs inside a job's sandboxed process: the program, then its tests.

The harness reports on a private pipe, never through what the program prints:
a line per test (``P`` passed, ``F`` failed), ``L`` when the program itself
fails to load, ``T`` for an execution trace, and ``E`` (the end marker) only
after the last test. Every line starts with a random nonce the program was
never given, so text it writes to stdout or to every open descriptor is not
taken for a marker, and a program that exits early (``sys.exit(0)``,
``os._exit(0)``) never produces the end marker.

Everything the harness needs after the program starts is bound to local
names first, so a program that replaces builtins, ``os.write``,
``json.dumps`` or this module's functions does not change what it reports.
The limit of that guarantee: code in the same process that walks the
interpreter's frames or memory on purpose (``sys._getframe``, ``gc``,
``ctypes``) could find the nonce. The sandbox around the process (uid,
Landlock, network namespace, rlimits) does not depend on it.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
import os
import reprlib
import sys
import threading
import traceback
from typing import Any, NoReturn

from reasonloop.execution.tracing import BlockTracer

__all__ = ["DETAIL_ACTUAL", "DETAIL_EXPECTED", "prepare_test", "run_job"]

DETAIL_ACTUAL = "__reasonloop_actual__"
DETAIL_EXPECTED = "__reasonloop_expected__"
_TEXT_LIMIT = 600


# CPython 3.11's AST constructor keeps a global recursion counter that
# concurrent ast.parse calls corrupt ("AST constructor recursion depth
# mismatch"); the pool prepares jobs from several threads.
_AST_LOCK = threading.Lock()


def prepare_test(source: str) -> tuple[str, bool]:
    """Rewrite a test whose last statement is ``assert A == B`` to keep A and B.

    Returns the source to run and whether the actual and expected values will
    be available after a failure (for feedback that shows them).
    """
    with _AST_LOCK:
        return _prepare_test(source)


def _prepare_test(source: str) -> tuple[str, bool]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source, False
    last = tree.body[-1] if tree.body else None
    if not (
        isinstance(last, ast.Assert)
        and isinstance(last.test, ast.Compare)
        and len(last.test.ops) == 1
        and isinstance(last.test.ops[0], ast.Eq)
    ):
        return source, False
    actual = ast.Assign([ast.Name(DETAIL_ACTUAL, ast.Store())], last.test.left)
    expected = ast.Assign([ast.Name(DETAIL_EXPECTED, ast.Store())], last.test.comparators[0])
    check = ast.Assert(
        ast.Compare(
            ast.Name(DETAIL_ACTUAL, ast.Load()), [ast.Eq()], [ast.Name(DETAIL_EXPECTED, ast.Load())]
        ),
        last.msg,
    )
    tree.body[-1:] = [actual, expected, check]
    ast.fix_missing_locations(tree)
    for node in (actual, expected, check):
        ast.copy_location(node, last)
    return ast.unparse(tree), True


def run_job(job: dict[str, Any], nonce: str, marker_fd: int) -> NoReturn:
    """Run ``job``'s program and tests in this process, report, and exit."""
    # Bind now: after exec() the program may have replaced any of these.
    write, exit_, dumps = os.write, os._exit, json.dumps
    compile_, exec_, type_, len_, str_, isinstance_ = compile, exec, type, len, str, isinstance
    syntax_error = SyntaxError
    enumerate_, format_tb = enumerate, traceback.extract_tb
    shorten = reprlib.Repr()
    shorten.maxstring = shorten.maxother = 200
    shorten.maxlist = shorten.maxtuple = shorten.maxdict = shorten.maxset = 20
    safe_repr = shorten.repr
    stdout, stderr = sys.stdout, sys.stderr
    prefix = nonce.encode()
    tests = list(job.get("tests") or [])
    sources = {"<program>": job["program"], "<setup>": job.get("setup") or ""}
    sources.update({f"<test {i}>": t for i, t in enumerate(tests)})
    sources = {name: text.splitlines() for name, text in sources.items()}

    def emit(kind: str, payload: dict[str, Any]) -> None:
        line = prefix + b" " + kind.encode() + b" " + dumps(payload).encode() + b"\n"
        try:
            while line:
                line = line[write(marker_fd, line) :]
        except OSError:
            exit_(71)

    def describe(exc: BaseException) -> dict[str, Any]:
        try:
            message = str_(exc)
        except BaseException:
            message = "<unprintable>"
        frames = []
        try:
            for f in format_tb(exc.__traceback__)[-4:]:
                lines = sources.get(f.filename)
                if lines is not None:
                    n = f.lineno or 0
                    code = lines[n - 1].strip() if 0 < n <= len_(lines) else ""
                    frames.append({"file": f.filename, "line": n, "code": code})
        except BaseException:
            pass
        try:
            if isinstance_(exc, syntax_error) and exc.filename in sources:
                code = (exc.text or "").strip()
                frames.append({"file": exc.filename, "line": exc.lineno or 0, "code": code})
        except BaseException:
            pass
        name = type_(exc).__name__
        return {
            "exception": (f"{name}: {message}" if message else name)[:_TEXT_LIMIT],
            "frames": frames,
        }

    def flush() -> None:
        for stream in (stdout, stderr):
            with contextlib.suppress(BaseException):
                stream.flush()

    namespace: dict[str, Any] = {"__name__": "__solution__", "__builtins__": builtins}
    try:
        exec_(compile_(job["program"], "<program>", "exec"), namespace)
        if job.get("setup"):
            exec_(compile_(job["setup"], "<setup>", "exec"), namespace)
    except BaseException as exc:
        flush()
        emit("L", describe(exc))
        exit_(0)
    trace = job.get("trace")
    if trace:
        tracer = BlockTracer("<program>", job["program"], **trace.get("options", {}))
        result: dict[str, Any] = {}
        try:
            value = tracer.run(compile_(trace["call"], "<call>", "eval"), namespace)
            result["returned"] = safe_repr(value)
        except BaseException as exc:
            result.update(describe(exc))
        flush()
        emit("T", {**tracer.report(), **result})
        emit("E", {"tests": 0})
        exit_(0)
    keep_going = job.get("all_tests", False)
    for i, source in enumerate_(tests):
        namespace.pop(DETAIL_ACTUAL, None)
        namespace.pop(DETAIL_EXPECTED, None)
        try:
            exec_(compile_(source, f"<test {i}>", "exec"), namespace)
        except BaseException as exc:
            record = {"test": i, **describe(exc)}
            if isinstance_(exc, AssertionError):
                for key, name in (("actual", DETAIL_ACTUAL), ("expected", DETAIL_EXPECTED)):
                    if name in namespace:
                        try:
                            record[key] = safe_repr(namespace[name])
                        except BaseException:
                            record[key] = "<unprintable>"
            emit("F", record)
            if not keep_going:
                flush()
                exit_(0)
            continue
        emit("P", {"test": i})
    flush()
    emit("E", {"tests": len_(tests)})
    exit_(0)
