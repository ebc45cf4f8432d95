"""The resource limits every sandboxed program runs under (both fork-server children and subprocesses)."""

from __future__ import annotations

import resource
from typing import Protocol

MAX_PROCESSES = 64  # per uid; root ignores it, which is why fork is also denied by seccomp


class Bounds(Protocol):
    """What the limits are made of: `base.Limits`, or the plain tuple a fork-server child decodes its request
    into (building a pydantic model there cost ~0.17 ms of copy-on-write faults per program)."""

    @property
    def timeout_s(self) -> float: ...
    @property
    def memory_mb(self) -> int: ...
    @property
    def file_size_mb(self) -> int: ...
    @property
    def open_files(self) -> int: ...


def cpu_seconds(limits: Bounds) -> int:
    """The CPU time a program (or one block of a session) may use: its time limit, rounded up."""
    return int(limits.timeout_s) + 1


def apply(limits: Bounds, cpu: bool = True) -> None:
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
