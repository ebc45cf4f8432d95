"""A fresh interpreter per run with rlimits, a private scratch dir, a minimal environment and a new session.

This contains accidents and limit-bound attacks (CPU, memory, output, file size) but not a determined
program: it can still read world-readable files and open sockets. It is the comparison baseline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

from . import rlimits, selftest
from .base import Execution, Isolation, Limits
from .classify import classify
from .collect import collect

PROGRAM = "main.py"
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")


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
            proc = subprocess.Popen(
                [sys.executable, "-I", "-B", RUNNER],
                cwd=scratch,
                env=child_env(scratch),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=lambda: rlimits.apply(limits),
            )
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
            cpu_s=got.cpu_s,
            peak_memory_mb=got.rusage_maxrss_kb / 1024,
            layers=list(self.layers),
        )

    def isolation(self) -> Isolation:
        return selftest.isolation(self)

    def close(self) -> None:
        """Nothing is kept between runs."""
