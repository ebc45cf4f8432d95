"""Harness side of the fork-server sandbox: a pool of pre-warmed servers, one per core by default.

Each server is a separate process started with a clean environment, so nothing of the harness (keys,
problems, answers) is in the memory its children inherit.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading

from ..errors import UserError
from . import protocol
from .base import Execution, ExecStatus, Limits
from .jail import SCRATCH, bwrap_prefix
from .subproc import child_env

# A server that does not answer this long after the program's own deadline is presumed wedged.
SERVER_GRACE_S = 15.0


class _Server:
    def __init__(self, slot: int, scratch_base: str, jail: list[str] | None = None) -> None:
        self.slot = slot
        inner_scratch = SCRATCH if jail else scratch_base
        command = [sys.executable, "-I", "-B", "-m", "mathcodebench.sandbox.server", str(slot), inner_scratch]
        if jail:
            command.append("--jailed")
        self.proc = subprocess.Popen(
            [*(jail or []), *command],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=child_env(inner_scratch), cwd=scratch_base, start_new_session=True,
        )
        self.tx, self.rx = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        hello = self._receive(60.0)
        self.layers: list[str] = hello["layers"]
        self.missing: list[str] = hello["missing"]

    def _receive(self, timeout_s: float) -> dict:
        import select

        ready, _, _ = select.select([self.rx], [], [], timeout_s)
        if not ready:
            raise TimeoutError("sandbox server did not answer")
        return protocol.receive(self.rx)

    def run(self, code: str, limits: Limits) -> Execution:
        protocol.send(self.tx, {"code": code, "limits": limits.model_dump()})
        return Execution.model_validate(self._receive(limits.timeout_s + SERVER_GRACE_S))

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


class ForkServerSandbox:
    """Runs programs in forked, locked-down children of pre-warmed servers. Thread-safe."""

    def __init__(self, workers: int | None = None, strict: bool = False, strong: bool = False,
                 scratch_mb: int = 256) -> None:
        self.name = "strong" if strong else "strict" if strict else "default"
        self.workers = workers or os.cpu_count() or 1
        self.strict = strict
        self._jail = bwrap_prefix(scratch_mb) if strong else None
        self._scratch = tempfile.mkdtemp(prefix="mcb-sandbox-")
        os.chmod(self._scratch, 0o711)  # slot uids must reach their own scratch dirs
        self._idle: queue.Queue[_Server] = queue.Queue()
        self._lock = threading.Lock()
        self._started = 0
        self.layers: list[str] = []
        self.missing: list[str] = []
        self._idle.put(self._start(0))  # fail early, and learn the layers

    def _start(self, slot: int) -> _Server:
        server = _Server(slot, self._scratch, self._jail)
        self.layers, self.missing = server.layers, server.missing
        if self.strict and self.missing:
            server.stop()
            raise UserError("--sandbox strict: isolation layers unavailable here: " + "; ".join(self.missing))
        self._started += 1
        return server

    def _acquire(self) -> _Server:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._started < self.workers:
                return self._start(self._started)
        return self._idle.get()

    def run(self, code: str, limits: Limits) -> Execution:
        server = self._acquire()
        try:
            result = server.run(code, limits)
        except (EOFError, OSError, TimeoutError, ValueError) as exc:
            server.stop()
            self._idle.put(_Server(server.slot, self._scratch, self._jail))
            return Execution(status=ExecStatus.CRASH, exit_code=None, signal=None, stdout="",
                             stderr=f"sandbox server failed: {exc}", truncated=False, wall_s=0.0, cpu_s=0.0,
                             peak_memory_mb=0.0, layers=self.layers)
        self._idle.put(server)
        return result

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                break
        shutil.rmtree(self._scratch, ignore_errors=True)
