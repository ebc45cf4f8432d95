"""One block of a session, run in the child held for it: the same for a fork server's child and a subprocess.

Between blocks the child is stopped (SIGSTOP), so nothing it started, a thread included, runs, writes or
prints while the model writes the next block: what a session does happens under its blocks' limits. Each block
has the session's time limit, wall-clock from its handover, and as much CPU time as a program
(`rlimits.cpu_seconds`), measured from outside (the child's cpuacct cgroup, else /proc) because RLIMIT_CPU
counts the whole life of a process. Its output is what arrived while it ran, capped per stream.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import protocol, rlimits
from .base import ExecStatus, Limits
from .collect import OVER_CPU, Collected, collect
from .runner import encode_block

WATCH_EVERY_S = 0.01
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")
_LIVES_ON = (ExecStatus.OK, ExecStatus.ERROR)  # every other status of a block ends its session


@dataclass(frozen=True)
class Held:
    """A session's child as the process that runs its blocks sees it (descriptors are that process's ends)."""

    pid: int
    pidfd: int
    stdout: int
    stderr: int
    request: int  # non-blocking: a block is written under its deadline
    status: int  # where the child announces each block's end
    done: int | None  # where it announces its exit, if it does (`runner._exit`)
    signal: Callable[[int], None]  # deliver a signal to the child
    reap: Callable[[int], tuple[int, int, float]]

    def alive(self) -> bool:
        poller = select.poll()  # not select(): a harness may hold descriptors above FD_SETSIZE
        poller.register(self.pidfd, select.POLLIN)
        return not poller.poll(0)


def _while_alive(held: Held, read: Callable[[], float]) -> float | None:
    """`read()` of the child's /proc files, or None once it has exited (its pid may already be another's)."""
    try:
        value = read()
    except (OSError, IndexError, ValueError):
        return None
    return value if held.alive() else None


def proc_cpu_s(held: Held) -> float | None:
    """User and system time of every thread of the child, from /proc (clock ticks)."""

    def read() -> float:
        with open(f"/proc/{held.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * _TICK_S

    return _while_alive(held, read)


def proc_peak_kb(held: Held) -> int | None:
    """The child's peak resident set (VmHWM) in kB, from /proc."""

    def read() -> float:
        with open(f"/proc/{held.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise ValueError("no VmHWM: the child is exiting")

    peak = _while_alive(held, read)
    return None if peak is None else int(peak)


def signaller(send: Callable[[int], None]) -> Callable[[int], None]:
    """`send`, quiet about a child that has already exited."""

    def deliver(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            send(sig)

    return deliver


def run_block(
    held: Held,
    code: str,
    limits: Limits,
    cpu_s: Callable[[], float | None],
    watch: Callable[[], str | None] | None = None,
) -> tuple[Collected, float]:
    """Continue the child, hand it `code`, collect the block's output and pause the child again: (what was
    collected, the block's CPU seconds). `cpu_s` reads the child's CPU time so far (None once it is gone);
    `watch` is called every WATCH_EVERY_S as well. The block's end is `block_status` set; otherwise the child is
    gone (killed and reaped, or, with `held.done`, maybe still exiting: `reaped` False)."""
    budget = rlimits.cpu_seconds(limits)
    base = cpu_s() or 0.0

    def over() -> str | None:
        used = cpu_s()
        if used is not None and used - base > budget:
            return OVER_CPU
        return watch() if watch is not None else None

    held.signal(signal.SIGCONT)
    started = time.monotonic()
    with contextlib.suppress(OSError):  # the child is gone (or stopped reading): collect sees how it ends
        protocol.write_all(held.request, encode_block(code), deadline=started + limits.timeout_s)
    got = collect(
        held.pid,
        held.stdout,
        held.stderr,
        limits.timeout_s,
        limits.output_bytes,
        started,
        watch=over,
        watch_every_s=WATCH_EVERY_S,
        reap=held.reap,
        pidfd=held.pidfd,
        done_fd=held.done,
        block_fd=held.status,
        pause=lambda: held.signal(signal.SIGSTOP),
    )
    used = cpu_s()
    return got, max(0.0, (got.cpu_s if used is None else used) - base)


def ends_session(got: Collected, status: ExecStatus) -> bool:
    """A block ends its session when its child is gone, or it hit a limit (a caught MemoryError included)."""
    return got.block_status is None or status not in _LIVES_ON
