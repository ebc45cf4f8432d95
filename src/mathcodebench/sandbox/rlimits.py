"""The resource limits every sandboxed program runs under (both fork-server children and subprocesses)."""

from __future__ import annotations

import resource

from .base import Limits

MAX_PROCESSES = 64  # per uid; root ignores it, which is why fork is also denied by seccomp


def cpu_seconds(limits: Limits) -> int:
    """The CPU time a program (or one block of a session) may use: its time limit, rounded up."""
    return int(limits.timeout_s) + 1


def apply(limits: Limits, cpu: bool = True) -> None:
    """Every limit of `limits`; `cpu=False` for a session's child, whose CPU time is bounded per block instead
    (RLIMIT_CPU counts the whole life of a process)."""
    mb = 1 << 20
    if cpu:
        seconds = cpu_seconds(limits)
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb, limits.file_size_mb * mb))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def tighten() -> None:
    """Limits a fork-server child gets whatever the request: no locked memory, no real-time or raised scheduling
    priority, no message-queue bytes, no core dumps. Lowering needs no privilege, so any uid can apply them."""
    for limit in (
        resource.RLIMIT_MEMLOCK,
        resource.RLIMIT_RTPRIO,
        resource.RLIMIT_NICE,
        resource.RLIMIT_MSGQUEUE,
        resource.RLIMIT_CORE,
    ):
        resource.setrlimit(limit, (0, 0))
