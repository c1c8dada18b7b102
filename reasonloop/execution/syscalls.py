"""The Linux calls the sandbox needs that the standard library lacks, through ctypes.

``unshare`` (Python 3.12 has ``os.unshare``; 3.10 and 3.11 do not), ``prctl``
for no-new-privileges, the parent-death signal and the child subreaper, a
seccomp filter that refuses internet sockets, and Landlock rules that make the
file system read-only outside one directory. Each function raises ``OSError``
when the kernel refuses, so callers can fall back and record what they got.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

__all__ = [
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWUSER",
    "install_socket_filter",
    "landlock_abi",
    "landlock_restrict_writes",
    "mount",
    "set_child_subreaper",
    "set_no_new_privs",
    "set_parent_death_signal",
    "unshare",
]

CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 2, 4, 4096, 8192, 16384, 1 << 18

_PR_SET_PDEATHSIG = 1
_PR_SET_SECCOMP = 22
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def _prctl(option: int, arg: int, what: str) -> None:
    _check(_libc.prctl(option, arg, 0, 0, 0), what)


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (``unshare(2)``)."""
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """``mount(2)``; strings are passed as file-system-encoded bytes."""

    def enc(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    _check(
        _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
        f"mount({target})",
    )


def set_no_new_privs() -> None:
    """Forbid gaining privileges through execve (setuid binaries, file capabilities)."""
    _prctl(_PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)")


def set_parent_death_signal(signum: int) -> None:
    """Have the kernel send ``signum`` to this process when its parent dies."""
    _prctl(_PR_SET_PDEATHSIG, signum, "prctl(PR_SET_PDEATHSIG)")


def set_child_subreaper() -> None:
    """Adopt orphaned descendants, so a double-forked daemon stays our child."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1, "prctl(PR_SET_CHILD_SUBREAPER)")


# -- seccomp: refuse internet sockets ----------------------------------------------

# (audit arch, socket syscall number, io_uring_setup number, x32 bit or 0)
_ARCHES = {
    "x86_64": (0xC000003E, 41, 425, 0x40000000),
    "aarch64": (0xC00000B7, 198, 425, 0),
}
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_AF_INET, _AF_INET6 = 2, 10
_EACCES = 13


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _socket_filter_program() -> bytes:
    machine = platform.machine()
    if machine not in _ARCHES:
        raise OSError(95, f"no seccomp socket filter for {machine}")
    arch, sys_socket, sys_io_uring, x32 = _ARCHES[machine]

    def op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    deny = op(_BPF_RET_K, _SECCOMP_RET_ERRNO | _EACCES)
    allow = op(_BPF_RET_K, _SECCOMP_RET_ALLOW)
    prog = [
        op(_BPF_LD_W_ABS, 4),  # seccomp_data.arch
        op(_BPF_JEQ_K, arch, 1, 0),
        deny,  # a foreign calling convention could name other syscalls
        op(_BPF_LD_W_ABS, 0),  # seccomp_data.nr
    ]
    if x32:
        prog += [op(_BPF_JGE_K, x32, 0, 1), deny]
    prog += [
        # io_uring can open sockets without the socket syscall.
        op(_BPF_JEQ_K, sys_io_uring, 0, 1),
        deny,
        op(_BPF_JEQ_K, sys_socket, 1, 0),
        allow,
        op(_BPF_LD_W_ABS, 16),  # low 32 bits of args[0]: the address family
        op(_BPF_JEQ_K, _AF_INET, 2, 0),
        op(_BPF_JEQ_K, _AF_INET6, 1, 0),
        allow,
        deny,
    ]
    return b"".join(prog)


def install_socket_filter() -> None:
    """Make ``socket(AF_INET | AF_INET6, ...)`` fail with EACCES for good.

    Needs no-new-privileges (or CAP_SYS_ADMIN) first. Unix sockets, pipes and
    everything else keep working; the filter is inherited by every child.
    """
    code = _socket_filter_program()
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(
        _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0),
        "prctl(PR_SET_SECCOMP)",
    )


# -- Landlock: no writes outside one directory --------------------------------------

_SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_WRITE_FILE = 1 << 1
_FS_WRITE_DIR = sum(1 << b for b in (4, 5, 6, 7, 8, 9, 10, 11, 12))  # remove/make anything
_FS_REFER = 1 << 13  # ABI 2
_FS_TRUNCATE = 1 << 14  # ABI 3
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2  # ABI 4
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2  # ABI 6
_O_PATH = getattr(os, "O_PATH", 0o10000000)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable."""
    numbers = _SYS_LANDLOCK.get(platform.machine())
    if numbers is None:
        return 0
    result = _libc.syscall(numbers[0], None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    return max(int(result), 0)


def landlock_restrict_writes(writable: str, files: tuple[str, ...] = ("/dev/null",)) -> list[str]:
    """Forbid this process and its children to write anywhere but ``writable``.

    Reading stays allowed. ``files`` may still be opened for writing. Where
    the ABI allows it, TCP bind/connect, signals to processes outside the
    sandbox and abstract unix sockets outside it are refused as well. Needs
    no-new-privileges first. Returns what was restricted.
    """
    abi = landlock_abi()
    if abi < 1:
        raise OSError(95, "Landlock is not available")
    create, add_rule, restrict = _SYS_LANDLOCK[platform.machine()]
    fs = _FS_WRITE_FILE | _FS_WRITE_DIR
    file_rights = _FS_WRITE_FILE
    if abi >= 2:
        fs |= _FS_REFER
    if abi >= 3:
        fs |= _FS_TRUNCATE
        file_rights |= _FS_TRUNCATE
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("=QQQ", fs, net, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = _check(int(_libc.syscall(create, attr[:size], size, 0)), "landlock_create_ruleset")
    try:
        for path, rights in [(writable, fs), *((f, file_rights) for f in files)]:
            fd = os.open(path, _O_PATH | os.O_CLOEXEC)
            try:
                rule = struct.pack("=Qi", rights, fd)
                _check(
                    int(_libc.syscall(add_rule, ruleset, _LANDLOCK_RULE_PATH_BENEATH, rule, 0)),
                    f"landlock_add_rule({path})",
                )
            finally:
                os.close(fd)
        _check(int(_libc.syscall(restrict, ruleset, 0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    got = ["filesystem writes"]
    if net:
        got.append("tcp")
    if scoped:
        got.append("signals")
    return got
