"""A pre-forked child: it confines itself completely while the previous program still runs, says it is ready,
then waits for its one program, or for a session (the blocks of one solution, run in one `__main__`).

Order matters: the child is born in its lane's cgroups (its zygote lives there) and there makes itself the first
task the memory cgroup kills (the zygote counts there too), while still privileged, so that the program cannot
undo it; then the uid is dropped; PDEATHSIG is set after the uid change (a credential change clears it);
Landlock and seccomp come last (seccomp denies what the steps before need). Request-dependent rlimits are
applied after the program arrives and before any of it runs: lowering a limit needs no privilege. A session's
child gets every limit but the CPU time one: that limit is cumulative, so the server bounds each block's CPU
time itself (`block.py`). A child that cannot confine itself says why and exits before it could receive any
code.
"""

from __future__ import annotations

import os
import random
import signal
import struct
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from . import rlimits
from .base import Limits
from .cgroups import ChildCgroup
from .layers import capabilities, landlock
from .layers._libc import PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, prctl
from .runner import prepare, read_exact, run_program, run_session

if TYPE_CHECKING:
    from .layers.seccomp import CompiledFilter

READY = b"R"
OOM_FIRST = 1000  # oom_score_adj: whatever else is in the memory cgroup, this child is killed first
SETUP_FAILED = 121  # exit status of a child that could not confine itself
# A program as the server hands it over: its limits, then its UTF-8 source (no JSON, no validation here). A
# session's request has no source: its blocks follow on the same pipe (`runner.encode_block`).
_REQUEST = struct.Struct("=dIIIQ?")  # timeout_s, memory_mb, file_size_mb, open_files, source length, session


def encode_request(code: str, limits: Limits, session: bool = False) -> bytes:
    source = code.encode("utf-8", "surrogatepass")
    return (
        _REQUEST.pack(limits.timeout_s, limits.memory_mb, limits.file_size_mb, limits.open_files, len(source), session)
        + source
    )


class _Bounds(NamedTuple):
    """A request's limits as the child needs them (`rlimits.Bounds`), without building a pydantic model."""

    timeout_s: float
    memory_mb: int
    file_size_mb: int
    open_files: int


def _receive(fd: int) -> tuple[str, _Bounds, bool]:
    timeout_s, memory_mb, file_size_mb, open_files, size, session = _REQUEST.unpack(read_exact(fd, _REQUEST.size))
    code = read_exact(fd, size).decode("utf-8", "surrogatepass")
    return code, _Bounds(timeout_s, memory_mb, file_size_mb, open_files), session


@dataclass(frozen=True)
class Confinement:
    """What the server prepared once for every child of one lane."""

    workdir: str
    uid: int | None  # None: keep the server's uid
    keep_capabilities: int
    drop_capabilities: bool  # uid 0 stays: drop every capability
    ruleset_fd: int | None
    seccomp: CompiledFilter | None  # None where pyseccomp is unavailable (reported missing)
    cgroup: ChildCgroup | None


@dataclass(frozen=True)
class Pipes:
    """The child's ends: program output, the request it waits for, where it says it is ready (and, in a
    session, where each block's end is announced) and where its program's end is announced (`runner`)."""

    stdout: int
    stderr: int
    request: int
    status: int
    done: int


def close_all_but(keep: set[int]) -> None:
    low = 0
    for fd in sorted(keep):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)


def _confine(c: Confinement, pipes: Pipes, parent: int) -> None:
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(pipes.stdout, 1)
    os.dup2(pipes.stderr, 2)
    ruleset = [] if c.ruleset_fd is None else [c.ruleset_fd]
    close_all_but({0, 1, 2, pipes.request, pipes.status, pipes.done, *ruleset})
    if c.cgroup is not None:
        adj = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(adj, str(OOM_FIRST).encode())
        finally:
            os.close(adj)
    if c.uid is not None:
        capabilities.become(c.uid, c.keep_capabilities)
    elif c.drop_capabilities:
        capabilities.drop_all()
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        raise RuntimeError("the zygote exited during setup")
    if c.ruleset_fd is not None:
        landlock.restrict_self(c.ruleset_fd)
        os.close(c.ruleset_fd)
    if c.seccomp is not None:
        c.seccomp.apply()


def settle(c: Confinement) -> types.ModuleType:
    """What every child of a lane would do alike, done once by the lane's zygote and inherited: the working
    directory and environment, the request-independent rlimits and the interpreter prepared for a program
    (`runner.prepare`: its `__main__`, streams and compiler). In a copy-on-write child these steps cost a few
    hundred microseconds of page faults (a first ctypes call alone ~0.15 ms), on every program. The zygote itself
    never runs a program, nor execs."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)  # Landlock and seccomp need it; no execve could gain a privilege; inherited
    os.chdir(c.workdir)
    os.environ["HOME"] = os.environ["TMPDIR"] = c.workdir
    rlimits.tighten()
    return prepare()


def main(c: Confinement, pipes: Pipes, parent: int, module: types.ModuleType) -> NoReturn:
    """The child's whole life after fork (from `parent`, the zygote, which `settle`d it: `module` is the program's
    `__main__`). Never returns."""
    try:
        _confine(c, pipes, parent)
        random.seed(0)  # `random` re-seeds itself from urandom after a fork: deterministic again, as `prepare` set it
        os.write(pipes.status, READY)
    except BaseException as exc:  # never run user code half-isolated
        try:
            os.write(pipes.status, f"sandbox setup failed: {exc!r}".encode()[:4000])
        finally:
            os._exit(SETUP_FAILED)
    try:
        code, limits, session = _receive(pipes.request)
        if not session:
            os.close(pipes.request)
            os.close(pipes.status)
        rlimits.apply(limits, cpu=not session)
    except EOFError:
        os._exit(0)  # the server went away, or retired this child unused
    except BaseException as exc:
        os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
        os._exit(SETUP_FAILED)
    if session:
        run_session(pipes.request, pipes.status, module, done_fd=pipes.done)
    run_program(code, module, done_fd=pipes.done)
