"""A fresh interpreter per run (or per session) with rlimits, a private scratch dir, a minimal environment and a
new session.

This contains accidents and limit-bound attacks (CPU, memory, output, file size) but not a determined
program: it can still read world-readable files and open sockets. It is the comparison baseline.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import rlimits, selftest
from .base import Execution, Isolation, Limits, SandboxError, SandboxSession
from .block import Held, ends_session, proc_cpu_s, proc_peak_kb, run_block, signaller
from .classify import classify
from .collect import Collected, collect, wait4
from .runner import SESSION_READY
from .session import HeldSession

PROGRAM = "main.py"
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")
START_TIMEOUT_S = 60.0


def child_env(home: str) -> dict[str, str]:
    """Nothing of the harness's environment reaches the program: no keys, tokens or paths."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }


def _start(scratch: str, limits: Limits, args: list[str], pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-I", "-B", RUNNER, *args],
        cwd=scratch,
        env=child_env(scratch),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        pass_fds=pass_fds,
        preexec_fn=lambda: rlimits.apply(limits, cpu=not args),
    )


def _execution(got: Collected, scratch: str, cpu_s: float, peak_kb: int, layers: list[str]) -> Execution:
    # The program is "main.py" to everyone downstream; its scratch location is our business.
    stderr = got.stderr.decode("utf-8", "replace").replace(os.path.join(scratch, ""), "")
    status, exit_code, sig = classify(got, stderr)
    return Execution(
        status=status,
        exit_code=exit_code,
        signal=sig,
        stdout=got.stdout.decode("utf-8", "replace"),
        stderr=stderr,
        truncated=got.truncated,
        wall_s=got.wall_s,
        cpu_s=cpu_s,
        peak_memory_mb=peak_kb / 1024,
        layers=list(layers),
    )


class SubprocessSandbox:
    def __init__(self) -> None:
        self.name = self.requested = "subprocess"
        self.reason = "subprocess mode requested (a comparison baseline, not isolation)"
        self.layers = ["fresh-interpreter", "rlimits", "session", "scratch-dir", "clean-env"]
        self.missing = ["uid", "netns", "landlock", "seccomp"]

    def run(self, code: str, limits: Limits) -> Execution:
        scratch = tempfile.mkdtemp(prefix="mcb-")
        try:
            with open(os.path.join(scratch, PROGRAM), "w", encoding="utf-8") as fh:
                fh.write(code)
            started = time.monotonic()
            proc = _start(scratch, limits, [])
            assert proc.stdout is not None and proc.stderr is not None  # both are pipes
            try:
                got = collect(
                    proc.pid,
                    proc.stdout.fileno(),
                    proc.stderr.fileno(),
                    limits.timeout_s,
                    limits.output_bytes,
                    started,
                )
            finally:
                proc.returncode = -1  # reaped by collect(); stop Popen from waiting again
                proc.stdout.close()
                proc.stderr.close()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return _execution(got, scratch, got.cpu_s, got.rusage_maxrss_kb, self.layers)

    def session(self, limits: Limits) -> SandboxSession:
        """A fresh interpreter held for a solution's blocks."""
        return _Session(limits, self.layers)

    def isolation(self) -> Isolation:
        return selftest.isolation(self)

    def close(self) -> None:
        """Nothing is kept between runs."""


class _Session(HeldSession):
    """One interpreter (`runner.run_session`) for the blocks of one solution; its process group is stopped
    between blocks and killed at the end."""

    def __init__(self, limits: Limits, layers: list[str]) -> None:
        super().__init__(layers)
        self._limits = limits
        self._scratch = tempfile.mkdtemp(prefix="mcb-")
        self._reaped = self._released = False
        request_r, request_w = os.pipe()
        status_r, status_w = os.pipe()
        try:
            self._proc = _start(
                self._scratch, limits, ["--session", str(request_r), str(status_w)], (request_r, status_w)
            )
        except BaseException:
            for fd in (request_w, status_r):
                os.close(fd)
            shutil.rmtree(self._scratch, ignore_errors=True)
            raise
        finally:
            os.close(request_r)
            os.close(status_w)
        assert self._proc.stdout is not None and self._proc.stderr is not None  # both are pipes
        pid = self._proc.pid
        self._held = Held(
            pid,
            os.pidfd_open(pid),
            self._proc.stdout.fileno(),
            self._proc.stderr.fileno(),
            request_w,
            status_r,
            None,
            signaller(lambda sig: os.killpg(pid, sig)),
            self._reap,
        )
        poller = select.poll()
        poller.register(status_r, select.POLLIN)
        if not poller.poll(START_TIMEOUT_S * 1000) or os.read(status_r, 1) != SESSION_READY:
            self._release()
            raise SandboxError("the session's interpreter did not start")
        os.set_blocking(request_w, False)

    def _reap(self, pid: int) -> tuple[int, int, float]:
        """Kill what the interpreter started (its group lives while the unreaped interpreter holds its id), then
        reap it."""
        self._held.signal(signal.SIGKILL)
        self._reaped = True
        self._proc.returncode = -1  # reaped here; stop Popen from waiting again
        return wait4(pid)

    def _block(self, code: str) -> tuple[Execution, bool]:
        held = self._held
        got, cpu_s = run_block(held, code, self._limits, lambda: proc_cpu_s(held))
        alive = got.block_status is not None
        peak = proc_peak_kb(held) if alive else None
        execution = _execution(got, self._scratch, cpu_s, peak or got.rusage_maxrss_kb, self.layers)
        ended = ends_session(got, execution.status)
        if ended:
            self._release()
        return execution, ended

    def _release(self) -> None:
        """Kill and reap the interpreter with its process group (unless that is done), close every descriptor and
        remove the scratch directory, once."""
        if self._released:
            return
        self._released = True
        held = self._held
        if not self._reaped:
            self._reap(held.pid)
        for fd in (held.pidfd, held.request, held.status):
            os.close(fd)
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._proc.stdout.close()
        self._proc.stderr.close()
        shutil.rmtree(self._scratch, ignore_errors=True)
