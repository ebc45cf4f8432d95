"""Harness side of the fork-server sandbox: a pool of pre-warmed servers, one per core by default.

Each server is a separate process started with a clean environment, so nothing of the harness (keys,
problems, answers) is in the memory its children inherit. A server that dies, stops answering (the program's
deadline plus a grace period) or breaks the protocol is replaced by a fresh one (its own slot directory and
cgroups) and the execution is retried there once; a second failure raises `SandboxError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from . import protocol, scratch, selftest
from .base import Execution, Isolation, Limits, SandboxError, SandboxSession
from .cgroups import CgroupTree
from .identity import Identity
from .jail import SCRATCH, bwrap_prefix, inner_cgroups
from .server import ServerConfig
from .session import HeldSession
from .subproc import child_env

# A server that does not answer this long after the program's own deadline is presumed wedged (it may first
# be wiping what the previous program left: `server.WIPE_TIMEOUT_S`).
SERVER_GRACE_S = 15.0
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 2.0
T = TypeVar("T")


class ServerFailure(Exception):
    """One server died, stopped answering or broke the protocol; the message says how."""


def _descendants(roots: list[int]) -> set[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    found = set(roots)
    while more := {pid for pid, ppid in parents.items() if ppid in found} - found:
        found |= more
    return found


def _jail_init(info: int) -> int | None:
    """A pidfd of the jail's init, from what bwrap writes to its info pipe (None if it exited first)."""
    data = b""
    try:
        while chunk := os.read(info, 4096):
            data += chunk
    finally:
        os.close(info)
    if not data:
        return None
    try:
        return os.pidfd_open(json.loads(data)["child-pid"])
    except ProcessLookupError:
        return None


class _Server:
    def __init__(self, slot: int, label: str, pool: ForkServerSandbox) -> None:
        self.slot = slot
        self._pool = pool
        self.cgroups = pool.cgroup_tree.slot(label)
        self.scratch = None if pool.root is None else os.path.join(pool.root, label)
        if self.scratch is not None:
            os.mkdir(self.scratch, 0o711)  # slot uids must reach their run directories below it
        config = ServerConfig(
            slot=slot,
            slots=pool.workers,
            scratch=self.scratch or SCRATCH,
            jailed=pool.jailed,
            identity=pool.identity.kind,
            disk_quota_mb=pool.scratch_mb,
            cgroups=inner_cgroups(self.cgroups) if pool.jailed else self.cgroups,
        )
        command = [
            os.path.abspath(sys.executable),
            "-I",
            "-B",
            "-m",
            "mathcodebench.sandbox.server",
            config.model_dump_json(),
        ]
        info_r, info_w = os.pipe() if pool.jailed else (-1, -1)
        try:
            prefix = bwrap_prefix(pool.scratch_mb, self.cgroups, info_w) if pool.jailed else []
            self.proc = subprocess.Popen(
                [*prefix, *command],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_env(config.scratch),
                cwd=pool.root or "/",
                start_new_session=True,
                pass_fds=(info_w,) if pool.jailed else (),
            )
        except BaseException:
            for fd in (info_r, info_w):
                if fd >= 0:
                    os.close(fd)
            raise
        assert self.proc.stdin is not None and self.proc.stdout is not None and self.proc.stderr is not None
        self.stdin, self.stdout, self.stderr = self.proc.stdin, self.proc.stdout, self.proc.stderr
        self.tx, self.rx = self.stdin.fileno(), self.stdout.fileno()
        # stop() may come from another thread than a call's (the pool closing): the lock orders the two, and a
        # call in flight (`_busy`) keeps the pipes open for its caller, who closes them once it has its answer.
        self._stopped, self._busy, self._stopping = False, False, threading.Lock()
        self.jail: int | None = None  # a pidfd of the jail's init
        try:
            if pool.jailed:
                os.close(info_w)
                self.jail = _jail_init(info_r)
            hello = protocol.receive(self.rx, timeout_s=START_TIMEOUT_S)
            self.layers: list[str] = hello["layers"]
            self.missing: list[str] = hello["missing"]
        except (OSError, EOFError, ValueError, KeyError) as exc:
            failure = ServerFailure(self._why(exc, "did not start"))
            self.stop()
            raise failure from None

    def _why(self, exc: BaseException, what: str) -> str:
        """One line: what went wrong, with the server's (or bwrap's) last words if it has exited."""
        said = ""
        if self.proc.poll() is not None:
            os.set_blocking(self.stderr.fileno(), False)
            try:
                said = (self.stderr.read() or b"").decode("utf-8", "replace").strip()
            except OSError:
                said = ""
        last = said.splitlines()[-1] if said else f"{type(exc).__name__}: {exc}"
        return f"sandbox server {self.slot} {what}: {last}"

    def _call(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        with self._stopping:
            if self._stopped:
                raise ServerFailure(f"sandbox server {self.slot} was stopped")
            self._busy = True
        try:
            protocol.send(self.tx, request)
            reply = protocol.receive(self.rx, timeout_s=timeout_s + SERVER_GRACE_S)
        except (OSError, EOFError, ValueError) as exc:  # TimeoutError is an OSError
            raise ServerFailure(self._why(exc, "failed")) from None
        finally:
            with self._stopping:
                self._busy = False
                stopped_meanwhile = self._stopped
            if stopped_meanwhile:
                self._release()
        if stopped_meanwhile:
            raise ServerFailure(f"sandbox server {self.slot} was stopped")
        if "error" in reply:
            raise ServerFailure(f"sandbox server {self.slot}: {reply['error']}")
        return reply

    def _execution(self, reply: dict[str, Any]) -> Execution:
        try:
            return Execution(**reply, layers=self._pool.layers)
        except (TypeError, ValueError) as exc:
            raise ServerFailure(f"sandbox server {self.slot} broke the protocol: {exc}") from None

    def run(self, code: str, limits: Limits) -> Execution:
        return self._execution(self._call({"code": code, "limits": limits.model_dump()}, limits.timeout_s))

    def open_session(self, limits: Limits) -> None:
        self._call({"open": limits.model_dump()}, limits.timeout_s)

    def block(self, code: str, limits: Limits) -> tuple[Execution, bool]:
        """One block of the open session: (its execution, whether it ended the session)."""
        reply = self._call({"block": code}, limits.timeout_s)
        ended = reply.pop("ended", None)
        if not isinstance(ended, bool):
            raise ServerFailure(f"sandbox server {self.slot} broke the protocol: no session state in its reply")
        return self._execution(reply), ended

    def close_session(self) -> None:
        self._call({"close": True}, 0.0)

    def stop(self) -> None:
        """End the server and free its slot. First by closing its input: it exits once its zygote has killed and
        reaped every child. A server that does not exit within STOP_GRACE_S is killed: in the jail through its
        init (the kernel ends the whole PID namespace; bwrap reaps the init), on the host with its process group
        (the zygote's children follow by PDEATHSIG)."""
        with self._stopping:
            if self._stopped:
                return
            self._stopped = True
            busy = self._busy
        if busy:  # its caller is reading from it: killed, its end read there, and released by that caller
            self._kill()
            return
        self._release()

    def _release(self) -> None:
        """Close the server's pipes once nothing reads them (it exits), and free its cgroups and scratch."""
        self.stdin.close()
        try:
            self.proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self._kill()
        with self._stopping:  # `_kill` may be using it from the stopping thread
            if self.jail is not None:
                os.close(self.jail)
                self.jail = None
        self.stdout.close()
        self.stderr.close()
        self._pool.cgroup_tree.release(self.cgroups)
        if self.scratch is not None:
            with contextlib.suppress(scratch.CleanupError):  # left for `close`, which removes the whole directory
                scratch.remove(self.scratch)

    def _kill(self) -> None:
        try:
            with self._stopping:
                jail = self.jail
                if jail is not None:
                    signal.pidfd_send_signal(jail, signal.SIGKILL)
            if jail is not None:
                os.kill(self.proc.pid, signal.SIGCONT)  # bwrap, to reap the init
                self.proc.wait(STOP_GRACE_S)
                return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class ForkServerSandbox:
    """Runs programs in pre-forked, locked-down children of pre-warmed servers. Thread-safe."""

    def __init__(
        self,
        workers: int | None,
        *,
        name: str,
        requested: str,
        reason: str,
        identity: Identity,
        jailed: bool,
        scratch_mb: int = 256,
        cgroups: bool = True,
    ) -> None:
        """`cgroups=False` runs without memory and pids cgroups, as on a machine that has none to give."""
        self.name, self.requested, self.reason = name, requested, reason
        self.workers = workers or os.cpu_count() or 1
        self.identity, self.jailed, self.scratch_mb = identity, jailed, scratch_mb
        self.root = None if jailed else tempfile.mkdtemp(prefix="mcb-sandbox-")
        if self.root is not None:
            os.chmod(self.root, 0o711)
        self.cgroup_tree = CgroupTree(enabled=cgroups)
        self._idle: queue.Queue[_Server] = queue.Queue()
        self._live: set[_Server] = set()  # idle or busy
        self._lock = threading.Lock()
        self._free_slots = list(range(1, self.workers))  # slot 0 is the first server's, started below
        self._generation = 0
        self._closed = False
        self.layers: list[str] = []
        self.missing: list[str] = []
        try:
            first = self._start(0)
        except ServerFailure:
            self.close()
            raise
        self.layers, self.missing = first.layers, first.missing + self.cgroup_tree.missing
        self._idle.put(first)

    def _reserve(self) -> int | None:
        """The lowest free slot, now taken; None when every slot has a server."""
        with self._lock:
            return self._free_slots.pop(0) if self._free_slots else None

    def _start(self, slot: int) -> _Server:
        with self._lock:
            self._generation += 1
            label = f"s{slot}-{self._generation}"
        try:
            server = _Server(slot, label, self)
        except (ServerFailure, OSError) as exc:
            self._free(slot)
            raise ServerFailure(str(exc)) from None
        with self._lock:
            self._live.add(server)
        return server

    def _free(self, slot: int) -> None:
        with self._lock:
            self._free_slots.append(slot)
            self._free_slots.sort()

    def _acquire(self) -> _Server:
        while True:
            if self._closed:
                raise SandboxError("the sandbox is closed")
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                pass
            slot = self._reserve()
            if slot is not None:
                return self._start(slot)
            try:
                return self._idle.get(timeout=0.5)
            except queue.Empty:
                continue

    def _discard(self, server: _Server) -> None:
        server.stop()
        with self._lock:
            self._live.discard(server)
        self._free(server.slot)

    def _twice(self, use: Callable[[_Server], T]) -> tuple[_Server, T]:
        """`use` a server; where it fails, once more on a fresh one; then SandboxError. The server stays taken."""
        failures = []
        for _ in range(2):
            try:
                server = self._acquire()
            except ServerFailure as exc:
                failures.append(str(exc))
                continue
            try:
                return server, use(server)
            except ServerFailure as exc:
                failures.append(str(exc))
                self._discard(server)
        raise SandboxError(" / ".join(failures))

    def run(self, code: str, limits: Limits) -> Execution:
        server, result = self._twice(lambda s: s.run(code, limits))
        self._idle.put(server)
        return result

    def session(self, limits: Limits) -> SandboxSession:
        """A child held for a solution's blocks; its server serves nothing else until the session is closed."""
        server, _ = self._twice(lambda s: s.open_session(limits))
        return _Session(self, server, limits)

    def isolation(self) -> Isolation:
        return selftest.isolation(self)

    def processes(self) -> list[int]:
        """Every live process of this sandbox (its servers, in the jail bwrap and its init, their zygotes and
        children): for accounting and for checking that nothing outlives a run."""
        with self._lock:
            roots = [server.proc.pid for server in self._live]
        return sorted(_descendants(roots))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            servers, self._live = list(self._live), set()
        for server in servers:  # a busy one's caller gets SandboxError
            server.stop()
        self.cgroup_tree.close()
        if self.root is not None:
            try:
                scratch.remove(self.root)
            except scratch.CleanupError as exc:
                print(f"mathcodebench: could not remove the sandbox directory: {exc}", file=sys.stderr)


class _Session(HeldSession):
    """A session on one fork server, held from the pool until closed."""

    def __init__(self, pool: ForkServerSandbox, server: _Server, limits: Limits) -> None:
        super().__init__(pool.layers)
        self._pool, self._server, self._limits = pool, server, limits

    def _block(self, code: str) -> tuple[Execution, bool]:
        try:
            return self._server.block(code, self._limits)
        except ServerFailure as exc:
            self._pool._discard(self._server)
            raise SandboxError(f"{exc} (a session is not replayed: its state was in that server)") from None

    def _release(self) -> None:
        """The server kills the child (if a block has not ended it), reaps it and wipes its run directory before
        it answers; a server that fails at that is replaced."""
        if self._lost is not None:
            return  # its server was discarded with it
        try:
            self._server.close_session()
        except ServerFailure:
            self._pool._discard(self._server)  # and with it the child
            return
        self._pool._idle.put(self._server)
