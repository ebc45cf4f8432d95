"""Collect a child's output under a deadline and a size cap, then kill its process group and reap it.

Why not `subprocess.run(timeout=...)`: it waits for EOF, so a daemon holding the pipe blocks the harness,
and it buffers unlimited output. Here process exit is watched through a pidfd, output is capped per stream,
and the whole group is killed however the run ends.
"""

from __future__ import annotations

import os
import selectors
import signal
import time
from dataclasses import dataclass

DRAIN_AFTER_EXIT_S = 0.05


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


def collect(pid: int, stdout_fd: int, stderr_fd: int, timeout_s: float, cap: int, started: float) -> Collected:
    """Read both pipes until the child exits (or the deadline/cap is hit), then kill the group and reap."""
    bufs = {stdout_fd: bytearray(), stderr_fd: bytearray()}
    truncated = timed_out = False
    pidfd = os.pidfd_open(pid)
    sel = selectors.DefaultSelector()
    for fd in bufs:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    sel.register(pidfd, selectors.EVENT_READ)
    deadline = started + timeout_s
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            limit = deadline if exited_at is None else min(deadline, exited_at + DRAIN_AFTER_EXIT_S)
            if now >= limit:
                timed_out = exited_at is None
                break
            events = sel.select(limit - now)
            for key, _ in events:
                if key.fd == pidfd:
                    sel.unregister(pidfd)
                    exited_at = time.monotonic()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                buf = bufs[key.fd]
                buf += chunk
                if len(buf) > cap:
                    del buf[cap:]
                    truncated = True
            if truncated or (exited_at is not None and len(sel.get_map()) == 0):
                break
    finally:
        sel.close()
        _kill_group(pid)
        _, status, rusage = os.wait4(pid, 0)
        os.close(pidfd)
    return Collected(
        stdout=bytes(bufs[stdout_fd]),
        stderr=bytes(bufs[stderr_fd]),
        truncated=truncated,
        timed_out=timed_out,
        wait_status=status,
        rusage_maxrss_kb=rusage.ru_maxrss,
        cpu_s=rusage.ru_utime + rusage.ru_stime,
        wall_s=time.monotonic() - started,
    )


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
