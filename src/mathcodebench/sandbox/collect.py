"""Collect a child's output under a deadline and a size cap, then kill its process group and reap it.

Why not `subprocess.run(timeout=...)`: it waits for EOF, so a daemon holding the pipe blocks the harness,
and it buffers unlimited output. Here process exit is watched through a pidfd, output is capped per stream,
and the whole group is killed however the run ends. An optional `watch` is called every `watch_every_s`
while the child runs (e.g. a disk quota); when it returns True the child is stopped.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

DRAIN_AFTER_EXIT_S = 0.05
_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR


@dataclass
class Collected:
    stdout: bytes
    stderr: bytes
    truncated: bool
    timed_out: bool
    wait_status: int
    rusage_maxrss_kb: int
    cpu_s: float
    wall_s: float
    stopped: bool = False  # by `watch`
    reaped: bool = True  # False: the result was complete before the child had exited (see `done_fd`)


def wait4(pid: int) -> tuple[int, int, float]:
    """Reap one's own child: (wait status, ru_maxrss in kB, cpu seconds)."""
    _, status, usage = os.wait4(pid, 0)
    return status, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def collect(
    pid: int,
    stdout_fd: int,
    stderr_fd: int,
    timeout_s: float,
    cap: int,
    started: float,
    watch: Callable[[], bool] | None = None,
    watch_every_s: float = 0.01,
    reap: Callable[[int], tuple[int, int, float]] = wait4,
    pidfd: int | None = None,
    done_fd: int | None = None,
) -> Collected:
    """Read both pipes until the child exits (or the deadline/cap is hit), then kill it and `reap` it.

    A process that is not our child is reaped by its parent, which reports the same three numbers (`reap`); it
    may be gone before we look, so the caller passes a `pidfd` opened while it was alive, and only that process
    is killed (its pid may already be someone else's); the caller closes that pidfd. Our own child's whole process
    group is killed.

    With `done_fd`, a program announces its end there (one byte: its exit status) after closing its output; once
    both pipes are closed too, the result is complete: the child is killed but not waited for (`reaped` False,
    no rusage: the caller reaps it later and measures it otherwise). Tearing down a forked address space takes
    longer than most programs run."""
    bufs = {stdout_fd: bytearray(), stderr_fd: bytearray()}
    truncated = timed_out = stopped = False
    own_child = pidfd is None
    if pidfd is None:
        pidfd = os.pidfd_open(pid)
    poller = select.poll()
    open_fds = set(bufs)
    for fd in bufs:
        os.set_blocking(fd, False)
        poller.register(fd, _READABLE)
    poller.register(pidfd, select.POLLIN)
    if done_fd is not None:
        poller.register(done_fd, _READABLE)
    done_status: int | None = None
    deadline = started + timeout_s
    next_watch = started + watch_every_s
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            limit = deadline if exited_at is None else min(deadline, exited_at + DRAIN_AFTER_EXIT_S)
            if now >= limit:
                timed_out = exited_at is None
                break
            wake = limit
            if watch is not None and exited_at is None:
                if now >= next_watch:
                    if watch():
                        stopped = True
                        break
                    next_watch = now + watch_every_s
                wake = min(wake, next_watch)
            for fd, _ in poller.poll((wake - now) * 1000):
                if fd == pidfd:
                    poller.unregister(pidfd)
                    exited_at = time.monotonic()
                    continue
                if fd == done_fd:
                    poller.unregister(done_fd)
                    said = os.read(done_fd, 1)
                    done_status = said[0] if said else None
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                buf = bufs[fd]
                buf += chunk
                if len(buf) > cap:
                    del buf[cap:]
                    truncated = True
            if truncated or (not open_fds and (exited_at is not None or done_status is not None)):
                break
    finally:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        if own_child:
            _kill_group(pid)
            os.close(pidfd)
        finished_early = done_status is not None and exited_at is None and not (truncated or timed_out or stopped)
        if finished_early and done_status is not None:
            status, maxrss_kb, cpu_s = done_status << 8, 0, 0.0  # a wait status of "exited with done_status"
        else:
            status, maxrss_kb, cpu_s = reap(pid)
    return Collected(
        stdout=bytes(bufs[stdout_fd]),
        stderr=bytes(bufs[stderr_fd]),
        truncated=truncated,
        timed_out=timed_out,
        wait_status=status,
        rusage_maxrss_kb=maxrss_kb,
        cpu_s=cpu_s,
        wall_s=time.monotonic() - started,
        stopped=stopped,
        reaped=not finished_early,
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
