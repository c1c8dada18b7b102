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

After the job (:func:`kill_job`): SIGKILL to the job's process group, then
to every process of the job's uid (or every remaining descendant when there
is no uid of its own), until none is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, NoReturn

from reasonloop.execution import syscalls
from reasonloop.execution.limits import MIB, ExecutionLimits, SandboxOptions

__all__ = ["BASE_ENVIRONMENT", "enter_job", "kill_job", "kill_uid", "prepare_worker"]

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
    uid = _claim_uid(options.uid_base) if root and options.uid_base is not None else None
    info["job_uid"] = uid
    info["uid"] = f"per-worker uid {uid}" if uid is not None else f"unchanged ({os.geteuid()})"
    if uid is not None and not _python_readable_by(uid):
        uid = _expose_python(uid, info["notes"])
        info["job_uid"] = uid
        info["uid"] = f"per-worker uid {uid}" if uid is not None else "unchanged (0)"
    info["network"] = _network(options, root, info["notes"])
    info["filesystem"] = _filesystem(options, info["notes"])
    info["landlock_abi"] = syscalls.landlock_abi()
    base = tempfile.mkdtemp(prefix=f"reasonloop-exec-{slot}-")
    os.chmod(base, 0o711)  # the job's uid may enter its own directory, not list others
    info["base_dir"] = base
    return info


#: Lock files that give each live worker on the host a uid of its own.
UID_LOCKS = "/run/reasonloop-exec"
_claimed: list[int] = []  # lock descriptors, held for the worker's lifetime


def _claim_uid(base: int, span: int = 65536) -> int:
    """Take the first uid from ``base`` that no other live worker on this host holds.

    Each worker holds an exclusive lock on ``UID_LOCKS/<uid>`` while it lives
    (the kernel drops it when the worker dies), so two pools, in one process
    or in two, never give their jobs the same uid, and killing every process
    of a job's uid can never reach another pool's job.
    """
    import fcntl

    directory = (
        UID_LOCKS
        if os.access("/run", os.W_OK)
        else os.path.join(tempfile.gettempdir(), "reasonloop-exec-uids")
    )
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for uid in range(base, base + span):
        fd = os.open(
            os.path.join(directory, str(uid)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _claimed.append(fd)
        return uid
    raise OSError(f"no free job uid in {base}..{base + span - 1}")


def _python_paths() -> list[str]:
    """Directories the job's interpreter must be able to read: prefixes and sys.path."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.__file__)]
    paths += [p for p in sys.path if p and os.path.isdir(p)] + [package_root]
    return sorted({os.path.realpath(p) for p in paths})


def _python_readable_by(uid: int) -> bool:
    def check() -> None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        for path in _python_paths():
            os.listdir(path)

    return _probe(check)


def _expose_python(uid: int, notes: list[str]) -> int | None:
    """Make the Python installation readable to the job's uid, or give up the uid.

    A Python installed under a private home (``/root/.pyenv``) cannot be read
    by an unprivileged uid. In a mount namespace of the worker's own, each
    such private directory is covered by an empty tmpfs into which only the
    needed entries are bind-mounted: the jobs can reach the interpreter and
    nothing else that was there (the real directory is untouched).
    """
    covers: dict[str, set[str]] = {}
    for path in _python_paths():
        parts = path.strip("/").split("/")
        for depth in range(len(parts)):
            ancestor = "/" + "/".join(parts[:depth])
            if not os.stat(ancestor).st_mode & stat.S_IXOTH:
                covers.setdefault(ancestor, set()).add(parts[depth])
                break
    try:
        syscalls.unshare(syscalls.CLONE_NEWNS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        for directory, entries in sorted(covers.items()):
            stage = tempfile.mkdtemp(prefix="reasonloop-stage-")
            for entry in entries:
                os.mkdir(os.path.join(stage, entry))
                syscalls.mount(
                    os.path.join(directory, entry),
                    os.path.join(stage, entry),
                    None,
                    syscalls.MS_BIND | syscalls.MS_REC,
                )
            syscalls.mount(
                "tmpfs",
                directory,
                "tmpfs",
                syscalls.MS_NOSUID | syscalls.MS_NODEV,
                "mode=0711,size=64k",
            )
            for entry in entries:
                os.mkdir(os.path.join(directory, entry))
                syscalls.mount(
                    os.path.join(stage, entry),
                    os.path.join(directory, entry),
                    None,
                    syscalls.MS_MOVE,
                )
                os.rmdir(os.path.join(stage, entry))
            os.rmdir(stage)
    except OSError as exc:
        notes.append(
            f"the job uid cannot read the Python installation and no mount namespace: {exc}"
        )
        return None
    if not _python_readable_by(uid):
        notes.append("the job uid cannot read the Python installation; jobs keep uid 0")
        return None
    notes.append(
        "private directories on the interpreter's path ("
        + ", ".join(sorted(covers))
        + ") are replaced, for jobs, by views holding only the interpreter"
    )
    return uid


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
        if _probe(_socket_refused):
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
        ok = _probe(lambda: (syscalls.set_no_new_privs(), syscalls.landlock_restrict_writes(base)))
    finally:
        os.rmdir(base)
    if ok:
        return "landlock"
    if options.filesystem == "landlock":
        raise OSError("Landlock is not available on this host")
    notes.append("no Landlock: jobs may write wherever their uid may")
    return "none"


def _probe(check: Callable[[], Any]) -> bool:
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
    cpu = limits.cpu_seconds or int(timeout) + 2
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


def kill_job(pid: int, uid: int | None) -> dict[int, int]:
    """Kill the job's process and everything it started; return exit statuses by pid."""
    statuses: dict[int, int] = {}
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        with contextlib.suppress(OSError):  # already gone (or the group never formed)
            target()
    for attempt in range(2000):
        if _reap(statuses):
            return statuses
        if uid is not None:
            kill_uid(uid)
        else:
            for child in _children(os.getpid()):
                with contextlib.suppress(OSError):
                    os.kill(child, signal.SIGKILL)
        if attempt:
            time.sleep(min(0.0002 * attempt, 0.01))
    raise RuntimeError("processes of a job survived 2000 rounds of SIGKILL")


def _reap(statuses: dict[int, int]) -> bool:
    """Collect exited children; True when the worker has no children left at all."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            return False
        statuses[pid] = status


def kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid``: a helper takes that uid and kills all it may.

    ``kill(-1, SIGKILL)`` from a process of that uid reaches exactly the
    processes of that uid (and no other, having no privileges); the kernel
    holds fork off while it walks the process list, so a fork bomb cannot
    outrun it.
    """
    helper = os.fork()
    if helper == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for _ in range(2):
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
        except BaseException:
            os._exit(1)
        os._exit(0)
    os.waitpid(helper, 0)


def _children(ppid: int) -> list[int]:
    """Pids whose parent is ``ppid``, from /proc (used when jobs share our uid)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            found.append(int(entry))
    return found
