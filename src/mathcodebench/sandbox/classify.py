"""Turn how a child ended into an `ExecStatus` (shared by every sandbox mode)."""

from __future__ import annotations

import os
import signal

from .base import ExecStatus
from .collect import OVER_CPU, Collected


def classify(c: Collected, stderr_text: str, oom_killed: bool = False) -> tuple[ExecStatus, int | None, int | None]:
    """Return (status, exit code, signal); `oom_killed`: the child's memory cgroup killed it at its limit."""
    code = os.waitstatus_to_exitcode(c.wait_status)
    exit_code, sig = (code, None) if code >= 0 else (None, -code)
    if c.truncated:
        return ExecStatus.OUTPUT_LIMIT, exit_code, sig
    if c.timed_out or c.stopped == OVER_CPU or sig == signal.SIGXCPU:
        return ExecStatus.TIMEOUT, exit_code, sig
    if exit_code == 0:
        return ExecStatus.OK, exit_code, sig
    if sig is None:
        last = stderr_text.strip().rsplit("\n", 1)[-1]
        memory = last.startswith("MemoryError")
        return (ExecStatus.MEMORY if memory else ExecStatus.ERROR), exit_code, sig
    if sig == signal.SIGKILL:
        return (ExecStatus.MEMORY if oom_killed else ExecStatus.KILLED), exit_code, sig
    return ExecStatus.CRASH, exit_code, sig
