"""Collect a child's output under a deadline and a size cap, then kill its process group and reap it.

Why not `subprocess.run(timeout=...)`: it waits for EOF, so a daemon holding the pipe blocks the harness,
and it buffers unlimited output. Here process exit is watched through a pidfd, output is capped per stream,
and the whole group is killed however the run ends. An optional `watch` is called every `watch_every_s`
while the child runs (a disk quota, a session block's CPU time); when it names a reason the child is stopped.
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
# Why a `watch` stopped a child.
OVER_QUOTA = "disk quota"
OVER_CPU = "cpu time"


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
    stopped: str | None = None  # by `watch`, for this reason
    reaped: bool = True  # False: the result was complete before the child had exited (see `done_fd`)
    block_status: int | None = None  # a session's block ended with this status byte; the child lives on, paused


def wait4(pid: int) -> tuple[int, int, float]:
    """Reap one's own child: (wait status, ru_maxrss in kB, cpu seconds)."""
    _, status, usage = os.wait4(pid, 0)
    return status, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def _read_into(fd: int, buf: bytearray, cap: int) -> tuple[bool, bool]:
    """One read of `fd` into `buf`, kept to `cap` bytes: (end of file, truncated)."""
    chunk = os.read(fd, 65536)
    if not chunk:
        return True, False
    buf += chunk
    if len(buf) > cap:
        del buf[cap:]
        return False, True
    return False, False


def _drain(bufs: dict[int, bytearray], open_fds: set[int], cap: int) -> bool:
    """Read what is left in the pipes of a paused child; True when that passes the cap."""
    for fd in open_fds:
        while True:
            try:
                eof, truncated = _read_into(fd, bufs[fd], cap)
            except BlockingIOError:
                break
            if truncated:
                return True
            if eof:
                break
    return False


def collect(
    pid: int,
    stdout_fd: int,
    stderr_fd: int,
    timeout_s: float,
    cap: int,
    started: float,
    watch: Callable[[], str | None] | None = None,
    watch_every_s: float = 0.01,
    reap: Callable[[int], tuple[int, int, float]] = wait4,
    pidfd: int | None = None,
    done_fd: int | None = None,
    block_fd: int | None = None,
    pause: Callable[[], None] | None = None,
) -> Collected:
    """Read both pipes until the child exits (or the deadline/cap is hit), then kill it and `reap` it.

    A process that is not our child is reaped by its parent, which reports the same three numbers (`reap`); it
    may be gone before we look, so the caller passes a `pidfd` opened while it was alive, and only that process
    is killed (its pid may already be someone else's); the caller closes that pidfd. Our own child's whole process
    group is killed.

    With `done_fd`, a program announces its end there (one byte: its exit status) after closing its output; once
    both pipes are closed too, the result is complete: the child is killed but not waited for (`reaped` False,
    no rusage: the caller reaps it later and measures it otherwise). Tearing down a forked address space takes
    longer than most programs run.

    With `block_fd` (a session's block), the child announces the block's end there (one status byte) and lives
    on: it is `pause`d, what is left in its pipes is read, and it is neither killed nor reaped (`block_status`
    set) unless that output passes the cap."""
    bufs = {stdout_fd: bytearray(), stderr_fd: bytearray()}
    truncated = timed_out = False
    stopped: str | None = None
    own_child = pidfd is None
    if pidfd is None:
        pidfd = os.pidfd_open(pid)
    poller = select.poll()
    open_fds = set(bufs)
    for fd in bufs:
        os.set_blocking(fd, False)
        poller.register(fd, _READABLE)
    poller.register(pidfd, select.POLLIN)
    for announced in (done_fd, block_fd):
        if announced is not None:
            poller.register(announced, _READABLE)
    done_status: int | None = None
    block_status: int | None = None
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
                    stopped = watch()
                    if stopped is not None:
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
                if fd == block_fd:
                    poller.unregister(block_fd)
                    said = os.read(block_fd, 4096)
                    if said and exited_at is None:
                        block_status = said[0]
                    continue
                eof, cut = _read_into(fd, bufs[fd], cap)
                truncated = truncated or cut
                if eof:
                    poller.unregister(fd)
                    open_fds.discard(fd)
            if block_status is not None and not truncated:
                if pause is not None:
                    pause()
                truncated = _drain(bufs, open_fds, cap)
            if truncated or block_status is not None:
                break
            if not open_fds and (exited_at is not None or done_status is not None):
                break
    finally:
        lives_on = block_status is not None and not truncated
        if not lives_on:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            if own_child:
                _kill_group(pid)
        if own_child:
            os.close(pidfd)
        finished_early = done_status is not None and exited_at is None and not (truncated or timed_out or stopped)
        if lives_on and block_status is not None:
            status, maxrss_kb, cpu_s = block_status << 8, 0, 0.0  # as if it had exited with the block's status
        elif finished_early and done_status is not None:
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
        reaped=not finished_early and not lives_on,
        block_status=block_status if lives_on else None,
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
