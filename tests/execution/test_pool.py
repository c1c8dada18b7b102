"""The pool's other promises: ordering, isolation report, seccomp fallback, traces."""

from __future__ import annotations

import socket
import threading

import pytest

from reasonloop.core.records import Verdict
from reasonloop.execution import CodeExecutionPool, ExecutionLimits, Job, SandboxOptions
from reasonloop.execution.harness import DETAIL_ACTUAL, prepare_test
from reasonloop.execution.tracing import format_trace

LIMITS = ExecutionLimits(timeout=1.0, memory_mb=256)


def test_run_many_keeps_order_and_uses_every_worker(pool):
    jobs = [Job(f"x = {i}", tests=[f"assert x == {i}", "assert x % 3 != 0"]) for i in range(40)]
    results = pool.run_many(jobs)
    assert [r.verdict is Verdict.CORRECT for r in results] == [i % 3 != 0 for i in range(40)]


def test_isolation_report_names_each_layer(pool):
    iso = pool.isolation
    assert iso["network"] in ("namespace", "seccomp", "none")
    assert iso["filesystem"] in ("landlock", "none")
    assert "uid" in iso and "notes" in iso


def test_closed_pool_refuses_jobs():
    pool = CodeExecutionPool(workers=1, limits=LIMITS)
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.run(Job("x = 1"))


def test_seccomp_fallback_refuses_internet_sockets():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    got = []
    thread = threading.Thread(target=lambda: got.append(_accept(listener)))
    thread.start()
    program = (
        "import socket\n"
        "a, b = socket.socketpair()\n"  # unix sockets keep working
        "a.send(b'ok')\n"
        "assert b.recv(2) == b'ok'\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=0.3)\n"
        "    print('connected')\n"
        "except PermissionError:\n"
        "    print('refused')\n"
    )
    sandbox = SandboxOptions(network="seccomp")
    with CodeExecutionPool(workers=1, limits=LIMITS, sandbox=sandbox) as pool:
        assert pool.isolation["network"] == "seccomp"
        result = pool.run(Job(program))
    thread.join()
    listener.close()
    assert result.correct, result
    assert result.stdout.strip() == "refused" and got == [None]


def _accept(listener: socket.socket):
    try:
        return listener.accept()
    except OSError:
        return None


def test_prepare_test_keeps_both_sides_of_an_equality():
    source, detail = prepare_test("assert f(1) == [1, 2]")
    assert detail and DETAIL_ACTUAL in source
    assert prepare_test("assert f(1)") == ("assert f(1)", False)
    assert prepare_test("assert (") == ("assert (", False)


def test_trace_records_blocks_with_variables(pool):
    program = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
    result = pool.run(Job(program, trace_call="total([1, 2, 3])"))
    assert result.correct
    trace = result.trace
    assert trace["returned"] == "6"
    blocks = trace["blocks"]
    # Lines 2-4 run straight through, then each loop round is a block of its own.
    assert blocks[0]["lines"] == [2, 4]
    assert blocks[0]["state"] == {"xs": "[1, 2, 3]", "s": "1", "x": "1"}
    assert [b["state"]["s"] for b in blocks[1:3]] == ["3", "6"]
    assert blocks[-1]["returned"] == "6"
    text = format_trace(trace, "total([1, 2, 3])")
    assert "[Block 0] in total, lines 2-4" in text and "s = 6" in text
    assert "expected" not in text.lower()


def test_long_trace_keeps_first_and_last_blocks(pool):
    program = "def spin(n):\n    i = 0\n    while i < n:\n        i += 1\n    return i\n"
    result = pool.run(Job(program, trace_call="spin(500)", trace_options={"keep_blocks": 3}))
    trace = result.trace
    assert len(trace["blocks"]) == 6 and trace["omitted"] == trace["total_blocks"] - 6
    assert trace["blocks"][-1]["returned"] == "500"
    assert "blocks omitted" in format_trace(trace, "spin(500)")


def test_trace_of_a_crash_reports_the_exception(pool):
    result = pool.run(Job("def f(x):\n    y = x - 1\n    return 1 / y\n", trace_call="f(1)"))
    assert result.trace["exception"].startswith("ZeroDivisionError")
    assert result.trace["blocks"][-1]["state"]["y"] == "0"


def test_two_pools_never_share_a_uid(pool):
    if not pool.job_uids:
        pytest.skip("jobs keep the caller's uid here")
    with CodeExecutionPool(workers=2, limits=LIMITS) as other:
        assert not set(other.job_uids) & set(pool.job_uids)
        # Cleaning up after the other pool's jobs (SIGKILL to every process of
        # their uid) must not reach a job of this pool that is still running.
        slow = threading.Thread(
            target=lambda: results.append(
                pool.run(
                    Job("import time\ntime.sleep(0.6)\nx = 1", tests=["assert x == 1"], timeout=5)
                )
            )
        )
        results: list = []
        slow.start()
        assert all(r.correct for r in other.run_many([Job("x = 1")] * 20))
        slow.join()
    assert results[0].verdict is Verdict.CORRECT
