"""What a job may use, and how it is isolated: the pool's options."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ExecutionLimits", "SandboxOptions"]

MIB = 1024 * 1024


class ExecutionLimits(BaseModel):
    """Per-job resource limits. Every job is killed at ``timeout`` whatever it does."""

    model_config = ConfigDict(extra="forbid")

    #: Wall-clock seconds from start to SIGKILL of the job's process group.
    timeout: float = Field(default=3.0, gt=0)
    #: Address space of each process (RLIMIT_AS), in MiB.
    memory_mb: int = Field(default=1024, ge=64)
    #: CPU seconds per process (RLIMIT_CPU); default: the job's timeout
    #: rounded up, plus 1.
    cpu_seconds: int | None = Field(default=None, ge=1)
    #: Largest file the job may write (RLIMIT_FSIZE), in MiB.
    file_size_mb: int = Field(default=16, ge=0)
    #: Open file descriptors per process (RLIMIT_NOFILE).
    open_files: int = Field(default=64, ge=16)
    #: Processes and threads the job may have at once (RLIMIT_NPROC; exact
    #: only when the job runs under a uid of its own, i.e. the pool is root).
    processes: int = Field(default=32, ge=1)
    #: Total bytes of stdout plus stderr after which the job is killed.
    output_limit: int = Field(default=32 * MIB, ge=1024)
    #: Bytes of each stream kept as evidence (the first quarter and the last
    #: three quarters of this budget).
    output_kept: int = Field(default=8192, ge=256)


class SandboxOptions(BaseModel):
    """Which isolation the pool asks for; ``auto`` takes the best the host allows."""

    model_config = ConfigDict(extra="forbid")

    #: ``namespace``: an empty network namespace per worker; ``seccomp``: a
    #: filter that refuses internet sockets; ``none``: the host's network.
    network: Literal["auto", "namespace", "seccomp", "none"] = "auto"
    #: ``landlock``: no writes outside the job's directory; ``none``: only what
    #: the uid allows.
    filesystem: Literal["auto", "landlock", "none"] = "auto"
    #: When the pool runs as root, each worker's jobs run under a uid of their
    #: own, the first free one from ``uid_base`` (held with a lock file while
    #: the worker lives), so every process a job leaves can be found and
    #: killed by uid. ``None`` keeps the caller's uid.
    uid_base: int | None = Field(default=2_100_000_000, ge=1000)
