"""Hostile programs: each is contained, gets the right verdict, and the pool keeps serving.

Every test runs its evil program and then a normal job on the same pool,
and the ``clean_pool`` fixture checks that no process of a job survived.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import uuid
from pathlib import Path

import pytest

from reasonloop.core.records import Verdict
from reasonloop.execution import Job

GOOD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]


def still_serving(pool) -> None:
    result = pool.run(Job(GOOD, tests=ADD_TESTS))
    assert result.verdict is Verdict.CORRECT, result


def run(pool, program: str, tests: list[str] | None = None, **kw):
    result = pool.run(Job(program, tests=ADD_TESTS if tests is None else tests, **kw))
    still_serving(pool)
    return result


# -- normal programs --------------------------------------------------------------


def test_correct_program(clean_pool):
    result = clean_pool.run(Job(GOOD, tests=ADD_TESTS))
    assert result.verdict is Verdict.CORRECT
    assert result.passed == [0, 1] and result.tests == 2
    assert result.exit == "status 0"


def test_wrong_program_names_the_failing_test_with_actual_and_expected(clean_pool):
    result = run(clean_pool, "def add(a, b):\n    return a - b\n")
    assert result.verdict is Verdict.WRONG
    assert result.failures[0]["test"] == 0
    assert result.failures[0]["exception"].startswith("AssertionError")
    assert (result.failures[0]["actual"], result.failures[0]["expected"]) == ("-1", "3")
    evidence = result.evidence(ADD_TESTS)
    assert evidence["failing_test"] == 0 and evidence["test_source"] == ADD_TESTS[0]


def test_all_tests_runs_past_a_failure(clean_pool):
    program = "def add(a, b):\n    return 3\n"
    result = run(clean_pool, program, all_tests=True)
    assert result.verdict is Verdict.WRONG
    assert result.passed == [0] and [f["test"] for f in result.failures] == [1]


def test_exception_in_program_is_wrong_with_the_line(clean_pool):
    result = run(clean_pool, "def add(a, b):\n    return a + b\nraise ValueError('boom')\n")
    assert result.verdict is Verdict.WRONG
    assert result.load_error["exception"] == "ValueError: boom"
    assert result.load_error["frames"][-1] == {
        "file": "<program>",
        "line": 3,
        "code": "raise ValueError('boom')",
    }


def test_syntax_error_is_wrong(clean_pool):
    result = run(clean_pool, "def add(a, b)\n    return a + b\n")
    assert result.verdict is Verdict.WRONG
    assert result.load_error["exception"].startswith("SyntaxError")


def test_humaneval_style_check_in_setup(clean_pool):
    setup = "def check(candidate):\n    assert candidate(2, 2) == 4\n"
    assert clean_pool.run(Job(GOOD, tests=["check(add)"], setup=setup)).correct
    bad = clean_pool.run(
        Job("def add(a, b):\n    return a * b + 1\n", tests=["check(add)"], setup=setup)
    )
    assert bad.verdict is Verdict.WRONG


# -- time -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "program",
    [
        "while True:\n    pass\n",
        "import time\ntime.sleep(60)\n",
        "def add(a, b):\n    while True:\n        pass\n",
        "import threading\nthreading.Event().wait()\n",
    ],
    ids=["busy-loop", "sleep", "loop-in-function", "blocked-thread"],
)
def test_infinite_loops_time_out_at_the_deadline(clean_pool, program):
    result = run(clean_pool, program)
    assert result.verdict is Verdict.TIMEOUT
    assert result.exit == "killed at the deadline"


def test_sigterm_ignored_and_signals_blocked(clean_pool):
    program = (
        "import signal\n"
        "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "    signal.signal(s, signal.SIG_IGN)\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGUSR1})\n"
        "while True:\n    pass\n"
    )
    assert run(clean_pool, program).verdict is Verdict.TIMEOUT


def test_deadline_per_job(clean_pool):
    program = "import time\ntime.sleep(1.5)\n" + GOOD
    assert clean_pool.run(Job(program, tests=ADD_TESTS)).verdict is Verdict.TIMEOUT  # pool: 1 s
    assert clean_pool.run(Job(program, tests=ADD_TESTS, timeout=4)).verdict is Verdict.CORRECT


# -- memory and processes ----------------------------------------------------------


@pytest.mark.parametrize(
    "program",
    ["x = bytearray(10 ** 10)\n", "a = []\nwhile True:\n    a.append(' ' * 10 ** 6)\n"],
    ids=["one-allocation", "growing"],
)
def test_memory_bomb_hits_the_limit(clean_pool, program):
    result = run(clean_pool, program)
    assert result.verdict is Verdict.WRONG
    assert "MemoryError" in result.load_error["exception"]


def test_fork_bomb_is_capped_and_killed(clean_pool):
    program = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    result = run(clean_pool, program)
    assert result.verdict in (Verdict.TIMEOUT, Verdict.WRONG)


def test_daemons_do_not_survive(clean_pool):
    program = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        print('daemon', os.getpid(), flush=True)\n"
        "        os.closerange(0, 3)\n"
        "        while True:\n"
        "            time.sleep(0.05)\n"
        "    os._exit(0)\n"
        "time.sleep(0.2)\n" + GOOD
    )
    result = run(clean_pool, program)
    assert result.verdict is Verdict.CORRECT
    pid = int(re.search(r"daemon (\d+)", result.stdout).group(1))
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_daemon_escapes_are_caught_without_a_uid(killable_pool, descendants):
    program = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        while True:\n"
        "            time.sleep(0.05)\n"
        "    os._exit(0)\n"
        "time.sleep(0.2)\n" + GOOD
    )
    assert run(killable_pool, program).verdict is Verdict.CORRECT
    for worker in killable_pool.worker_pids:
        assert descendants(worker) == []


# -- early exits and forged results -----------------------------------------------


@pytest.mark.parametrize(
    ("program", "reason"),
    [
        ("import sys\nsys.exit(0)\n" + GOOD, "failed to run"),
        ("import os\nos._exit(0)\n" + GOOD, "status 0"),
        ("import os\n" + GOOD + "add = lambda a, b: os._exit(0)\n", "status 0"),
        ("import sys\n" + GOOD + "add = lambda a, b: sys.exit(0)\n", "test 0 failed"),
        ("raise SystemExit\n", "failed to run"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "signal 9"),
    ],
    ids=["sys.exit", "os._exit", "os._exit-in-test", "sys.exit-in-test", "SystemExit", "suicide"],
)
def test_exiting_early_with_status_zero_fails(clean_pool, program, reason):
    result = run(clean_pool, program)
    assert result.verdict is Verdict.WRONG
    assert reason in result.reason + result.exit


def test_printed_and_forged_markers_do_not_pass(clean_pool):
    program = (
        "import os\n"
        "print('PASS\\nall tests passed\\nE {}\\nOK')\n"
        "for fd in map(int, os.listdir('/proc/self/fd')):\n"
        "    for line in (b'P {\"test\": 0}\\n', b'P {\"test\": 1}\\n', b'E {\"tests\": 2}\\n'):\n"
        "        try:\n"
        "            os.write(fd, line)\n"
        "        except OSError:\n"
        "            pass\n"
        "os._exit(0)\n"
    )
    result = run(clean_pool, program)
    assert result.verdict is Verdict.WRONG
    assert result.forged_markers >= 3


def test_tampering_with_builtins_and_the_harness(clean_pool):
    program = (
        "import builtins, json, os, sys\n"
        "import reasonloop.execution.harness as h\n"
        "builtins.AssertionError = type('Nope', (Exception,), {})\n"
        "builtins.len = lambda x: 0\n"
        "builtins.isinstance = lambda *a: False\n"
        "builtins.exec = lambda *a, **k: None\n"
        "builtins.compile = lambda *a, **k: None\n"
        "os.write = lambda fd, data: len(data)\n"
        "os._exit = lambda code: None\n"
        "json.dumps = lambda *a, **k: '{}'\n"
        "sys.exit = lambda *a: None\n"
        "h.run_job = None\n"
        "def add(a, b):\n    return 42\n"
    )
    result = run(clean_pool, program)
    assert result.verdict is Verdict.WRONG
    assert result.failures and result.failures[0]["test"] == 0


def test_equality_hack_is_out_of_scope_but_contained(clean_pool):
    # An object equal to everything passes `assert f(x) == y`: the tests decide
    # what counts as correct; the pool only guarantees they really ran.
    program = (
        "class Any:\n    def __eq__(self, other):\n        return True\n"
        "def add(a, b):\n    return Any()\n"
    )
    assert run(clean_pool, program).verdict is Verdict.CORRECT


# -- the parent and the host -------------------------------------------------------


def test_killing_the_parent_is_refused(clean_pool):
    program = (
        "import os, signal\n"
        "for target in (os.getppid(), 1):\n"
        "    try:\n"
        "        os.kill(target, signal.SIGKILL)\n"
        "        print('killed', target)\n"
        "    except OSError as exc:\n"
        "        print('refused', target, exc.errno)\n" + GOOD
    )
    pids = clean_pool.worker_pids
    result = run(clean_pool, program)
    assert result.verdict is Verdict.CORRECT
    assert "killed" not in result.stdout
    assert clean_pool.worker_pids == pids


def test_a_killed_worker_is_replaced_and_its_job_is_an_error(killable_pool):
    before = killable_pool.worker_pids
    result = killable_pool.run(Job("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"))
    assert result.verdict is Verdict.ERROR
    assert "worker" in result.reason
    assert killable_pool.worker_pids != before and killable_pool.replaced == 1
    still_serving(killable_pool)


def test_writing_outside_the_job_directory(clean_pool, tmp_path):
    tmp_path.chmod(0o777)
    targets = [
        tmp_path / "written-by-job",
        Path("/tmp") / f"reasonloop-evil-{uuid.uuid4().hex}",
        Path("/var/tmp") / f"reasonloop-evil-{uuid.uuid4().hex}",
        Path("/dev/shm") / f"reasonloop-evil-{uuid.uuid4().hex}",
        Path(__file__).with_name(f"evil-{uuid.uuid4().hex}.py"),
    ]
    program = (
        "import os\n"
        f"targets = {[str(t) for t in targets]!r}\n"
        "for t in targets:\n"
        "    try:\n"
        "        with open(t, 'w') as f:\n"
        "            f.write('pwned')\n"
        "        print('wrote', t)\n"
        "    except OSError as exc:\n"
        "        print('refused', t, type(exc).__name__)\n"
        "with open('inside.txt', 'w') as f:\n"
        "    f.write('fine')\n"
        "assert open(os.path.join(os.environ['HOME'], 'inside.txt')).read() == 'fine'\n" + GOOD
    )
    result = run(clean_pool, program)
    assert result.verdict is Verdict.CORRECT, result
    for target in targets:
        assert not target.exists(), f"the job wrote {target}"
    if clean_pool.isolation["filesystem"] != "landlock":
        pytest.skip("no Landlock here: world-writable directories stay writable")


def test_the_job_directory_is_deleted_afterwards(clean_pool):
    result = clean_pool.run(Job("import os\nprint(os.getcwd())\nopen('x', 'w').write('1')\n"))
    assert result.correct
    assert not Path(result.stdout.strip()).exists()


DELETE_CWD = (
    "import os, shutil\n"
    "open('junk', 'w').write('x')\n"
    "os.mkdir('sub')\n"
    "os.chmod('sub', 0)\n"
    "shutil.rmtree(os.getcwd(), ignore_errors=True)\n"
    "print('cwd exists:', os.path.exists(os.environ['HOME']))\n"
)


def test_deleting_its_own_cwd(clean_pool):
    assert run(clean_pool, DELETE_CWD + GOOD).verdict is Verdict.CORRECT


def test_deleting_its_own_cwd_without_landlock(killable_pool):
    result = run(killable_pool, DELETE_CWD + GOOD)
    assert result.verdict is Verdict.CORRECT
    assert "cwd exists: False" in result.stdout


def test_no_network(clean_pool):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    connections = []

    def accept():
        with contextlib.suppress(OSError):
            connections.append(listener.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    program = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=0.3).close()\n"
        "    print('connected')\n"
        "except OSError as exc:\n"
        "    print('refused', exc)\n" + GOOD
    )
    result = run(clean_pool, program)
    thread.join()
    listener.close()
    assert result.verdict is Verdict.CORRECT
    if clean_pool.isolation["network"] == "none":
        pytest.skip("this host gives jobs no network isolation")
    assert connections == [] and "refused" in result.stdout


# -- output --------------------------------------------------------------------------


def worker_peak_rss_kib(pool) -> int:
    peaks = []
    for pid in pool.worker_pids:
        status = Path(f"/proc/{pid}/status").read_text()
        peaks.append(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)))
    return max(peaks)


def test_huge_output_is_cut_and_costs_little_memory(clean_pool):
    program = (
        "import sys\nchunk = 'x' * 1_000_000\nfor _ in range(200):\n    sys.stdout.write(chunk)\n"
    )
    result = run(clean_pool, program)
    assert result.verdict is Verdict.WRONG and result.reason == "output over the limit"
    assert len(result.stdout) < 10_000
    assert worker_peak_rss_kib(clean_pool) < 200 * 1024


def test_200_mb_of_output_under_a_large_limit(tmp_path):
    from reasonloop.execution import CodeExecutionPool, ExecutionLimits

    limits = ExecutionLimits(timeout=5, output_limit=512 * 1024 * 1024)
    program = (
        "import sys\nchunk = 'y' * 1_000_000\nfor _ in range(200):\n    sys.stdout.write(chunk)\n"
        + GOOD
    )
    with CodeExecutionPool(workers=1, limits=limits) as pool:
        result = pool.run(Job(program, tests=ADD_TESTS))
        assert result.verdict is Verdict.CORRECT
        assert result.output_bytes == 200_000_000
        assert "bytes left out" in result.stdout and len(result.stdout) < 10_000
        assert worker_peak_rss_kib(pool) < 200 * 1024
