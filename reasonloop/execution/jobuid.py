"""A uid of its own for each worker's jobs (when the pool runs as root).

:func:`claim_uid` takes the first uid that no other live worker on the host
holds; :func:`expose_python` makes sure that uid can still read the Python
installation; :func:`kill_uid` kills every process of the uid.
"""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import sys
import tempfile

from reasonloop.execution import syscalls
from reasonloop.execution.probe import probe

__all__ = ["UID_LOCKS", "claim_uid", "expose_python", "kill_uid", "python_readable_by"]

#: Lock files that give each live worker on the host a uid of its own.
UID_LOCKS = "/run/reasonloop-exec"
_claimed: list[int] = []  # lock descriptors, held for the worker's lifetime


def claim_uid(base: int, span: int = 65536) -> int:
    """Take the first uid from ``base`` that no other live worker on this host holds.

    Each worker holds an exclusive lock on ``UID_LOCKS/<uid>`` while it lives
    (the kernel drops it when the worker dies), so two pools, in one process
    or in two, never give their jobs the same uid, and killing every process
    of a job's uid can never reach another pool's job.
    """
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


def python_readable_by(uid: int) -> bool:
    def check() -> None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        for path in _python_paths():
            os.listdir(path)

    return probe(check)


def expose_python(uid: int, notes: list[str]) -> int | None:
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
    if not python_readable_by(uid):
        notes.append("the job uid cannot read the Python installation; jobs keep uid 0")
        return None
    notes.append(
        "private directories on the interpreter's path ("
        + ", ".join(sorted(covers))
        + ") are replaced, for jobs, by views holding only the interpreter"
    )
    return uid


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
