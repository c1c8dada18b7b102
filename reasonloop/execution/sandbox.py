"""Isolation: what a worker sets up once, what a job's process enters, how it is cleaned up.

Once per worker (:func:`prepare_worker`): become a child subreaper (orphans
of a job are re-parented to the worker, not to init), enter an empty network
namespace where the host allows it, probe Landlock and the seccomp fallback,
and record what this host gave.

Once per job, in the forked child (:func:`enter_job`): a new session and
process group; descriptors 0-3 only (``/dev/null``, stdout, stderr, the
marker pipe); the job's own directory as cwd, HOME and TMPDIR; rlimits; the
job's uid (root only); parent-death signal; no-new-privileges; Landlock
(no writes outside the job directory, no signals or TCP outside the
sandbox); the socket filter when there is no network namespace.

After the job (:mod:`reasonloop.execution.reaping`): SIGKILL to the job's
process group, then to every process of the job's uid (or every remaining
descendant when there is no uid of its own), until none is left.
"""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import tempfile
from typing import Any, NoReturn

from reasonloop.execution import syscalls
from reasonloop.execution.jobuid import claim_uid, expose_python, python_readable_by
from reasonloop.execution.limits import MIB, ExecutionLimits, SandboxOptions
from reasonloop.execution.probe import probe

__all__ = ["BASE_ENVIRONMENT", "enter_job", "prepare_worker"]

_MAX_FD = 65536
#: The environment of a job, plus HOME and TMPDIR (its own directory).
BASE_ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def prepare_worker(options: SandboxOptions, slot: int) -> dict[str, Any]:
    """Set up this worker process; return what isolation jobs get on this host."""
    info: dict[str, Any] = {"worker_pid": os.getpid(), "notes": []}
    try:
        syscalls.set_child_subreaper()
        info["subreaper"] = True
    except OSError as exc:
        info["subreaper"] = False
        info["notes"].append(f"no child subreaper: {exc}")
    root = os.geteuid() == 0
    uid = claim_uid(options.uid_base) if root and options.uid_base is not None else None
    info["job_uid"] = uid
    info["uid"] = f"per-worker uid {uid}" if uid is not None else f"unchanged ({os.geteuid()})"
    if uid is not None and not python_readable_by(uid):
        uid = expose_python(uid, info["notes"])
        info["job_uid"] = uid
        info["uid"] = f"per-worker uid {uid}" if uid is not None else "unchanged (0)"
    info["network"] = _network(options, root, info["notes"])
    info["filesystem"] = _filesystem(options, info["notes"])
    info["landlock_abi"] = syscalls.landlock_abi()
    base = tempfile.mkdtemp(prefix=f"reasonloop-exec-{slot}-")
    os.chmod(base, 0o711)  # the job's uid may enter its own directory, not list others
    info["base_dir"] = base
    return info


def _network(options: SandboxOptions, root: bool, notes: list[str]) -> str:
    if options.network in ("auto", "namespace"):
        try:
            if root:
                syscalls.unshare(syscalls.CLONE_NEWNET)
            else:
                _user_and_network_namespace()
            return "namespace"
        except OSError as exc:
            if options.network == "namespace":
                raise
            notes.append(f"no network namespace: {exc}")
    if options.network in ("auto", "seccomp"):
        if probe(_socket_refused):
            return "seccomp"
        if options.network == "seccomp":
            raise OSError("the seccomp socket filter does not work on this host")
        notes.append("no seccomp socket filter either: jobs can reach the network")
    return "none"


def _user_and_network_namespace() -> None:
    uid, gid = os.geteuid(), os.getegid()
    syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNET)
    # Map our ids to themselves, so files we create keep their owner.
    for name, text in (
        ("setgroups", "deny"),
        ("uid_map", f"{uid} {uid} 1"),
        ("gid_map", f"{gid} {gid} 1"),
    ):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _socket_refused() -> None:
    import socket

    syscalls.set_no_new_privs()
    syscalls.install_socket_filter()
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except PermissionError:
        return
    raise RuntimeError("socket() still works")


def _filesystem(options: SandboxOptions, notes: list[str]) -> str:
    if options.filesystem == "none":
        return "none"
    base = tempfile.mkdtemp(prefix="reasonloop-probe-")
    try:
        ok = probe(lambda: (syscalls.set_no_new_privs(), syscalls.landlock_restrict_writes(base)))
    finally:
        os.rmdir(base)
    if ok:
        return "landlock"
    if options.filesystem == "landlock":
        raise OSError("Landlock is not available on this host")
    notes.append("no Landlock: jobs may write wherever their uid may")
    return "none"


def enter_job(
    job: dict[str, Any],
    nonce: str,
    fds: tuple[int, int, int],
    jobdir: str,
    limits: ExecutionLimits,
    isolation: dict[str, Any],
    timeout: float,
) -> NoReturn:
    """In the forked child: enter the sandbox and run the harness. Never returns."""
    out_w, err_w, mark_w = fds
    marker = mark_w
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(mark_w, 3)
        marker = 3
        os.closerange(4, _MAX_FD)
        os.chdir(jobdir)
        uid = isolation.get("job_uid")
        _set_limits(limits, timeout, uid is not None)
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        # Set after the uid change, which clears it; the worker is single-threaded.
        syscalls.set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != isolation["worker_pid"]:
            os._exit(0)
        syscalls.set_no_new_privs()
        if isolation["filesystem"] == "landlock":
            syscalls.landlock_restrict_writes(jobdir)
        if isolation["network"] == "seccomp":
            syscalls.install_socket_filter()
        # The worker's environment is already BASE_ENVIRONMENT.
        os.environ["HOME"] = jobdir
        os.environ["TMPDIR"] = jobdir
        tempfile.tempdir = jobdir
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_DFL)
        from reasonloop.execution.harness import run_job
    except BaseException as exc:
        line = f"{nonce} X " + json.dumps({"error": f"{type(exc).__name__}: {exc}"})
        try:
            os.write(marker, line.encode() + b"\n")
        finally:
            os._exit(70)
    run_job(job, nonce, 3)


def _set_limits(limits: ExecutionLimits, timeout: float, own_uid: bool) -> None:
    memory = limits.memory_mb * MIB
    cpu = limits.cpu_seconds or math.ceil(timeout) + 1
    for which, value in (
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_FSIZE, limits.file_size_mb * MIB),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        hard = value + 1 if which == resource.RLIMIT_CPU else value
        resource.setrlimit(which, (value, hard))
    if own_uid:
        # Counts the processes of the job's uid only, because no one else has it.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
